"""Load: many concurrent widget conversations against one `kefu serve` process.

N websocket clients each run scripted multi-turn dialogues (English and Chinese, greetings,
FAQs and the order forms that end in custom actions) for a fixed time, pausing between
turns like people do. Afterwards every conversation's transcript is read back from Redis and
checked against what the clients were acked and shown. Prints one JSON line.

    .venv/bin/python benchmarks/load.py                       # own server, 500 conversations, 60 s
    .venv/bin/python benchmarks/load.py --conversations 50 --seconds 10
    .venv/bin/python benchmarks/load.py --url ws://127.0.0.1:8000/ws --redis-url redis://127.0.0.1:6379/0

Without ``--url`` it starts its own stack in a temporary folder: an embedded Redis, the
rasa-sdk action server (fresh demo order database) and ``kefu serve`` with ``models/default``
(trained first when missing). The server keeps its default limits: clients pace themselves
(think time) well under the per-connection rate limit, and spread over loopback source
addresses (127.0.0.2, 127.0.0.3, ...) so no address holds more than ``--per-address``
connections, as customers behind a few shared NATs would. All traffic stays on 127.0.0.0/8.

Keys: ``turns_per_s``, latency percentiles of a turn (message sent -> ``typing off``),
``errors`` (error frames, timeouts, dropped connections), ``lost`` (acked customer messages
missing from the transcript, plus stored bot messages the client was never sent),
``duplicated`` (a client message id stored twice, or a frame delivered twice),
``server_rss_mb`` (peak; the server process and its NLU process together), and the server's
own NLU figures from ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from actions.local_server import LocalActionServer  # noqa: E402
from bot.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from bot.launcher import archiver_process  # noqa: E402

# Scripted dialogues: (language, customer turns). Button payloads are sent as the widget
# sends them. The order forms end in custom actions on the action server.
SCRIPTS: list[tuple[str, list[str]]] = [
    ("en", ["hello", "where is my order", "ORD-10003", "thank you", "bye"]),
    ("en", ["hi there", "I want to cancel my order", "ORD-10005", "/deny", "thanks, bye"]),
    ("en", ["I need to change my shipping address", "ORD-10007", "12 Main Street, Springfield", "thank you"]),
    ("en", ["how long does delivery take", "which payment methods do you accept", "I need an invoice", "/thank_you"]),
    ("en", ["what is your refund policy", "I want my money back", "how do I reset my password", "goodbye"]),
    ("zh", ["你好", "我的订单到哪了", "ORD-10002", "谢谢", "再见"]),
    ("zh", ["我的退款到哪了", "ORD-10004", "好的，多谢"]),
    ("zh", ["你们能寄到国外吗", "大概要多少天能到", "怎么开发票", "谢谢"]),
]

TURN_TIMEOUT_S = 30.0


@dataclass
class ConversationLog:
    """What one client saw of one conversation, for checking against the transcript."""

    conversation_id: str
    acked: dict[str, str] = field(default_factory=dict)  # client message id -> event id
    bot_event_ids: list[str] = field(default_factory=list)


@dataclass
class LoadStats:
    latencies_ms: list[float] = field(default_factory=list)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (finished at, latency ms)
    # The same latencies split by what answered: the action server (custom actions, forms) or not.
    latencies_by_kind: dict[str, list[float]] = field(default_factory=lambda: {"action": [], "no_action": []})
    errors: Counter[str] = field(default_factory=Counter)
    replies_by_source: Counter[str] = field(default_factory=Counter)
    duplicate_frames: int = 0
    conversations: list[ConversationLog] = field(default_factory=list)
    first_turn_at: float | None = None
    last_turn_at: float = 0.0


# -- the stack under test ---------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        # Counted after the ")" that ends the command name (which may hold spaces).
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants: the server and the NLU process it spawned."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` and its descendants in MB, or None when it is gone."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            if member == pid:
                return None
    return total / 1024


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` and its descendants (all threads) so far, or None
    when it is gone."""
    if _stat_fields(pid) is None:
        return None
    # Fields 14 and 15 of proc(5): utime, stime.
    return sum(int(f[11]) + int(f[12]) for m in process_tree(pid) if (f := _stat_fields(m))) / os.sysconf("SC_CLK_TCK")


def ensure_default_model(model: Path) -> None:
    """Train the default bot into ``model`` when it has no config.json (minutes, 2 threads)."""
    if (model / "config.json").is_file():
        return
    print(f"load: no model in {model}; training the default bot first", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "bot.cli", "train", "--out", str(model), "--threads", "2"],
                   cwd=REPO_ROOT, check=True)


class LocalStack:
    """What ``kefu run`` starts, in ``workdir``: embedded Redis, action server, the archiver
    (its own process, unless ``archiver_in_server``) and ``kefu serve``; stops them on exit."""

    def __init__(self, workdir: Path, *, model: Path, project: Path, env: dict[str, str] | None = None,
                 archiver_in_server: bool = False) -> None:
        self.workdir = workdir
        self.archiver_in_server = archiver_in_server
        self.archiver: subprocess.Popen[bytes] | None = None
        self._archiver_context: Any = None
        self.model = model
        self.project = project
        self.env = env or {}
        self.port = free_port()
        self.redis = EmbeddedRedis(workdir / "redis")
        self.actions = LocalActionServer(orders_db=workdir / "orders.sqlite3", log_path=workdir / "actions.log")
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int | None:
        return self.server.pid if self.server else None

    def __enter__(self) -> "LocalStack":
        self.redis.start()
        try:
            self.actions.start()
            self._start_server()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_server(self) -> None:
        env = {**os.environ, "KEFU_SECRET": secrets.token_hex(16), "KEFU_VAR_DIR": str(self.workdir),
               "PYTHONPATH": str(REPO_ROOT), **self.env}
        if not self.archiver_in_server:
            self._archiver_context = archiver_process(self.redis.local_url, var_dir=self.workdir, env=env)
            self.archiver = self._archiver_context.__enter__()
            env["KEFU_ARCHIVER"] = "0"
        command = [sys.executable, "-m", "bot.cli", "serve", "--model", str(self.model), "--project", str(self.project),
                   "--port", str(self.port), "--redis-url", self.redis.local_url,
                   "--action-endpoint", self.actions.webhook_url, "--log-level", "warning"]
        with open(self.workdir / "server.log", "ab") as log:
            self.server = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log,
                                           start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"kefu serve exited; see {self.workdir / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("kefu serve did not become healthy in 120 s")

    def __exit__(self, *exc: object) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self._archiver_context is not None:
            self._archiver_context.__exit__(None, None, None)
        self.actions.stop()
        self.redis.stop()


# -- one customer -------------------------------------------------------------------------
def source_address(index: int, per_address: int, server_host: str) -> tuple[str, int] | None:
    """A loopback source address for client ``index`` (127.0.0.2 upwards), or None when the
    server is not on loopback (then the OS picks)."""
    try:
        if not ipaddress.ip_address(server_host).is_loopback or ipaddress.ip_address(server_host).version != 4:
            return None
    except ValueError:
        if server_host != "localhost":
            return None
    return (str(ipaddress.IPv4Address("127.0.0.2") + index // per_address), 0)


async def run_turn(ws: Any, text: str, message_id: str, log: ConversationLog, stats: LoadStats) -> bool:
    """Send one customer message and read until the turn's ``typing off``; False on an error."""
    started = time.monotonic()
    await ws.send(json.dumps({"type": "user", "id": message_id, "text": text}, ensure_ascii=False))
    seen = set(log.bot_event_ids)
    sources: set[str] = set()
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), TURN_TIMEOUT_S))
        kind = frame.get("type")
        if kind == "ack":
            log.acked[frame["id"]] = frame["event_id"]
        elif kind == "bot":
            if frame["event_id"] in seen:
                stats.duplicate_frames += 1
            seen.add(frame["event_id"])
            log.bot_event_ids.append(frame["event_id"])
            stats.replies_by_source[frame.get("source", "?")] += 1
            sources.add(frame.get("source", "?"))
        elif kind == "error":
            stats.errors[frame.get("code", "?")] += 1
            return False
        elif kind == "typing" and frame.get("on") is False:
            now = time.monotonic()
            stats.latencies_ms.append((now - started) * 1000)
            stats.timeline.append((now, (now - started) * 1000))
            stats.latencies_by_kind["action" if "action" in sources else "no_action"].append((now - started) * 1000)
            stats.first_turn_at = stats.first_turn_at or started
            stats.last_turn_at = max(stats.last_turn_at, now)
            return True


async def customer(index: int, url: str, deadline: float, think_s: float, per_address: int,
                   stats: LoadStats, rng: random.Random, *, compression: str | None = "deflate") -> None:
    """Run scripted conversations one after another until ``deadline``."""
    local_addr = source_address(index, per_address, urlparse(url).hostname or "")
    # proxy=None: never through a proxy from the environment; this traffic stays on loopback.
    extra: dict[str, Any] = {"compression": compression, "proxy": None}
    if local_addr:
        extra["local_addr"] = local_addr
    # Customers arrive over the first think time, not all in the same millisecond.
    await asyncio.sleep(rng.uniform(0, think_s))
    while time.monotonic() < deadline:
        language, turns = rng.choice(SCRIPTS)
        try:
            async with connect(url, open_timeout=TURN_TIMEOUT_S, **extra) as ws:
                await ws.send(json.dumps({"type": "hello", "lang": language}))
                welcome = json.loads(await asyncio.wait_for(ws.recv(), TURN_TIMEOUT_S))
                if welcome.get("type") != "welcome":
                    stats.errors[f"hello:{welcome.get('code', welcome.get('type'))}"] += 1
                    await asyncio.sleep(think_s)
                    continue
                log = ConversationLog(welcome["conversation_id"])
                stats.conversations.append(log)
                for number, text in enumerate(turns):
                    if time.monotonic() >= deadline:
                        break
                    if not await run_turn(ws, text, f"c{index}-{number}", log, stats):
                        break
                    # Think time: uniform around the mean, so turns do not fall into lockstep.
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
        except Exception as exc:  # refused, timed out, dropped: counted, and the customer retries
            stats.errors[f"connection:{type(exc).__name__}"] += 1
            await asyncio.sleep(think_s)


# -- checking the transcript --------------------------------------------------------------
def is_fallback_replay(events: list[tuple[str, dict[str, Any]]], position: int) -> bool:
    """The two-stage fallback re-appends a confirmed message after ``rewind`` events (as Rasa
    does): a copy of the customer's message by the bot, not a second customer message."""
    return (position >= 2 and events[position][1].get("event") == "user"
            and events[position - 1][1].get("event") == "action"
            and events[position - 2][1].get("event") == "rewind")


async def check_transcripts(redis_url: str, prefix: str, logs: list[ConversationLog]) -> dict[str, int]:
    """Compare each client's view with its conversation's Redis stream."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    lost_customer = lost_bot = duplicated = 0
    try:
        for log in logs:
            rows = await client.xrange(f"{prefix}conv:{log.conversation_id}:events")
            stored_ids: Counter[str] = Counter()
            stored_event_of: dict[str, str] = {}
            bot_ids = []
            events = [(event_id, json.loads(fields["e"])) for event_id, fields in rows]
            for position, (event_id, event) in enumerate(events):
                if is_fallback_replay(events, position):
                    continue
                if event.get("event") == "user" and event.get("message_id"):
                    stored_ids[event["message_id"]] += 1
                    stored_event_of.setdefault(event["message_id"], event_id)
                elif event.get("event") == "bot":
                    bot_ids.append(event_id)
            duplicated += sum(count - 1 for count in stored_ids.values() if count > 1)
            lost_customer += sum(1 for mid, eid in log.acked.items() if stored_event_of.get(mid) != eid)
            shown = set(log.bot_event_ids)
            lost_bot += sum(1 for event_id in bot_ids if event_id not in shown)
    finally:
        await client.aclose()
    return {"lost_customer": lost_customer, "lost_bot": lost_bot, "duplicated_stored": duplicated}


def server_metrics(http_base: str) -> dict[str, Any]:
    """NLU time and batch sizes from the server's Prometheus text."""
    try:
        text = httpx.get(f"{http_base}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    values: dict[str, float] = {}
    buckets: dict[str, float] = {}
    turn_buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("kefu_nlu_batch_size_bucket"):
            buckets[name.split('le="')[1].rstrip('"}')] = float(value)
        if name.startswith("kefu_gc_pause_seconds_sum"):
            generation = name.split('generation="')[1].split('"')[0]
            values[f"gc_pause_seconds_sum_{generation}"] = float(value)
        if name.startswith("kefu_gc_pause_seconds_count"):
            generation = name.split('generation="')[1].split('"')[0]
            values[f"gc_pause_count_{generation}"] = float(value)
        if name.startswith("kefu_turn_seconds_bucket"):
            turn_buckets.append((float(name.split('le="')[1].rstrip('"}')), float(value)))
        values[name] = float(value)
    result: dict[str, Any] = {}
    if turn_buckets and turn_buckets[-1][1]:
        # The server's own view of a turn (lock to last event, no network or client): the
        # bucket bound each quantile falls under, to see how much of the latency is the server's.
        total = turn_buckets[-1][1]
        for q in (50, 99):
            bound = next(le for le, count in turn_buckets if count >= total * q / 100)
            result[f"server_turn_p{q}_ms_at_most"] = round(bound * 1000, 1) if bound != float("inf") else None
    for generation in ("0", "1", "2"):
        if values.get(f"gc_pause_count_{generation}"):
            result[f"server_gc{generation}_collections"] = int(values[f"gc_pause_count_{generation}"])
            result[f"server_gc{generation}_ms_total"] = round(1000 * values[f"gc_pause_seconds_sum_{generation}"], 1)
    if values.get("kefu_nlu_seconds_count"):
        result["nlu_ms_mean"] = round(1000 * values["kefu_nlu_seconds_sum"] / values["kefu_nlu_seconds_count"], 2)
        result["nlu_parses"] = int(values["kefu_nlu_seconds_count"])
    if values.get("kefu_nlu_batch_size_count"):
        result["nlu_batches"] = int(values["kefu_nlu_batch_size_count"])
        result["nlu_batch_size_mean"] = round(values["kefu_nlu_batch_size_sum"] / values["kefu_nlu_batch_size_count"], 2)
        result["nlu_batch_size_cumulative"] = {le: int(n) for le, n in buckets.items()}
    return result


async def redis_calls(redis_url: str) -> Counter[str]:
    """Calls Redis has served so far, by command (commands run inside scripts included)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


async def run_load(args: argparse.Namespace, url: str, redis_url: str, server_pid: int | None,
                   archiver_pid: int | None = None) -> dict[str, Any]:
    stats = LoadStats()
    peak_rss: list[float] = []

    async def sample_rss() -> None:
        while server_pid is not None:
            value = rss_mb(server_pid)
            if value is not None:
                peak_rss.append(value)
            await asyncio.sleep(0.5)

    # The load generator's own garbage collector must not pause the clock: with thousands of
    # finished conversations kept for the transcript check, its full collections took
    # longer and longer as the run went on and showed up as "latency".
    if os.environ.get("LOAD_GC", "off") == "off":
        gc.collect()
        gc.freeze()
        gc.disable()
    sampler = asyncio.create_task(sample_rss())
    server_cpu_start = cpu_seconds(server_pid) if server_pid else None
    archiver_cpu_start = cpu_seconds(archiver_pid) if archiver_pid else None
    client_cpu_start = time.process_time()
    redis_calls_start = await redis_calls(redis_url)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    compression = None if args.compression == "none" else args.compression
    customers = [customer(i, url, deadline, args.think_s, args.per_address, stats, random.Random(rng.random()),
                          compression=compression)
                 for i in range(args.conversations)]
    await asyncio.gather(*customers)
    sampler.cancel()
    server_cpu = cpu_seconds(server_pid) if server_pid else None
    archiver_cpu = cpu_seconds(archiver_pid) if archiver_pid else None
    client_cpu = time.process_time() - client_cpu_start
    redis_calls_made = await redis_calls(redis_url) - redis_calls_start
    redis_commands = sum(redis_calls_made.values())
    # Script calls are round trips; what runs inside them costs Redis, not the server.
    redis_scripts = redis_calls_made["evalsha"] + redis_calls_made["eval"]
    checks = await check_transcripts(redis_url, args.redis_prefix, stats.conversations)
    latencies = sorted(stats.latencies_ms)
    elapsed = (stats.last_turn_at - stats.first_turn_at) if stats.first_turn_at else 0.0
    parsed = urlparse(url)
    http_base = f"{'https' if parsed.scheme == 'wss' else 'http'}://{parsed.netloc}"
    return {
        "conversations": args.conversations,
        "seconds": args.seconds,
        "think_s": args.think_s,
        "turns": len(latencies),
        "turns_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        # p99 of each tenth of the run: a slow start (or a slow drift) shows here.
        "p99_ms_by_tenth": [round(percentile(sorted(ms for at, ms in stats.timeline if lo <= at < lo + (elapsed or 1) / 10), 0.99), 1)
                            for lo in [stats.first_turn_at + i * (elapsed or 1) / 10 for i in range(10)]]
                           if stats.first_turn_at else [],
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        **{f"p{q}_ms_{kind}_turns": round(percentile(sorted(values), q / 100), 1)
           for kind, values in stats.latencies_by_kind.items() if values for q in (50, 99)},
        "errors": sum(stats.errors.values()),
        "errors_by_kind": dict(stats.errors),
        "lost": checks["lost_customer"] + checks["lost_bot"],
        "duplicated": checks["duplicated_stored"] + stats.duplicate_frames,
        **checks,
        "conversations_started": len(stats.conversations),
        "replies_by_source": dict(stats.replies_by_source),
        "server_rss_mb": round(max(peak_rss), 1) if peak_rss else None,
        # CPU per turn does not depend on what else runs on the machine, unlike latency.
        "server_cpu_ms_per_turn": (round(1000 * (server_cpu - server_cpu_start) / len(latencies), 2)
                                   if latencies and server_cpu is not None and server_cpu_start is not None else None),
        # A separate archiver's share, so the whole server side's CPU is on record.
        "archiver_cpu_ms_per_turn": (round(1000 * (archiver_cpu - archiver_cpu_start) / len(latencies), 2)
                                     if latencies and archiver_cpu is not None and archiver_cpu_start is not None
                                     else None),
        "archiver_rss_mb": round(rss_mb(archiver_pid) or 0, 1) if archiver_pid else None,
        "client_cpu_ms_per_turn": round(1000 * client_cpu / len(latencies), 2) if latencies else None,
        "redis_commands_per_turn": round(redis_commands / len(latencies), 2) if latencies else None,
        "redis_script_calls_per_turn": round(redis_scripts / len(latencies), 2) if latencies else None,
        "redis_top_commands_per_turn": {name: round(n / len(latencies), 2) for name, n in redis_calls_made.most_common(8)}
                                       if latencies else {},
        **server_metrics(http_base),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500, help="concurrent customers (default 500)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long customers keep starting turns (default 60)")
    parser.add_argument("--url", help="websocket URL of a running server (default: start our own stack)")
    parser.add_argument("--redis-url", help="that server's Redis, for checking transcripts (needed with --url)")
    parser.add_argument("--redis-prefix", default="kefu:", help="that server's KEFU_REDIS_PREFIX (default kefu:)")
    parser.add_argument("--server-pid", type=int, help="that server's pid, to sample its memory")
    parser.add_argument("--think-s", type=float, default=2.0,
                        help="mean pause between a reply and the next message, seconds (default 2.0)")
    parser.add_argument("--per-address", type=int, default=25,
                        help="customers per loopback source address (default 25; the server allows 50)")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate",
                        help="websocket compression the clients offer (browsers offer deflate; default)")
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "default", help="model for our own server")
    parser.add_argument("--project", type=Path, default=REPO_ROOT / "dialogues", help="Rasa project for our own server")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for our own server (repeatable), e.g. KEFU_ARCHIVER=0")
    parser.add_argument("--archiver", choices=["process", "in-server"], default="process",
                        help="our own stack's transcript archiver: its own process, as `kefu run` and compose "
                             "run it (default), or inside `kefu serve`")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.conversations < 1 or args.seconds <= 0:
        parser.error("--conversations and --seconds must be positive")
    if args.url:
        if not args.redis_url:
            parser.error("--url needs --redis-url (the transcripts are checked in Redis)")
        result = asyncio.run(run_load(args, args.url, args.redis_url, args.server_pid))
    else:
        ensure_default_model(args.model)
        try:
            server_env = dict(item.split("=", 1) for item in args.server_env)
        except ValueError:
            parser.error("--server-env takes NAME=VALUE")
        with tempfile.TemporaryDirectory(prefix="kefu-load-") as tmp, \
                LocalStack(Path(tmp), model=args.model, project=args.project, env=server_env,
                           archiver_in_server=args.archiver == "in-server") as stack:
            args.redis_prefix = "kefu:"
            archiver_pid = stack.archiver.pid if stack.archiver else None
            result = asyncio.run(run_load(args, stack.ws_url, stack.redis.url, stack.pid, archiver_pid))
        result["archiver"] = args.archiver
    if args.server_env:
        result["server_env"] = args.server_env
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()

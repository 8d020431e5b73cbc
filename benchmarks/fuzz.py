"""Fuzz: tens of thousands of hostile websocket frames against one `kefu serve` process.

Several connections (two per loopback address) send seeded random frames in bursts: text that is not JSON, JSON that is not a frame, frames with wrong types and missing
fields, unknown frame types, deep nesting, control and invisible characters, oversized
messages, binary frames, floods of well-formed messages, and now and then invalid UTF-8 in a text frame or a frame over the
websocket layer's 1 MiB cap (those two close that connection, by design; it reconnects).
After each burst a ``ping`` must come back as ``pong``, and everything in between must be a
documented server frame; an ``error`` must carry a documented code other than ``internal``.
Finally a connection flood from one address checks the per-address connection cap.

    .venv/bin/python benchmarks/fuzz.py                    # own server, 12,000 frames
    .venv/bin/python benchmarks/fuzz.py --frames 50000 --connections 16
    .venv/bin/python benchmarks/fuzz.py --url ws://127.0.0.1:8000/ws --server-pid PID

Prints one JSON line: ``frames``, ``errors_by_code``, ``closes_by_code``, ``crashes`` (an
``internal`` error, an undocumented reply, a missing pong, an unexpected close),
``server_alive``, ``connections_refused`` and ``server_rss_mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from load import LocalStack, ensure_default_model, rss_mb  # noqa: E402

SERVER_FRAME_TYPES = {"welcome", "ack", "user", "bot", "typing", "token", "handoff", "csat_request", "csat_ack",
                      "pong", "error"}
DOCUMENTED_CODES = {"bad_json", "bad_frame", "unknown_type", "empty_message", "too_large", "not_ready",
                    "rate_limited", "unavailable", "busy"}
# Close codes a hostile frame may earn: invalid UTF-8 (1007), over the 1 MiB cap (1009).
EXPECTED_CLOSES = {1007, 1009}
PONG_TIMEOUT_S = 30.0

NASTY = ["\x00", "\x07", "\x1b", "\u200b", "\u202e", "\ufeff", "\n", "\t", "\ud7ff", "订", "单", "😀", "/", '"', "\\",
         "{", "}", "[", "]"]
FIELDS = ["type", "id", "text", "title", "score", "conversation_id", "token", "last_event_id", "lang"]
TYPES = ["hello", "user", "csat", "ping", "HELLO", "", "bot", "welcome", "ack", None, 7, [], {}]


class FrameMaker:
    """Seeded random hostile frames: ``("text", str)``, ``("binary", bytes)`` or
    ``("raw-text", bytes)`` (bytes sent with the text opcode, usually not UTF-8)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self, max_len: int = 60) -> str:
        rng = self.rng
        return "".join(rng.choice(NASTY) if rng.random() < 0.3 else chr(rng.randint(32, 0x2FFF))
                       for _ in range(rng.randint(0, max_len)))

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randint(0, 7 if depth < 3 else 4)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, -1, 2**63, 3.5, 1e308, rng.randint(-10, 10)])
        if kind in (3, 4):
            return self.text()
        if kind == 5:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(FIELDS + [self.text(8)]): self.value(depth + 1) for _ in range(rng.randint(0, 4))}

    def frame(self) -> tuple[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            return "text", self.text(200)
        if roll < 0.30:
            return "text", json.dumps(self.value(), ensure_ascii=rng.random() < 0.5)
        if roll < 0.60:
            frame = {"type": rng.choice(TYPES)}
            frame.update({rng.choice(FIELDS): self.value(1) for _ in range(rng.randint(0, 4))})
            return "text", json.dumps(frame, ensure_ascii=False)
        if roll < 0.75:
            message_id = rng.choice([f"m{rng.randint(0, 10**6)}", "", "x" * 65, "bad id!", 5])
            text = self.text(80) if rng.random() < 0.7 else self.value(1)  # mostly real messages: turns, floods
            return "text", json.dumps({"type": "user", "id": message_id, "text": text}, ensure_ascii=False)
        if roll < 0.80:
            return "text", json.dumps({"type": "csat", "score": rng.choice([0, 1, 3, 5, 6, "5", 4.5, True, None])})
        if roll < 0.84:
            return "text", "[" * rng.randint(500, 20_000)
        if roll < 0.88:
            size = rng.randint(16 * 1024, 200 * 1024)
            return "text", json.dumps({"type": "user", "id": "big", "text": "x" * size})
        if roll < 0.97:
            return "binary", rng.randbytes(rng.randint(0, 512))
        if roll < 0.985:
            return "raw-text", b'{"type": "user", "id": "u", "text": "' + rng.randbytes(8) + b'\xff"}'
        return "text", json.dumps({"type": "user", "id": "giant", "text": "y" * (1024 * 1024 + 10)})

    def burst(self, size: int) -> list[tuple[str, Any]]:
        """``size`` frames; one burst in twenty is a flood of well-formed customer messages."""
        if self.rng.random() < 0.05:
            return [("text", json.dumps({"type": "user", "id": f"f{self.rng.randint(0, 10**9)}",
                                         "text": self.rng.choice(["hello", "where is my order", "谢谢"])}))
                    for _ in range(size)]
        return [self.frame() for _ in range(size)]


class FuzzStats:
    def __init__(self) -> None:
        self.frames = 0
        self.errors_by_code: Counter[str] = Counter()
        self.closes_by_code: Counter[str] = Counter()
        self.crashes: list[str] = []

    def judge(self, reply: dict[str, Any]) -> None:
        kind = reply.get("type") if isinstance(reply, dict) else None
        if kind not in SERVER_FRAME_TYPES:
            self.crashes.append(f"undocumented reply: {str(reply)[:200]}")
        elif kind == "error":
            code = str(reply.get("code"))
            self.errors_by_code[code] += 1
            if code not in DOCUMENTED_CODES:
                self.crashes.append(f"error code {code}: {reply.get('message')}")


async def fuzz_connection(url: str, address: str, frames: int, rng: random.Random, stats: FuzzStats,
                          origin: str | None) -> None:
    """Send ``frames`` hostile frames from ``address`` in bursts, checking after each burst."""
    maker = FrameMaker(rng)
    sent = 0
    while sent < frames:
        try:
            async with connect(url, local_addr=(address, 0), proxy=None, origin=origin, max_size=None,
                               open_timeout=PONG_TIMEOUT_S) as ws:
                if rng.random() < 0.8:
                    await ws.send(json.dumps({"type": "hello"}))
                while sent < frames:
                    burst = maker.burst(min(rng.randint(1, 30), frames - sent))
                    for kind, payload in burst:
                        await ws.send(payload, text=True if kind == "raw-text" else None)
                        sent += 1
                        stats.frames += 1
                    await ws.send(json.dumps({"type": "ping"}))
                    while True:
                        reply = json.loads(await asyncio.wait_for(ws.recv(), PONG_TIMEOUT_S))
                        stats.judge(reply)
                        if reply.get("type") == "pong":
                            break
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            stats.closes_by_code[str(code)] += 1
            if code not in EXPECTED_CLOSES:
                stats.crashes.append(f"connection closed with {code}")
        except TimeoutError:
            stats.crashes.append("no pong within the timeout")
        except InvalidStatus as refused:
            stats.crashes.append(f"handshake refused: {refused.response.status_code}")


async def connection_flood(url: str, address: str, attempts: int, origin: str | None) -> tuple[int, int]:
    """Open ``attempts`` connections at once from one address; returns (accepted, refused)."""
    opened, refused = [], 0
    for _ in range(attempts):
        try:
            opened.append(await connect(url, local_addr=(address, 0), proxy=None, origin=origin))
        except InvalidStatus:
            refused += 1
    for ws in opened:
        await ws.close()
    return len(opened), refused


async def run_fuzz(args: argparse.Namespace, url: str, server_pid: int | None) -> dict[str, Any]:
    stats = FuzzStats()
    rng = random.Random(args.seed)
    started = time.monotonic()
    per_connection = -(-args.frames // args.connections)
    await asyncio.gather(*(
        # Two connections per address, so floods meet the per-address limit as well.
        fuzz_connection(url, f"127.0.1.{index // 2 + 1}", per_connection, random.Random(rng.random()), stats,
                        args.origin)
        for index in range(args.connections)))
    elapsed = time.monotonic() - started
    accepted, refused = await connection_flood(url, "127.0.2.1", args.flood_connections, args.origin)
    http = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rsplit("/ws", 1)[0]
    try:
        alive = httpx.get(f"{http}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        alive = False
    if server_pid is not None:
        alive = alive and rss_mb(server_pid) is not None
    return {
        "frames": stats.frames,
        "connections": args.connections,
        "seconds": round(elapsed, 1),
        "frames_per_s": round(stats.frames / elapsed, 1) if elapsed else None,
        "errors_by_code": dict(stats.errors_by_code.most_common()),
        "closes_by_code": dict(stats.closes_by_code),
        "crashes": len(stats.crashes),
        "crash_examples": stats.crashes[:5],
        "server_alive": alive,
        "flood_connections": args.flood_connections,
        "connections_accepted": accepted,
        "connections_refused": refused,
        "server_rss_mb": round(rss_mb(server_pid) or 0, 1) if server_pid else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12_000, help="hostile frames to send (default 12000)")
    parser.add_argument("--connections", type=int, default=8, help="connections sending at once (default 8)")
    parser.add_argument("--flood-connections", type=int, default=60,
                        help="connections opened at once from one address at the end (default 60; the cap is 50)")
    parser.add_argument("--url", help="websocket URL of a running server (default: start our own stack)")
    parser.add_argument("--server-pid", type=int, help="that server's pid, to check it is still alive")
    parser.add_argument("--origin", help="Origin header to send (needed when the server has KEFU_ALLOWED_ORIGINS)")
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "default", help="model for our own server")
    parser.add_argument("--project", type=Path, default=REPO_ROOT / "dialogues", help="Rasa project for our own server")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.frames < 1 or args.connections < 1:
        parser.error("--frames and --connections must be positive")
    if args.url:
        result = asyncio.run(run_fuzz(args, args.url, args.server_pid))
    else:
        ensure_default_model(args.model)
        with tempfile.TemporaryDirectory(prefix="kefu-fuzz-") as tmp, \
                LocalStack(Path(tmp), model=args.model, project=args.project) as stack:
            result = asyncio.run(run_fuzz(args, stack.ws_url, stack.pid))
            result["server_log_errors"] = sum(1 for line in open(os.path.join(tmp, "server.log"), errors="replace")
                                              if " ERROR " in line)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()

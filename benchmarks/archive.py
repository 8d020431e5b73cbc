"""Archive benchmark: archiver throughput and inbox query latency; prints one JSON line per database.

    python benchmarks/archive.py                          # SQLite (and PostgreSQL when reachable)
    python benchmarks/archive.py --conversations 2000 --messages 10

Appends ``conversations × messages`` customer messages, each followed by a bot answer, to
an embedded Redis through ``ConversationStore`` (as the server does), then measures:

- ``archive_events_per_s``: how fast one archiver drains the feed into the database
  (redaction, idempotency checks, aggregates, full-text index included);
- ``inbox_ms``: the first inbox page, newest first; ``filtered_ms``: intent + fell-back
  filter; ``search_ms`` / ``search_zh_ms``: full-text search for an English word and a
  two-character Chinese word (each the median of 20 runs).

PostgreSQL runs against 127.0.0.1:5432 in a throw-away database ``kefu_bench_<random>``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bot.archive import inbox  # noqa: E402
from bot.archive.archiver import Archiver  # noqa: E402
from bot.archive.db import ArchiveDatabase  # noqa: E402
from bot.archive.writer import ArchiveWriter  # noqa: E402
from bot.embedded_redis import EmbeddedRedis  # noqa: E402
from bot.store import ConversationStore  # noqa: E402

PHRASES = ["where is my order {n}", "I want a refund for order {n}", "cancel my order please",
           "how long does delivery take", "my email is user{n}@example.com", "我的订单在哪里", "我要退款",
           "the parcel arrived damaged", "can I change the delivery address", "talk to a person"]
INTENTS = ["track_order", "get_refund", "cancel_order", "delivery_period", "inform", "track_order", "get_refund",
           "complaint", "change_shipping_address", "contact_human_agent"]


def _events(rng: random.Random, messages: int) -> list[dict]:
    events = []
    for _ in range(messages):
        pick = rng.randrange(len(PHRASES))
        confidence = rng.uniform(0.2, 1.0)
        text = PHRASES[pick].format(n=rng.randrange(10**8, 10**9))
        parse = {"text": text, "intent": {"name": INTENTS[pick], "confidence": confidence},
                 "intent_ranking": [{"name": INTENTS[pick], "confidence": confidence}],
                 "entities": [], "sentiment": {"label": rng.choice(["negative", "neutral", "positive"]), "score": 0.8},
                 "language": "zh" if pick in (5, 6) else "en"}
        if confidence < 0.4:
            parse["fallback_from"] = dict(parse["intent"])
            parse["intent"] = {"name": "nlu_fallback", "confidence": confidence}
        events.append({"event": "user", "timestamp": time.time(), "text": text, "parse_data": parse,
                       "message_id": uuid.uuid4().hex})
        events.append({"event": "bot", "timestamp": time.time(), "text": "Thanks, let me check.",
                       "metadata": {"source": "template"}})
    return events


def _median_ms(action, runs: int = 20) -> float:  # type: ignore[no-untyped-def]
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 2)


async def _bench(redis_url: str, database: ArchiveDatabase, conversations: int, messages: int) -> dict:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    store = ConversationStore.from_url(redis_url, prefix=prefix)
    rng = random.Random(0)
    for c in range(conversations):
        await store.append_events(f"conv{c:06d}", _events(rng, messages))
    total = conversations * messages * 2
    archiver = Archiver(store.redis, ArchiveWriter(database), prefix=prefix, batch_size=200, block_ms=10)
    await archiver.ensure_group()
    started = time.perf_counter()
    while await archiver.run_once():
        pass
    seconds = time.perf_counter() - started
    await store.redis.delete(*[k async for k in store.redis.scan_iter(match=f"{prefix}*", count=1000)])
    await store.close()
    assert archiver.stats.archived == total, archiver.stats

    def page(**params: str) -> None:
        inbox.search_conversations(database, inbox.InboxFilters.from_params(params))

    return {
        "database": database.dialect, "events": total, "archive_seconds": round(seconds, 2),
        "archive_events_per_s": round(total / seconds),
        "inbox_ms": _median_ms(lambda: page()),
        "filtered_ms": _median_ms(lambda: page(intent="track_order", fell_back="yes")),
        "search_ms": _median_ms(lambda: page(q="damaged")),
        "search_zh_ms": _median_ms(lambda: page(q="退款")),
    }


def _postgres_database() -> tuple[str, str] | None:
    try:
        import psycopg

        name = f"kefu_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=2) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return name, f"postgresql://postgres@127.0.0.1:5432/{name}"
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite only
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10, help="customer messages per conversation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis_server:
        targets = [("sqlite", f"sqlite:///{tmp}/archive.sqlite3", None)]
        postgres = _postgres_database()
        if postgres:
            targets.append(("postgresql", postgres[1], postgres[0]))
        for _, url, pg_name in targets:
            database = ArchiveDatabase.open(url)
            try:
                print(json.dumps(asyncio.run(_bench(redis_server.url, database, args.conversations, args.messages))))
            finally:
                database.close()
                if pg_name:
                    import psycopg

                    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
                        c.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())

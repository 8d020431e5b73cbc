"""The archiver against real Redis and a real database: exactly once, redacted, and nothing
lost when the database is down, a consumer dies, or the process is killed mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from bot.archive import schema
from bot.archive.archiver import Archiver
from bot.archive.db import ArchiveDatabase
from bot.archive.retention import delete_expired_transcripts
from bot.archive.writer import ArchivedEvent, ArchiveWriter
from bot.store import ConversationStore
from tests.processes import REPO_ROOT
from tests.staff import builders as b


async def drain(archiver: Archiver) -> None:
    """Run rounds until a round finds nothing to do."""
    await archiver.ensure_group()
    while await archiver.run_once():
        pass


def rows(database: ArchiveDatabase, table=schema.events, *where) -> list[dict]:  # type: ignore[no-untyped-def]
    with database.read() as connection:
        return [dict(r) for r in connection.execute(select(table).where(*where)).mappings()]


async def test_every_event_lands_once_redacted_with_aggregates(store: ConversationStore,
                                                                archive_db: ArchiveDatabase) -> None:
    await store.append_events("c1", [
        b.user("hi, I'm jane@example.com", "greet", 0.95),
        b.bot("Hello!"),
        b.user("blorp", "track_order", 0.31, fell_back=True, sentiment="negative"),
        b.bot("Sorry?", "template"),
        b.handoff("waiting"),
        b.handoff("human", "alice"),
        b.bot("Hi, Alice here", "human", agent="alice"),
        b.csat(2),
    ])
    await store.append_events("c2", [b.user("你好", "greet", 0.99, language="zh"), b.bot("您好", "generated", grounding=0.8)])
    archiver = Archiver(store.redis, ArchiveWriter(archive_db), prefix=store.prefix, batch_size=3, block_ms=50)
    await drain(archiver)

    archived = rows(archive_db)
    assert len(archived) == 10 and archiver.stats.archived == 10
    assert "jane@example.com" not in json.dumps(archived)
    assert any(r["text"] == "hi, I'm <EMAIL>" for r in archived)
    (c1,) = rows(archive_db, schema.conversations, schema.conversations.c.id == "c1")
    assert (c1["user_messages"], c1["bot_messages"], c1["fallbacks"]) == (2, 3, 1)
    assert c1["min_confidence"] == pytest.approx(0.31)
    assert (c1["handed_off"], c1["handoff_state"], c1["agent"], c1["csat"]) == (True, "human", "alice", 2)
    assert c1["first_text"] == "hi, I'm <EMAIL>" and c1["last_text"] == "blorp"
    (c2,) = rows(archive_db, schema.conversations, schema.conversations.c.id == "c2")
    assert (c2["language"], c2["handed_off"], c2["handoff_state"]) == ("zh", False, "bot")
    # The fell-back message keeps the intent the model predicted, for staff to correct.
    fell = [r for r in archived if r["fell_back"]]
    assert [(r["intent"], r["text"]) for r in fell] == [("track_order", "blorp")]
    # Nothing is left pending in the group.
    assert (await archiver.lag())["pending"] == 0


def test_a_redelivered_batch_is_written_once(archive_db: ArchiveDatabase) -> None:
    batch = [ArchivedEvent("c1", f"1700000000000-{i}", b.user(f"message {i}")) for i in range(5)]
    writer = ArchiveWriter(archive_db)
    assert writer.write(batch) == 5
    assert writer.write(batch[2:] + [ArchivedEvent("c1", "1700000000001-0", b.user("new one"))]) == 1
    assert len(rows(archive_db)) == 6
    (summary,) = rows(archive_db, schema.conversations)
    assert summary["user_messages"] == 6


def test_a_replayed_message_is_not_a_new_customer_message(sqlite_db: ArchiveDatabase) -> None:
    first = b.user("thanks", "thank_you", 0.5, message_id="m1")
    replay = dict(first, parse_data={**first["parse_data"], "intent": {"name": "thank_you", "confidence": 1.0}})
    ArchiveWriter(sqlite_db).write([ArchivedEvent("c", "1-0", first), ArchivedEvent("c", "1-1", b.action("x")),
                                    ArchivedEvent("c", "1-2", replay)])
    assert [r["kind"] for r in rows(sqlite_db)] == ["user", "action", "user_replay"]
    assert rows(sqlite_db, schema.conversations)[0]["user_messages"] == 1


async def test_while_the_database_is_locked_events_wait_then_arrive(store: ConversationStore, tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite3"
    database = ArchiveDatabase.open(f"sqlite:///{path}", busy_timeout_s=0.2)
    await store.append_events("c1", [b.user(f"m{i}") for i in range(20)])
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the database refuses every other writer
    archiver = Archiver(store.redis, ArchiveWriter(database), prefix=store.prefix, batch_size=8, block_ms=50)
    task = asyncio.create_task(archiver.run())
    try:
        deadline = time.monotonic() + 10
        while archiver.stats.failures < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert archiver.stats.failures >= 2 and archiver.stats.archived == 0
        assert (await archiver.lag())["pending"] == 8  # read, not acked: still owed
        blocker.execute("ROLLBACK")
        deadline = time.monotonic() + 15
        while archiver.stats.archived < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        blocker.close()
    assert archiver.stats.archived == 20 and len(rows(database)) == 20
    assert (await archiver.lag())["pending"] == 0
    database.close()


async def test_entries_of_a_dead_consumer_are_claimed(store: ConversationStore, sqlite_db: ArchiveDatabase) -> None:
    await store.append_events("c1", [b.user(f"m{i}") for i in range(6)])
    live = Archiver(store.redis, ArchiveWriter(sqlite_db), prefix=store.prefix, claim_idle_ms=150, block_ms=50)
    await live.ensure_group()
    # Another consumer takes every entry and dies before acking any.
    taken = await store.redis.xreadgroup(live.group, "crashed-consumer", {live.feed: ">"}, count=100)
    assert len(taken[0][1]) == 6
    assert await live.run_once() == 0  # nothing new, and the entries are not idle long enough
    await asyncio.sleep(0.3)
    await drain(live)
    assert live.stats.claimed == 6 and len(rows(sqlite_db)) == 6
    assert (await live.lag())["pending"] == 0


async def test_acked_feed_entries_are_trimmed(store: ConversationStore, sqlite_db: ArchiveDatabase) -> None:
    await store.append_events("c1", [b.user(f"m{i}") for i in range(5)])
    archiver = Archiver(store.redis, ArchiveWriter(sqlite_db), prefix=store.prefix, batch_size=2, block_ms=50)
    await archiver.ensure_group()
    await archiver.run_once()  # two archived, three not yet read
    assert await archiver.trim_feed() == 2
    assert await store.redis.xlen(archiver.feed) == 3
    await drain(archiver)
    await archiver.trim_feed()
    assert await store.redis.xlen(archiver.feed) == 0 and len(rows(sqlite_db)) == 5


def test_retention_deletes_old_transcripts_but_keeps_corrections(sqlite_db: ArchiveDatabase) -> None:
    from bot.archive import curation, inbox, training

    day = 86400.0
    now = 1_800_000_000.0
    writer = ArchiveWriter(sqlite_db)
    writer.write([ArchivedEvent("old", "1-0", b.user("refund for order", timestamp=now - 40 * day))])
    writer.write([ArchivedEvent("new", "2-0", b.user("refund please", timestamp=now - 2 * day))])
    curation.add_tag(sqlite_db, "old", "billing", author="alice")
    training.correct_message(sqlite_db, "old", "1-0", intent="get_refund", markup=None, author="alice")
    assert delete_expired_transcripts(sqlite_db, retention_days=30, now=now) == 1
    assert [r["id"] for r in rows(sqlite_db, schema.conversations)] == ["new"]
    assert {r["conversation_id"] for r in rows(sqlite_db)} == {"new"}
    assert rows(sqlite_db, schema.tags) == []
    assert len(training.list_corrections(sqlite_db)) == 1
    found = inbox.search_conversations(sqlite_db, inbox.InboxFilters(query="refund"))
    assert [r["id"] for r in found.rows] == ["new"]  # the full-text index forgot the old rows too
    assert delete_expired_transcripts(sqlite_db, retention_days=0, now=now) == 0


def _archived_count(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as connection:
            return int(connection.execute("SELECT count(*) FROM archive_events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


async def test_archiver_killed_mid_stream_then_restarted_loses_and_duplicates_nothing(
        store: ConversationStore, redis_url: str, tmp_path: Path) -> None:
    conversations, per_conversation = 60, 50
    for c in range(conversations):
        await store.append_events(f"conv{c}", [b.user(f"message {i} of {c}") for i in range(per_conversation)])
    total = conversations * per_conversation
    path = tmp_path / "archive.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KEFU_ARCHIVE_URL": f"sqlite:///{path}",
           "KEFU_REDIS_PREFIX": store.prefix, "KEFU_VAR_DIR": str(tmp_path), "KEFU_ARCHIVE_BATCH": "25",
           "KEFU_ARCHIVE_CLAIM_IDLE_MS": "300", "KEFU_SECRET": "test"}
    command = [sys.executable, "-m", "bot.cli", "archiver", "--redis-url", redis_url]
    first = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _archived_count(path) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = _archived_count(path)
    assert 0 < at_kill < total, f"the kill must land mid-stream, got {at_kill} of {total}"

    second = subprocess.run([*command, "--drain"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    with sqlite3.connect(path) as connection:
        count, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT conversation_id || '/' || event_id) FROM archive_events").fetchone()
        per_conv = dict(connection.execute("SELECT id, user_messages FROM archive_conversations").fetchall())
    assert count == distinct == total
    # Aggregates are counted once per event too (a re-written batch would double them).
    assert per_conv == {f"conv{c}": per_conversation for c in range(conversations)}
    pending = await store.redis.xpending(f"{store.prefix}feed", "kefu-archiver")
    assert pending["pending"] == 0


def test_alembic_migrations_upgrade_and_downgrade(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from bot.archive.db import MIGRATIONS_DIR

    database = ArchiveDatabase.open(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        connection.commit()
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    database.upgrade()  # and back up again, idempotently
    database.upgrade()
    assert rows(database, schema.conversations) == []
    database.close()


async def test_a_server_starts_without_its_database_and_archives_once_it_appears(
        store: ConversationStore, tmp_path: Path) -> None:
    from bot.archive.config import ArchiveSettings
    from bot.archive.service import ArchiveService

    blocker = tmp_path / "db"
    blocker.write_text("a file where the database folder should be")
    settings = ArchiveSettings(database_url=f"sqlite:///{blocker / 'archive.sqlite3'}", retention_interval_s=3600)
    await store.append_events("c1", [b.user("hello"), b.bot("hi")])
    service = await ArchiveService.launch(settings, store.redis, prefix=store.prefix)
    try:
        assert service.database is None and service.archiver is None  # still serving, not archiving
        blocker.unlink()  # the database comes back
        deadline = time.monotonic() + 15
        while (service.archiver is None or service.archiver.stats.archived < 2) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert service.database is not None and len(rows(service.database)) == 2
    finally:
        await service.close()

"""The transcript archiver: a Redis consumer group that copies every event into SQL.

The store writes a pointer ``{c: conversation id, i: event id}`` to ``<prefix>feed`` in the
same script as each event. Every archiver (one per ``kefu serve`` process, plus any
``kefu archiver`` worker) reads that feed in one consumer group, so replicas share the work
and each entry goes to one of them. The order of one round:

1. entries this consumer was given but never acked (after a failed commit) come first;
2. every ``claim_interval_s``, entries a dead consumer left pending longer than
   ``claim_idle_ms`` are taken over with ``XAUTOCLAIM``;
3. otherwise new entries are read (``XREADGROUP >``, blocking briefly);
4. the events are fetched from their conversation streams and written in one SQL
   transaction (:class:`ArchiveWriter`, idempotent by event id);
5. only after the commit are the entries acked. A crash between 4 and 5 makes another
   consumer write them again, which the writer turns into a no-op.

If Redis or the database is down, the round fails, nothing is acked, and the archiver
retries with a growing pause (up to 5 s): events wait in the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from bot.archive.writer import ArchivedEvent, ArchiveWriter

log = logging.getLogger(__name__)


def consumer_name() -> str:
    """A name unique to this process: host, pid and a random tail (pids are reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class ArchiverStats:
    """Counters for logs, tests and the admin page."""

    rounds: int = 0
    archived: int = 0
    duplicates: int = 0
    missing: int = 0
    claimed: int = 0
    failures: int = 0
    last_error: str | None = None
    last_success_at: float | None = None


class Archiver:
    """Consumes ``<prefix>feed`` into the archive. ``await run()`` until cancelled."""

    def __init__(
        self,
        client: aioredis.Redis,
        writer: ArchiveWriter,
        *,
        prefix: str,
        group: str = "kefu-archiver",
        consumer: str | None = None,
        batch_size: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        claim_interval_s: float | None = None,
        linger_s: float = 0.2,
    ) -> None:
        self.client = client
        self.writer = writer
        self.prefix = prefix
        self.feed = f"{prefix}feed"
        self.group = group
        self.consumer = consumer or consumer_name()
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.claim_interval_s = claim_interval_s if claim_interval_s is not None else max(claim_idle_ms / 2000, 0.2)
        # After a short batch, wait this long so the next one is fuller: every batch is one
        # transaction, and under load hundreds of tiny commits a second cost most of a core.
        self.linger_s = linger_s
        self.stats = ArchiverStats()
        self._next_claim = 0.0
        self._group_ready = False

    async def ensure_group(self) -> None:
        """Create the consumer group at the start of the feed (so nothing before it is missed)."""
        try:
            await self.client.xgroup_create(self.feed, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def run(self) -> None:
        """Archive until cancelled; errors are logged and retried, never raised."""
        delay = 0.2
        while True:
            try:
                if not self._group_ready:
                    await self.ensure_group()
                acked = await self.run_once()
                delay = 0.2
                if 0 < acked < self.batch_size and self.linger_s > 0:
                    await asyncio.sleep(self.linger_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or SQL down, a lock timeout: wait and retry
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self._group_ready = False  # the feed was deleted; recreate the group
                log.warning("archiver round failed (%s); retrying in %.1fs", self.stats.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def run_once(self) -> int:
        """One round (see the module docstring); returns how many entries were acked."""
        self.stats.rounds += 1
        entries = await self._read("0")  # own unacked entries first
        if not entries and time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.claim_interval_s
            entries = await self._claim()
        if not entries:
            entries = await self._read(">", block=True)
        if not entries:
            return 0
        return await self._archive(entries)

    async def _read(self, start: str, *, block: bool = False) -> list[tuple[str, dict[str, str] | None]]:
        response = await self.client.xreadgroup(
            self.group, self.consumer, {self.feed: start}, count=self.batch_size,
            block=self.block_ms if block else None,
        )
        if not response:
            return []
        _, entries = response[0]
        return list(entries)

    async def _claim(self) -> list[tuple[str, dict[str, str] | None]]:
        """Take over entries that a dead (or stuck) consumer has held for too long."""
        result = await self.client.xautoclaim(
            self.feed, self.group, self.consumer, min_idle_time=self.claim_idle_ms,
            start_id="0-0", count=self.batch_size,
        )
        claimed = list(result[1])
        # Entries trimmed from the stream while pending come back as ids to forget.
        deleted = list(result[2]) if len(result) > 2 else []
        if deleted:
            await self.client.xack(self.feed, self.group, *deleted)
        if claimed:
            self.stats.claimed += len(claimed)
            log.info("archiver %s claimed %d entries left by another consumer", self.consumer, len(claimed))
        return claimed

    async def _archive(self, entries: list[tuple[str, dict[str, str] | None]]) -> int:
        feed_ids = [feed_id for feed_id, _ in entries]
        wanted = [(feed_id, fields["c"], fields["i"]) for feed_id, fields in entries
                  if fields and fields.get("c") and fields.get("i")]
        async with self.client.pipeline(transaction=False) as pipe:
            for _, conversation_id, event_id in wanted:
                pipe.xrange(f"{self.prefix}conv:{conversation_id}:events", min=event_id, max=event_id)
            found = await pipe.execute() if wanted else []
        batch: list[ArchivedEvent] = []
        for (_, conversation_id, event_id), rows in zip(wanted, found):
            if not rows:
                # The transcript expired or was deleted before it was archived: nothing left to copy.
                self.stats.missing += 1
                log.warning("event %s of conversation %s is gone from Redis; not archived", event_id, conversation_id[:8])
                continue
            batch.append(ArchivedEvent(conversation_id, event_id, json.loads(rows[0][1]["e"])))
        new = await asyncio.to_thread(self.writer.write, batch) if batch else 0
        await self.client.xack(self.feed, self.group, *feed_ids)
        self.stats.archived += new
        self.stats.duplicates += len(batch) - new
        self.stats.last_success_at = time.time()
        return len(feed_ids)

    async def trim_feed(self) -> int:
        """Delete feed entries every consumer group has acked; returns how many went.

        The store never trims the feed itself, so without this it grows forever. An entry
        still pending anywhere, or not yet delivered to some group, is kept.
        """
        groups = await self.client.xinfo_groups(self.feed)
        if not groups:
            return 0
        keep_from: list[tuple[int, int]] = []
        for group in groups:
            last = str(group.get("last-delivered-id") or "0-0")
            ms, _, seq = last.partition("-")
            boundary = (int(ms), int(seq or 0) + 1)
            if int(group.get("pending") or 0):
                summary = await self.client.xpending(self.feed, group["name"])
                oldest = str(summary.get("min") or last)
                ms, _, seq = oldest.partition("-")
                boundary = min(boundary, (int(ms), int(seq or 0)))
            keep_from.append(boundary)
        ms, seq = min(keep_from)
        return int(await self.client.xtrim(self.feed, minid=f"{ms}-{seq}", approximate=False))

    async def lag(self) -> dict[str, Any]:
        """How far behind the group is: ``{"pending": n, "lag": n | None}`` (Redis 7+ reports lag)."""
        try:
            groups = await self.client.xinfo_groups(self.feed)
        except (RedisError, OSError):
            return {"pending": None, "lag": None}
        for group in groups:
            name = group.get("name")
            if name == self.group:
                return {"pending": group.get("pending"), "lag": group.get("lag")}
        return {"pending": None, "lag": None}

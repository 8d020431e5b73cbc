"""The archive at run time: the database, the archiver task and the retention schedule.

``kefu serve`` opens one :class:`ArchiveService` in its lifespan (the staff pages read
``app.state.archive.database``); ``kefu archiver`` runs one on its own. Both share the
consumer group, so any number of them split the feed between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis

from bot.archive.archiver import Archiver
from bot.archive.config import ArchiveSettings
from bot.archive.db import ArchiveDatabase
from bot.archive.retention import delete_expired_sessions, delete_expired_transcripts
from bot.archive.writer import ArchiveWriter

log = logging.getLogger(__name__)


class ArchiveService:
    """Owns the archive database and, when asked, the archiver and retention tasks."""

    def __init__(self, settings: ArchiveSettings, database: ArchiveDatabase | None, client: aioredis.Redis, *,
                 prefix: str) -> None:
        self.settings = settings
        # None while the database cannot be reached (see :meth:`launch`).
        self.database: ArchiveDatabase | None = database
        self.client = client
        self.prefix = prefix
        self.archiver: Archiver | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, settings: ArchiveSettings, client: aioredis.Redis, *, prefix: str,
                   run_archiver: bool | None = None) -> "ArchiveService":
        """Open (and migrate) the database; start the archiver and retention when
        ``run_archiver`` (default: ``settings.run_in_server``). Raises ``ArchiveError``."""
        database = await asyncio.to_thread(ArchiveDatabase.open, settings.database_url)
        service = cls(settings, database, client, prefix=prefix)
        if settings.run_in_server if run_archiver is None else run_archiver:
            service.start_archiver()
        return service

    @classmethod
    async def launch(cls, settings: ArchiveSettings, client: aioredis.Redis, *, prefix: str) -> "ArchiveService":
        """What ``kefu serve`` calls: like :meth:`open`, but a database that cannot be reached
        does not stop the server. The service keeps retrying in the background (events wait
        in Redis meanwhile) and :attr:`database` stays None until it succeeds."""
        try:
            return await cls.open(settings, client, prefix=prefix)
        except Exception as exc:  # noqa: BLE001 - any failure to open is retried
            log.error("archive database unavailable (%s); retrying in the background", exc)
        service = cls(settings, None, client, prefix=prefix)
        service._tasks.append(asyncio.create_task(service._open_later(), name="kefu-archive-open"))
        return service

    async def _open_later(self) -> None:
        delay = 1.0
        while self.database is None:
            await asyncio.sleep(delay)
            try:
                self.database = await asyncio.to_thread(ArchiveDatabase.open, self.settings.database_url)
            except Exception as exc:  # noqa: BLE001
                log.warning("archive database still unavailable: %s", exc)
                delay = min(delay * 2, 30.0)
        log.info("archive database is back")
        if self.settings.run_in_server:
            self.start_archiver()

    def make_archiver(self) -> Archiver:
        """An archiver on this database, not started (``run_once`` it yourself)."""
        assert self.database is not None, "the archive database is not open"
        writer = ArchiveWriter(self.database, redact=self.settings.redact)
        self.archiver = Archiver(
            self.client, writer, prefix=self.prefix, group=self.settings.consumer_group,
            batch_size=self.settings.batch_size, claim_idle_ms=self.settings.claim_idle_ms,
        )
        return self.archiver

    def start_archiver(self) -> Archiver:
        """Start the archiver and the housekeeping (retention) schedule as tasks."""
        self.make_archiver()
        assert self.archiver is not None
        self._tasks.append(asyncio.create_task(self.archiver.run(), name="kefu-archiver"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="kefu-archive-retention"))
        log.info("archiver %s started (group %s)", self.archiver.consumer, self.settings.consumer_group)
        return self.archiver

    async def _housekeeping(self) -> None:
        """Retention, expired sessions and feed trimming, once per interval across replicas."""
        interval = self.settings.retention_interval_s
        lock = f"{self.prefix}archive:housekeeping"
        while True:
            try:
                # One replica per interval does the work; the others skip it.
                if await self.client.set(lock, str(time.time()), nx=True, ex=interval):
                    await self.run_housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis or SQL trouble: retried on the next tick
                log.warning("archive housekeeping failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(interval)

    async def run_housekeeping(self) -> dict[str, int]:
        """Delete expired transcripts and sessions and trim the acked feed, now."""
        assert self.database is not None, "the archive database is not open"
        transcripts = await asyncio.to_thread(
            delete_expired_transcripts, self.database, retention_days=self.settings.retention_days)
        sessions = await asyncio.to_thread(delete_expired_sessions, self.database)
        trimmed = await self.archiver.trim_feed() if self.archiver else 0
        if transcripts:
            log.info("retention deleted %d transcripts older than %d days", transcripts, self.settings.retention_days)
        return {"transcripts": transcripts, "sessions": sessions, "feed_entries": trimmed}

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.database is not None:
            await asyncio.to_thread(self.database.close)

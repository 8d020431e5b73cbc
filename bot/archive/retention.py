"""Deleting old transcripts from the archive on schedule.

A conversation whose last event is older than the retention period is deleted with its
events, tags and notes. Corrections (approved training data) and the audit log stay.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select

from bot.archive import schema
from bot.archive.db import ArchiveDatabase

# Conversations deleted per transaction, so a big first run never holds the lock for long.
CHUNK = 500


def delete_expired_transcripts(database: ArchiveDatabase, *, retention_days: int, now: float | None = None) -> int:
    """Delete transcripts idle for more than ``retention_days``; returns how many went.

    ``retention_days`` of 0 keeps everything (returns 0).
    """
    if retention_days <= 0:
        return 0
    cutoff = (now if now is not None else time.time()) - retention_days * 86400
    conversations = schema.conversations
    deleted = 0
    while True:
        with database.write() as connection:
            ids = list(connection.scalars(
                select(conversations.c.id).where(conversations.c.last_event_at < cutoff).limit(CHUNK)
            ))
            if not ids:
                return deleted
            # Explicit deletes rather than ON DELETE CASCADE, so SQLite's FTS triggers fire
            # for every event row whatever the foreign-key setting of the connection.
            for table in (schema.events, schema.tags, schema.notes):
                connection.execute(delete(table).where(table.c.conversation_id.in_(ids)))
            connection.execute(delete(conversations).where(conversations.c.id.in_(ids)))
        deleted += len(ids)


def delete_expired_sessions(database: ArchiveDatabase, *, now: float | None = None) -> int:
    """Forget staff sessions past their expiry; returns how many."""
    with database.write() as connection:
        result = connection.execute(
            delete(schema.sessions).where(schema.sessions.c.expires_at < (now if now is not None else time.time()))
        )
        return int(result.rowcount or 0)

"""The audit log: who viewed, exported, corrected or took over what, and when.

Every staff action that reads or changes customer data calls :func:`record`. Rows are
never updated or deleted by Kefu (retention leaves them alone).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, insert, select

from bot.archive import schema
from bot.archive.db import ArchiveDatabase

# The actions written, so the admin page can filter on them.
ACTIONS = (
    "login", "login_failed", "logout", "view", "search", "export", "tag", "untag", "note", "correct",
    "uncorrect", "export_training", "take_over", "reply", "hand_back", "reload_model", "add_user",
    "disable_user", "enable_user", "report",
)


def record(database: ArchiveDatabase, user: str, action: str, target: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """Append one entry. ``action`` must be one of :data:`ACTIONS` (a typo is a bug)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {ACTIONS}")
    with database.write() as connection:
        connection.execute(insert(schema.audit).values(
            at=time.time(), user_name=user[:64], action=action, target=(target or None) and target[:160],
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        ))


def entries(database: ArchiveDatabase, *, user: str | None = None, action: str | None = None,
            limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Newest first: ``(rows, total count)`` for the filters given."""
    query = select(schema.audit)
    count = select(func.count()).select_from(schema.audit)
    if user:
        query = query.where(schema.audit.c.user_name == user)
        count = count.where(schema.audit.c.user_name == user)
    if action:
        query = query.where(schema.audit.c.action == action)
        count = count.where(schema.audit.c.action == action)
    with database.read() as connection:
        rows = [dict(r) for r in connection.execute(
            query.order_by(schema.audit.c.id.desc()).limit(limit).offset(offset)).mappings()]
        total = int(connection.scalar(count) or 0)
    return rows, total

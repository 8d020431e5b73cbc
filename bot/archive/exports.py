"""Transcript exports: CSV (one row per message) and JSONL (one conversation per line).

Both take the inbox filters, so "export what I am looking at" is one link, and both are
generators of text chunks, so a large export streams instead of filling memory.
CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) get a
leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from bot.archive import schema
from bot.archive.db import ArchiveDatabase
from bot.archive.inbox import InboxFilters, apply_filters
from bot.archive.transcript import SHOWN_KINDS, message_from_row

CHUNK = 200
CSV_COLUMNS = ("conversation_id", "event_id", "time", "kind", "text", "intent", "confidence", "fell_back",
               "sentiment", "language", "source", "agent")


def _iso(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat() if timestamp else ""


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _conversation_chunks(database: ArchiveDatabase, filters: InboxFilters, zone: str) -> Iterator[list[dict[str, Any]]]:
    conv = schema.conversations
    query = apply_filters(select(conv), database, filters, zone).order_by(conv.c.last_event_at.desc(), conv.c.id)
    offset = 0
    while True:
        with database.read() as connection:
            rows = [dict(r) for r in connection.execute(query.limit(CHUNK).offset(offset)).mappings()]
        if not rows:
            return
        yield rows
        offset += len(rows)


def _events_of(database: ArchiveDatabase, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    events = schema.events
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    with database.read() as connection:
        for row in connection.execute(
                select(events).where(events.c.conversation_id.in_(ids), events.c.kind.in_(SHOWN_KINDS))
                .order_by(events.c.conversation_id, events.c.stream_ms, events.c.stream_seq)).mappings():
            found[row["conversation_id"]].append(dict(row))
    return found


def transcripts_csv(database: ArchiveDatabase, filters: InboxFilters, *, zone: str = "UTC") -> Iterator[str]:
    """CSV text in chunks: a header, then one row per message of every matching conversation."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for conversations in _conversation_chunks(database, filters, zone):
        buffer.seek(0)
        buffer.truncate()
        events = _events_of(database, [c["id"] for c in conversations])
        for conversation in conversations:
            for row in events[conversation["id"]]:
                message = message_from_row(row)
                writer.writerow([_safe_cell(v) for v in (
                    conversation["id"], message.event_id, _iso(message.timestamp), message.kind, message.text or "",
                    message.intent or "", "" if message.confidence is None else f"{message.confidence:.4f}",
                    "yes" if message.fell_back else "", (message.sentiment or {}).get("label", ""),
                    message.language or "", message.source or message.state or (message.score or ""),
                    message.agent or "",
                )])
        yield buffer.getvalue()


def transcripts_jsonl(database: ArchiveDatabase, filters: InboxFilters, *, zone: str = "UTC") -> Iterator[str]:
    """JSON Lines in chunks: one object per conversation with its summary and messages."""
    for conversations in _conversation_chunks(database, filters, zone):
        events = _events_of(database, [c["id"] for c in conversations])
        lines = []
        for conversation in conversations:
            messages = []
            for row in events[conversation["id"]]:
                message = message_from_row(row)
                item: dict[str, Any] = {"event_id": message.event_id, "time": _iso(message.timestamp),
                                        "kind": message.kind}
                if message.kind == "user":
                    item.update(text=message.text, intent=message.intent, confidence=message.confidence,
                                fell_back=message.fell_back, entities=message.entities,
                                sentiment=message.sentiment, language=message.language)
                elif message.kind == "bot":
                    item.update(text=message.text, source=message.source, utter_action=message.utter_action,
                                agent=message.agent, scores=message.scores or None)
                elif message.kind == "handoff":
                    item.update(state=message.state, agent=message.agent)
                else:
                    item.update(score=message.score)
                messages.append({k: v for k, v in item.items() if v is not None})
            summary = {k: conversation[k] for k in ("id", "user_messages", "bot_messages", "min_confidence",
                                                    "fallbacks", "handed_off", "handoff_state", "csat", "language")}
            summary["started_at"] = _iso(conversation["started_at"])
            summary["last_event_at"] = _iso(conversation["last_event_at"])
            lines.append(json.dumps({**summary, "messages": messages}, ensure_ascii=False) + "\n")
        yield "".join(lines)

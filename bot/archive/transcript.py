"""One archived conversation, shaped for the staff page and the transcript exports.

:func:`load_transcript` returns the summary row, the messages (customer, bot, handoff,
CSAT; every other event with ``all_events=True``), the tags, the notes and the
corrections keyed by event id. Everything in it is already redacted when redaction is on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.archive import schema
from bot.archive.db import ArchiveDatabase

SHOWN_KINDS = ("user", "bot", "handoff", "csat")
# Bot metadata keys that are not generation scores.
_NOT_SCORES = frozenset({"source", "utter_action", "agent", "template_name", "stream_id", "generation"})


@dataclass
class Message:
    """One line of a transcript."""

    event_id: str
    kind: str
    timestamp: float | None
    text: str | None = None
    # The button a customer clicked, when ``text`` is its payload.
    title: str | None = None
    intent: str | None = None
    confidence: float | None = None
    fell_back: bool = False
    # What a correction form starts from: the intent, or the best real guess after a fallback.
    suggested_intent: str | None = None
    ranking: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    sentiment: dict[str, Any] | None = None
    language: str | None = None
    source: str | None = None
    utter_action: str | None = None
    agent: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    # The answer generator's decision and guard scores (``metadata.generation``), when it was asked.
    generation: dict[str, Any] | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    state: str | None = None
    score: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Transcript:
    summary: dict[str, Any]
    messages: list[Message]
    tags: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    corrections: dict[str, dict[str, Any]]


def _scores(metadata: dict[str, Any]) -> dict[str, float]:
    """Numeric scores a generated answer carries (``metadata.scores`` or top-level numbers)."""
    found: dict[str, float] = {}
    nested = metadata.get("scores")
    if isinstance(nested, dict):
        found.update({str(k): float(v) for k, v in nested.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    for key, value in metadata.items():
        if key not in _NOT_SCORES and isinstance(value, (int, float)) and not isinstance(value, bool):
            found[str(key)] = float(value)
    return found


def message_from_row(row: dict[str, Any]) -> Message:
    """A transcript line from an ``archive_events`` row."""
    payload = json.loads(row["payload"])
    message = Message(event_id=row["event_id"], kind=row["kind"], timestamp=row["timestamp"], text=row["text"],
                      payload=payload)
    if row["kind"] in ("user", "user_replay"):
        parse = payload.get("parse_data") or {}
        message.intent = row["intent"]
        message.confidence = row["confidence"]
        message.fell_back = bool(row["fell_back"])
        message.ranking = [r for r in (parse.get("intent_ranking") or [])[:3] if isinstance(r, dict)]
        guesses = [r.get("name") for r in message.ranking if r.get("name") and r.get("name") != "nlu_fallback"]
        message.suggested_intent = guesses[0] if row["intent"] == "nlu_fallback" and guesses else row["intent"]
        message.entities = [e for e in parse.get("entities") or [] if isinstance(e, dict)]
        sentiment = parse.get("sentiment")
        message.sentiment = sentiment if isinstance(sentiment, dict) else None
        message.language = row["language"]
        title = (payload.get("metadata") or {}).get("title")
        message.title = title if isinstance(title, str) and title else None
    elif row["kind"] == "bot":
        metadata = payload.get("metadata") or {}
        message.source = row["source"]
        message.utter_action = metadata.get("utter_action")
        message.agent = metadata.get("agent")
        message.scores = _scores(metadata) if row["source"] == "generated" else {}
        generation = metadata.get("generation")
        message.generation = generation if isinstance(generation, dict) and generation.get("decision") else None
        buttons = (payload.get("data") or {}).get("buttons") or []
        message.buttons = [b for b in buttons if isinstance(b, dict)]
    elif row["kind"] == "handoff":
        message.state = payload.get("state")
        message.agent = payload.get("agent")
    elif row["kind"] == "csat":
        score = payload.get("score")
        message.score = score if isinstance(score, int) else None
    return message


def load_transcript(database: ArchiveDatabase, conversation_id: str, *, all_events: bool = False) -> Transcript | None:
    """The conversation, or None when it is not in the archive."""
    conv, events = schema.conversations, schema.events
    query = select(events).where(events.c.conversation_id == conversation_id)
    if not all_events:
        query = query.where(events.c.kind.in_(SHOWN_KINDS))
    with database.read() as connection:
        summary = connection.execute(select(conv).where(conv.c.id == conversation_id)).mappings().first()
        if summary is None:
            return None
        rows = connection.execute(query.order_by(events.c.stream_ms, events.c.stream_seq)).mappings().all()
        tags = [dict(r) for r in connection.execute(
            select(schema.tags).where(schema.tags.c.conversation_id == conversation_id).order_by(schema.tags.c.tag)
        ).mappings()]
        notes = [dict(r) for r in connection.execute(
            select(schema.notes).where(schema.notes.c.conversation_id == conversation_id).order_by(schema.notes.c.id)
        ).mappings()]
        corrections = {r["event_id"]: dict(r) for r in connection.execute(
            select(schema.corrections).where(schema.corrections.c.conversation_id == conversation_id)
        ).mappings()}
    for correction in corrections.values():
        correction["entities"] = json.loads(correction["entities"])
    return Transcript(dict(summary), [message_from_row(dict(r)) for r in rows], tags, notes, corrections)

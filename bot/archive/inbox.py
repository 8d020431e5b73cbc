"""Finding conversations in the archive: filters, full-text search, paging.

:class:`InboxFilters` is built from query parameters (:meth:`InboxFilters.from_params`,
which ignores nothing silently: a bad value becomes an entry in ``errors``);
:func:`search_conversations` returns one :class:`InboxPage`, newest first.

Full-text search looks in customer and bot messages. SQLite uses the FTS5 ``trigram``
index for words of three or more characters and ``LIKE`` for shorter ones (two Chinese
characters make a common word); PostgreSQL uses ``to_tsvector('simple', …)`` for Latin
words and ``ILIKE`` for Chinese. All words must occur in the same message.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time as dtime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, literal_column, select, text
from sqlalchemy.sql.elements import ColumnElement

from bot.archive import schema
from bot.archive.db import ArchiveDatabase

STATUSES = ("bot", "waiting", "human")
SENTIMENTS = ("negative", "neutral", "positive")
SORTS = ("newest", "oldest", "lowest_confidence")
MAX_QUERY_CHARS = 200
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox shows. Every field is optional; dates are days in the staff time zone."""

    date_from: date | None = None
    date_to: date | None = None
    intent: str | None = None
    max_confidence: float | None = None
    fell_back: bool | None = None
    handed_off: bool | None = None
    csat: int | None = None
    sentiment: str | None = None
    language: str | None = None
    tag: str | None = None
    status: str | None = None
    query: str | None = None
    sort: str = "newest"
    errors: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params: Any) -> "InboxFilters":
        """Parse query parameters (any mapping of str to str); bad values are reported in ``errors``."""
        errors: list[str] = []
        values: dict[str, Any] = {}

        def text_param(name: str, limit: int = 128) -> str | None:
            raw = (params.get(name) or "").strip()
            return raw[:limit] or None

        for name in ("date_from", "date_to"):
            raw = text_param(name, 10)
            if raw:
                try:
                    values[name] = date.fromisoformat(raw)
                except ValueError:
                    errors.append(f"{name}: expected a date like 2025-01-31")
        for name in ("intent", "tag", "language"):
            values[name] = text_param(name, 64)
        raw = text_param("max_confidence", 8)
        if raw:
            try:
                values["max_confidence"] = min(max(float(raw), 0.0), 1.0)
            except ValueError:
                errors.append("max_confidence: expected a number between 0 and 1")
        for name in ("fell_back", "handed_off"):
            raw = text_param(name, 5)
            if raw in ("yes", "no"):
                values[name] = raw == "yes"
            elif raw:
                errors.append(f"{name}: expected yes or no")
        raw = text_param("csat", 2)
        if raw:
            if raw in ("1", "2", "3", "4", "5"):
                values["csat"] = int(raw)
            else:
                errors.append("csat: expected a score from 1 to 5")
        for name, allowed in (("sentiment", SENTIMENTS), ("status", STATUSES), ("sort", SORTS)):
            raw = text_param(name, 32)
            if raw in allowed:
                values[name] = raw
            elif raw:
                errors.append(f"{name}: expected one of {', '.join(allowed)}")
        values["query"] = text_param("q", MAX_QUERY_CHARS)
        return cls(**values, errors=tuple(errors))

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters again (for paging and export links)."""
        out: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "errors" or value is None or (item.name == "sort" and value == "newest"):
                continue
            key = "q" if item.name == "query" else item.name
            out[key] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        return out

    @property
    def active(self) -> bool:
        return bool(self.as_params())


@dataclass(frozen=True)
class InboxPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def day_bounds(day: date, zone: str) -> tuple[float, float]:
    """Epoch seconds of a day's start and the next day's start, in time zone ``zone``."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, dtime.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), dtime.min, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def _terms(query: str) -> list[str]:
    return [t for t in re.split(r"\s+", query.strip()) if t][:8]


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def text_match(database: ArchiveDatabase, query: str) -> ColumnElement[bool] | None:
    """A condition on ``archive_events`` rows whose text contains every word of ``query``."""
    terms = _terms(query)
    if not terms:
        return None
    events = schema.events
    conditions: list[ColumnElement[bool]] = []
    if database.dialect == "sqlite":
        long_terms = [t for t in terms if len(t) >= 3]
        if long_terms:
            match = " ".join(_fts_phrase(t) for t in long_terms)
            conditions.append(events.c.id.in_(
                select(literal_column("rowid")).select_from(text("archive_events_fts"))
                .where(text("archive_events_fts MATCH :fts_match").bindparams(fts_match=match))
            ))
        conditions += [events.c.text.contains(t, autoescape=True) for t in terms if len(t) < 3]
    else:
        latin = [t for t in terms if not _CJK.search(t)]
        if latin:
            # Written exactly like the GIN index expression (literals, not parameters), so
            # the planner can use the index.
            document = func.to_tsvector(literal_column("'simple'"), func.coalesce(events.c.text, literal_column("''")))
            conditions.append(document.op("@@")(func.plainto_tsquery(literal_column("'simple'"), " ".join(latin))))
        conditions += [events.c.text.icontains(t, autoescape=True) for t in terms if _CJK.search(t)]
    return and_(*conditions)


def apply_filters(query: Select, database: ArchiveDatabase, filters: InboxFilters, zone: str) -> Select:
    conv = schema.conversations
    events = schema.events
    if filters.date_from:
        query = query.where(conv.c.started_at >= day_bounds(filters.date_from, zone)[0])
    if filters.date_to:
        query = query.where(conv.c.started_at < day_bounds(filters.date_to, zone)[1])
    if filters.max_confidence is not None:
        query = query.where(conv.c.min_confidence <= filters.max_confidence)
    if filters.fell_back is not None:
        query = query.where(conv.c.fallbacks > 0 if filters.fell_back else conv.c.fallbacks == 0)
    if filters.handed_off is not None:
        query = query.where(conv.c.handed_off.is_(filters.handed_off))
    if filters.csat is not None:
        query = query.where(conv.c.csat == filters.csat)
    if filters.language:
        query = query.where(conv.c.language == filters.language)
    if filters.status:
        query = query.where(conv.c.handoff_state == filters.status)
    if filters.tag:
        query = query.where(conv.c.id.in_(select(schema.tags.c.conversation_id).where(schema.tags.c.tag == filters.tag)))
    # Conditions on messages are "id IN (conversations with such a message)": the database
    # resolves the set once through an index instead of probing it per conversation.
    message_conditions: list[ColumnElement[bool]] = []
    if filters.intent:
        message_conditions.append(and_(events.c.intent == filters.intent, events.c.kind == "user"))
    if filters.sentiment:
        message_conditions.append(and_(events.c.sentiment == filters.sentiment, events.c.kind == "user"))
    if filters.query:
        match = text_match(database, filters.query)
        if match is not None:
            message_conditions.append(match)
    for condition in message_conditions:
        query = query.where(conv.c.id.in_(select(events.c.conversation_id).where(condition)))
    return query


def search_conversations(database: ArchiveDatabase, filters: InboxFilters, *, page: int = 1, per_page: int = 25,
                         zone: str = "UTC") -> InboxPage:
    """One page of conversations matching ``filters``, with their tags and (when searching)
    the first matching message as ``match_text``."""
    conv = schema.conversations
    page = max(1, page)
    order = {
        "newest": [conv.c.last_event_at.desc(), conv.c.id],
        "oldest": [conv.c.last_event_at.asc(), conv.c.id],
        "lowest_confidence": [func.coalesce(conv.c.min_confidence, 2.0).asc(), conv.c.last_event_at.desc()],
    }[filters.sort]
    listing = apply_filters(select(conv), database, filters, zone)
    counting = apply_filters(select(func.count()).select_from(conv), database, filters, zone)
    with database.read() as connection:
        total = int(connection.scalar(counting) or 0)
        rows = [dict(r) for r in connection.execute(
            listing.order_by(*order).limit(per_page).offset((page - 1) * per_page)).mappings()]
        ids = [r["id"] for r in rows]
        tags: dict[str, list[str]] = {}
        if ids:
            for conversation_id, tag in connection.execute(
                    select(schema.tags.c.conversation_id, schema.tags.c.tag)
                    .where(schema.tags.c.conversation_id.in_(ids)).order_by(schema.tags.c.tag)):
                tags.setdefault(conversation_id, []).append(tag)
        matches: dict[str, str] = {}
        if ids and filters.query:
            match = text_match(database, filters.query)
            if match is not None:
                events = schema.events
                for conversation_id, message in connection.execute(
                        select(events.c.conversation_id, events.c.text)
                        .where(events.c.conversation_id.in_(ids), match)
                        .order_by(events.c.stream_ms, events.c.stream_seq)):
                    matches.setdefault(conversation_id, message)
    for row in rows:
        row["tags"] = tags.get(row["id"], [])
        row["match_text"] = matches.get(row["id"])
    return InboxPage(rows, total, page, per_page)


# Facets scan whole indexes; the menus may be a few seconds stale, so they are cached.
FACETS_TTL_S = 30.0
_facets: dict[int, tuple[float, dict[str, list[str]]]] = {}


def facet_values(database: ArchiveDatabase, *, max_age_s: float = FACETS_TTL_S) -> dict[str, list[str]]:
    """The intents, tags and languages present in the archive (for the filter menus)."""
    cached = _facets.get(id(database))
    if cached is None or time.monotonic() - cached[0] >= max_age_s:
        cached = (time.monotonic(), _scan_facets(database))
        _facets[id(database)] = cached
    with database.read() as connection:  # the tag table is small: always current
        tag_names = list(connection.scalars(select(schema.tags.c.tag).distinct().order_by(schema.tags.c.tag)))
    return {**cached[1], "tags": tag_names}


def _scan_facets(database: ArchiveDatabase) -> dict[str, list[str]]:
    events = schema.events
    with database.read() as connection:
        intents = [v for v in connection.scalars(
            select(events.c.intent).where(events.c.intent.is_not(None)).distinct().order_by(events.c.intent))]
        languages = [v for v in connection.scalars(
            select(schema.conversations.c.language).where(schema.conversations.c.language.is_not(None))
            .distinct().order_by(schema.conversations.c.language))]
    return {"intents": intents, "languages": languages}

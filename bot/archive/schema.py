"""The archive's SQL tables (SQLAlchemy Core). Alembic migrations create and change them.

Times are seconds since the epoch (floats, UTC), so SQLite and PostgreSQL compare them
the same way.

- ``archive_conversations``: one row per conversation, with the aggregates the inbox
  filters on (kept current by the archiver as events arrive).
- ``archive_events``: one row per Rasa event, unique by ``(conversation_id, event_id)`` —
  that constraint is what makes archiving idempotent.
- ``archive_tags``, ``archive_notes``, ``archive_corrections``: the staff's work.
- ``staff_users``, ``staff_sessions``, ``staff_audit``: accounts, sign-ins, the audit log.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

conversations = Table(
    "archive_conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("last_event_at", Float, nullable=False),
    Column("last_event_id", String(48), nullable=False),
    Column("user_messages", Integer, nullable=False, default=0),
    Column("bot_messages", Integer, nullable=False, default=0),
    Column("min_confidence", Float),
    Column("fallbacks", Integer, nullable=False, default=0),
    Column("handed_off", Boolean, nullable=False, default=False),
    Column("handoff_state", String(16), nullable=False, default="bot"),
    Column("handoff_event_id", String(48)),
    Column("handoff_at", Float),
    Column("agent", String(64)),
    Column("csat", Integer),
    Column("language", String(8)),
    # Previews: the first and the latest customer message.
    Column("first_text", Text),
    Column("last_text", Text),
    Index("ix_archive_conversations_last_event_at", "last_event_at"),
    Index("ix_archive_conversations_handoff_state", "handoff_state"),
)

events = Table(
    "archive_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("archive_conversations.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", String(48), nullable=False),
    # The stream id split in two numbers, for ordering ("10-2" sorts before "9-1" as text).
    Column("stream_ms", BigInteger, nullable=False),
    Column("stream_seq", Integer, nullable=False),
    # Rasa's event name, except ``user_replay``: a customer message the dialogue re-reads
    # after a two-stage fallback (a copy with the same message_id), not a new message.
    Column("kind", String(32), nullable=False),
    Column("message_id", String(64)),
    Column("timestamp", Float),
    Column("text", Text),
    Column("intent", String(128)),
    Column("confidence", Float),
    Column("fell_back", Boolean, nullable=False, default=False),
    Column("sentiment", String(16)),
    Column("language", String(8)),
    Column("source", String(16)),
    Column("payload", Text, nullable=False),
    UniqueConstraint("conversation_id", "event_id", name="uq_archive_events_conversation_event"),
    Index("ix_archive_events_order", "conversation_id", "stream_ms", "stream_seq"),
    Index("ix_archive_events_intent", "intent"),
    Index("ix_archive_events_sentiment", "sentiment"),
    Index("ix_archive_events_message", "conversation_id", "message_id"),
    Index("ix_archive_events_kind_timestamp", "kind", "timestamp"),
)

tags = Table(
    "archive_tags",
    metadata,
    Column("conversation_id", String(64), ForeignKey("archive_conversations.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("author", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_archive_tags_tag", "tag"),
)

notes = Table(
    "archive_notes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("archive_conversations.id", ondelete="CASCADE"), nullable=False),
    Column("author", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_archive_notes_conversation", "conversation_id"),
)

# Corrections outlive the transcript they came from (retention deletes transcripts, not
# the training data staff approved), so there is no foreign key to the conversation.
corrections = Table(
    "archive_corrections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), nullable=False),
    Column("event_id", String(48), nullable=False),
    Column("text", Text, nullable=False),
    Column("original_intent", String(128)),
    Column("intent", String(128), nullable=False),
    Column("entities", Text, nullable=False),
    Column("author", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("exported_at", Float),
    UniqueConstraint("conversation_id", "event_id", name="uq_archive_corrections_message"),
)

users = Table(
    "staff_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("last_login_at", Float),
)

sessions = Table(
    "staff_sessions",
    metadata,
    # SHA-256 of the cookie value: a leaked database does not leak usable sessions.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_staff_sessions_expires_at", "expires_at"),
)

audit = Table(
    "staff_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(160)),
    Column("detail", Text),
    Index("ix_staff_audit_at", "at"),
)

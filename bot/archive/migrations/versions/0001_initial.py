"""The initial archive and staff schema, with full-text search on message text.

Full-text search is dialect-specific: SQLite gets an FTS5 table with the ``trigram``
tokenizer (substring search that works for Chinese as well as English), kept in step with
``archive_events`` by triggers; PostgreSQL gets a GIN index on ``to_tsvector('simple', text)``.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE archive_events_fts USING fts5("
    "text, content='archive_events', content_rowid='id', tokenize='trigram')",
    # Only rows with text are indexed; the delete trigger mirrors the condition exactly,
    # because deleting a row that was never indexed corrupts an external-content table.
    "CREATE TRIGGER archive_events_fts_insert AFTER INSERT ON archive_events WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO archive_events_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER archive_events_fts_delete AFTER DELETE ON archive_events WHEN old.text IS NOT NULL BEGIN "
    "INSERT INTO archive_events_fts(archive_events_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER archive_events_fts_update_old AFTER UPDATE OF text ON archive_events WHEN old.text IS NOT NULL BEGIN "
    "INSERT INTO archive_events_fts(archive_events_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER archive_events_fts_update_new AFTER UPDATE OF text ON archive_events WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO archive_events_fts(rowid, text) VALUES (new.id, new.text); END",
]


def upgrade() -> None:
    op.create_table(
        "archive_conversations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("last_event_at", sa.Float(), nullable=False),
        sa.Column("last_event_id", sa.String(48), nullable=False),
        sa.Column("user_messages", sa.Integer(), nullable=False),
        sa.Column("bot_messages", sa.Integer(), nullable=False),
        sa.Column("min_confidence", sa.Float()),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("handed_off", sa.Boolean(), nullable=False),
        sa.Column("handoff_state", sa.String(16), nullable=False),
        sa.Column("handoff_event_id", sa.String(48)),
        sa.Column("handoff_at", sa.Float()),
        sa.Column("agent", sa.String(64)),
        sa.Column("csat", sa.Integer()),
        sa.Column("language", sa.String(8)),
        sa.Column("first_text", sa.Text()),
        sa.Column("last_text", sa.Text()),
    )
    op.create_index("ix_archive_conversations_last_event_at", "archive_conversations", ["last_event_at"])
    op.create_index("ix_archive_conversations_handoff_state", "archive_conversations", ["handoff_state"])

    op.create_table(
        "archive_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(64),
                  sa.ForeignKey("archive_conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("stream_ms", sa.BigInteger(), nullable=False),
        sa.Column("stream_seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(64)),
        sa.Column("timestamp", sa.Float()),
        sa.Column("text", sa.Text()),
        sa.Column("intent", sa.String(128)),
        sa.Column("confidence", sa.Float()),
        sa.Column("fell_back", sa.Boolean(), nullable=False),
        sa.Column("sentiment", sa.String(16)),
        sa.Column("language", sa.String(8)),
        sa.Column("source", sa.String(16)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.UniqueConstraint("conversation_id", "event_id", name="uq_archive_events_conversation_event"),
    )
    op.create_index("ix_archive_events_order", "archive_events", ["conversation_id", "stream_ms", "stream_seq"])
    op.create_index("ix_archive_events_intent", "archive_events", ["intent"])
    op.create_index("ix_archive_events_sentiment", "archive_events", ["sentiment"])
    op.create_index("ix_archive_events_message", "archive_events", ["conversation_id", "message_id"])
    op.create_index("ix_archive_events_kind_timestamp", "archive_events", ["kind", "timestamp"])

    op.create_table(
        "archive_tags",
        sa.Column("conversation_id", sa.String(64),
                  sa.ForeignKey("archive_conversations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(64), primary_key=True),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_archive_tags_tag", "archive_tags", ["tag"])

    op.create_table(
        "archive_notes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(64),
                  sa.ForeignKey("archive_conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_archive_notes_conversation", "archive_notes", ["conversation_id"])

    op.create_table(
        "archive_corrections",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(48), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("original_intent", sa.String(128)),
        sa.Column("intent", sa.String(128), nullable=False),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("exported_at", sa.Float()),
        sa.UniqueConstraint("conversation_id", "event_id", name="uq_archive_corrections_message"),
    )

    op.create_table(
        "staff_users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("last_login_at", sa.Float()),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", BigId, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_staff_sessions_expires_at", "staff_sessions", ["expires_at"])
    op.create_table(
        "staff_audit",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(160)),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_staff_audit_at", "staff_audit", ["at"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_archive_events_fts ON archive_events "
                   "USING gin (to_tsvector('simple', coalesce(text, '')))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS archive_events_fts")
    for table in ("staff_audit", "staff_sessions", "staff_users", "archive_corrections", "archive_notes",
                  "archive_tags", "archive_events", "archive_conversations"):
        op.drop_table(table)

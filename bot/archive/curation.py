"""Staff work on archived conversations: tags and private notes.

Corrections of intents and entities are in :mod:`bot.archive.training`, because they
become training data.
"""

from __future__ import annotations

import re
import time

from sqlalchemy import delete, insert, select

from bot.archive import schema
from bot.archive.db import ArchiveDatabase
from bot.errors import KefuError

TAG_PATTERN = re.compile(r"^[\w\u3400-\u9fff][\w\u3400-\u9fff .:/-]{0,63}$")
MAX_NOTE_CHARS = 4000


class CurationError(KefuError):
    """A tag or note that cannot be stored; the message is safe to show to staff."""


def _require_conversation(connection, conversation_id: str) -> None:  # type: ignore[no-untyped-def]
    found = connection.scalar(select(schema.conversations.c.id).where(schema.conversations.c.id == conversation_id))
    if found is None:
        raise CurationError("this conversation is not in the archive")


def normalise_tag(tag: str) -> str:
    """Tags are compared lower-case with single spaces; raises :class:`CurationError`."""
    cleaned = re.sub(r"\s+", " ", tag).strip().lower()
    if not TAG_PATTERN.match(cleaned):
        raise CurationError("a tag is 1-64 letters, digits, spaces or . : / - _")
    return cleaned


def add_tag(database: ArchiveDatabase, conversation_id: str, tag: str, *, author: str) -> str:
    """Tag a conversation (adding a tag twice is one tag); returns the stored tag."""
    tag = normalise_tag(tag)
    with database.write() as connection:
        _require_conversation(connection, conversation_id)
        already = connection.scalar(select(schema.tags.c.tag).where(
            schema.tags.c.conversation_id == conversation_id, schema.tags.c.tag == tag))
        if already is None:
            connection.execute(insert(schema.tags).values(
                conversation_id=conversation_id, tag=tag, author=author, created_at=time.time()))
    return tag


def remove_tag(database: ArchiveDatabase, conversation_id: str, tag: str) -> None:
    with database.write() as connection:
        connection.execute(delete(schema.tags).where(
            schema.tags.c.conversation_id == conversation_id, schema.tags.c.tag == tag))


def add_note(database: ArchiveDatabase, conversation_id: str, text: str, *, author: str) -> None:
    """A private note on the conversation, visible to staff only."""
    text = text.strip()
    if not text:
        raise CurationError("a note cannot be empty")
    if len(text) > MAX_NOTE_CHARS:
        raise CurationError(f"a note is at most {MAX_NOTE_CHARS} characters")
    with database.write() as connection:
        _require_conversation(connection, conversation_id)
        connection.execute(insert(schema.notes).values(
            conversation_id=conversation_id, author=author, created_at=time.time(), text=text))

"""Reading a conversation's transcript of record (its Redis stream) the way the fault tests
judge it: which customer messages are stored, how often, and whether turns interleave."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis


@dataclass(frozen=True)
class Entry:
    event_id: str
    event: dict[str, Any]

    @property
    def kind(self) -> str | None:
        return self.event.get("event")


def read_transcript(redis_url: str, prefix: str, conversation_id: str) -> list[Entry]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        rows = client.xrange(f"{prefix}conv:{conversation_id}:events")
    finally:
        client.close()
    return [Entry(event_id, json.loads(fields["e"])) for event_id, fields in rows]


def is_fallback_replay(entries: list[Entry], position: int) -> bool:
    """The two-stage fallback re-appends a confirmed message after ``rewind`` events (as Rasa
    does): the bot's copy of a customer message, not a second customer message."""
    return (position >= 2 and entries[position].kind == "user" and entries[position - 1].kind == "action"
            and entries[position - 2].kind == "rewind")


def customer_messages(entries: list[Entry]) -> list[Entry]:
    """The customer's messages in stream order (fallback replays left out)."""
    return [e for i, e in enumerate(entries) if e.kind == "user" and not is_fallback_replay(entries, i)]


def message_ids(entries: list[Entry]) -> list[str]:
    return [e.event["message_id"] for e in customer_messages(entries)]


def turns(entries: list[Entry]) -> list[list[Entry]]:
    """The transcript cut at each customer message: one list per turn, the message first."""
    cut: list[list[Entry]] = []
    customer = {id(e) for e in customer_messages(entries)}
    for entry in entries:
        if id(entry) in customer:
            cut.append([entry])
        elif cut:
            cut[-1].append(entry)
    return cut


def assert_turns_not_interleaved(entries: list[Entry]) -> None:
    """Every turn is whole: the bot answers a message before the next message is taken in,
    and the turn ends listening. Two turns run at once would put two customer messages next
    to each other or answers after the wrong message."""
    for turn in turns(entries):
        kinds = [e.kind for e in turn]
        message = turn[0].event.get("text")
        assert "bot" in kinds, f"turn of {message!r} has no answer: {kinds}"
        listens = [i for i, e in enumerate(turn) if e.kind == "action" and e.event.get("name") == "action_listen"]
        assert listens, f"turn of {message!r} never ends listening: {kinds}"

"""The widget protocol (JSON text frames on ``/ws``): parsing client frames, building
server frames. Pure functions; the websocket channel does the I/O.

Client → server: ``hello``, ``user``, ``csat``, ``ping``. Server → client: ``welcome``,
``ack``, ``user``, ``bot``, ``typing``, ``token``, ``handoff``, ``csat_request``, ``pong``,
``error``. See docs/protocol.md for every field.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.errors import BadFrame, FrameTooLarge
from bot.store import StoredEvent

CLIENT_FRAME_TYPES = ("hello", "user", "csat", "ping")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
# Control characters other than newline and tab are dropped from customer text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class Hello:
    conversation_id: str | None
    token: str | None
    last_event_id: str | None
    lang: str | None


@dataclass(frozen=True)
class UserMessage:
    id: str
    text: str
    title: str | None = None


@dataclass(frozen=True)
class Csat:
    score: int


@dataclass(frozen=True)
class Ping:
    pass


ClientFrame = Hello | UserMessage | Csat | Ping


def clean_text(text: str) -> str:
    """Normalise customer text: NFC, no control or invisible characters, trimmed."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


def _optional_str(frame: dict[str, Any], key: str, *, max_len: int = 256) -> str | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise BadFrame(f"`{key}` must be a string of at most {max_len} characters")
    return value


def parse_client_frame(raw: str, *, max_frame_bytes: int, max_text_chars: int) -> ClientFrame:
    """Validate one text frame; raises :class:`BadFrame` / :class:`FrameTooLarge`."""
    if len(raw.encode("utf-8", "surrogatepass")) > max_frame_bytes:
        raise FrameTooLarge(f"frame is larger than {max_frame_bytes} bytes")
    try:
        frame = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise BadFrame("frame is not valid JSON", code="bad_json") from None
    if not isinstance(frame, dict):
        raise BadFrame("frame must be a JSON object with a `type`")
    kind = frame.get("type")
    if kind not in CLIENT_FRAME_TYPES:
        raise BadFrame(f"unknown frame type; expected one of {', '.join(CLIENT_FRAME_TYPES)}", code="unknown_type")
    if kind == "ping":
        return Ping()
    if kind == "hello":
        last = _optional_str(frame, "last_event_id", max_len=41)
        if last is not None and not _EVENT_ID.match(last):
            raise BadFrame("`last_event_id` must be an event id such as 1700000000000-0")
        lang = _optional_str(frame, "lang", max_len=16)
        return Hello(
            conversation_id=_optional_str(frame, "conversation_id", max_len=64),
            token=_optional_str(frame, "token", max_len=128),
            last_event_id=last,
            lang=lang,
        )
    if kind == "csat":
        score = frame.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise BadFrame("`score` must be a whole number from 1 to 5")
        return Csat(score)
    # kind == "user"
    client_id = frame.get("id")
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise BadFrame("`id` must be a client message id (1-64 letters, digits, '-', '_', '.', ':')")
    text = frame.get("text")
    if not isinstance(text, str):
        raise BadFrame("`text` must be a string")
    text = clean_text(text)
    if not text:
        raise BadFrame("`text` is empty", code="empty_message")
    if len(text) > max_text_chars:
        raise FrameTooLarge(f"message is longer than {max_text_chars} characters")
    title = _optional_str(frame, "title", max_len=200)
    return UserMessage(client_id, text, clean_text(title) if title else None)


# -- server frames ----------------------------------------------------------------------
def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def event_frame(stored: StoredEvent) -> dict[str, Any] | None:
    """The frame a stored event shows as in the widget, or None for internal events."""
    event = stored.event
    kind = event.get("event")
    if kind == "user":
        metadata = event.get("metadata") or {}
        frame = {"type": "user", "event_id": stored.event_id, "text": metadata.get("title") or event.get("text")}
        if event.get("message_id"):
            frame["id"] = event["message_id"]
        frame["ts"] = event.get("timestamp")
        return frame
    if kind == "bot":
        data = event.get("data") or {}
        metadata = event.get("metadata") or {}
        frame = {
            "type": "bot",
            "event_id": stored.event_id,
            "text": event.get("text") or "",
            "source": metadata.get("source", "template"),
            "ts": event.get("timestamp"),
        }
        stream_id = (metadata.get("generation") or {}).get("stream_id")
        if stream_id:
            frame["stream_id"] = stream_id  # replaces the text streamed in `token` frames
        if data.get("buttons"):
            frame["buttons"] = [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in data["buttons"]]
        if data.get("image"):
            frame["image"] = data["image"]
        return frame
    if kind == "handoff":
        return {"type": "handoff", "event_id": stored.event_id, "state": event.get("state", "bot")}
    return None

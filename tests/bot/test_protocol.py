from __future__ import annotations

import json

import pytest

from bot import protocol
from bot.errors import BadFrame, FrameTooLarge
from bot.store import StoredEvent

LIMITS = {"max_frame_bytes": 4096, "max_text_chars": 100}


def parse(frame: object) -> protocol.ClientFrame:
    return protocol.parse_client_frame(json.dumps(frame), **LIMITS)


def test_user_frame_is_cleaned_of_control_characters() -> None:
    frame = parse({"type": "user", "id": "m-1", "text": "  hi\x00 there\u200b\n "})
    assert frame == protocol.UserMessage("m-1", "hi there")


@pytest.mark.parametrize(
    "raw, code",
    [
        ("not json", "bad_json"),
        ("[1,2]", "bad_frame"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "user", "text": "hi"}', "bad_frame"),
        ('{"type": "user", "id": "x", "text": 5}', "bad_frame"),
        ('{"type": "user", "id": "x", "text": "   "}', "empty_message"),
        ('{"type": "user", "id": "bad id with spaces", "text": "hi"}', "bad_frame"),
        ('{"type": "csat", "score": 9}', "bad_frame"),
        ('{"type": "csat", "score": true}', "bad_frame"),
        ('{"type": "hello", "last_event_id": "drop table"}', "bad_frame"),
    ],
)
def test_bad_frames_get_codes(raw: str, code: str) -> None:
    with pytest.raises(BadFrame) as info:
        protocol.parse_client_frame(raw, **LIMITS)
    assert info.value.code == code


def test_oversized_frame_and_text() -> None:
    with pytest.raises(FrameTooLarge):
        protocol.parse_client_frame(json.dumps({"type": "user", "id": "a", "text": "x" * 5000}), **LIMITS)
    with pytest.raises(FrameTooLarge):
        parse({"type": "user", "id": "a", "text": "x" * 101})


def test_hello_fields() -> None:
    frame = parse({"type": "hello", "conversation_id": "abc", "token": "t", "last_event_id": "1-0", "lang": "zh"})
    assert frame == protocol.Hello("abc", "t", "1-0", "zh")


def test_event_frames() -> None:
    bot = StoredEvent("5-0", {"event": "bot", "text": "Hi", "timestamp": 1.0,
                              "data": {"buttons": [{"title": "A", "payload": "/a"}]}, "metadata": {"source": "template"}})
    assert protocol.event_frame(bot) == {"type": "bot", "event_id": "5-0", "text": "Hi", "source": "template",
                                         "ts": 1.0, "buttons": [{"title": "A", "payload": "/a"}]}
    user = StoredEvent("4-0", {"event": "user", "text": "/a", "message_id": "m1", "timestamp": 1.0,
                               "metadata": {"title": "A"}})
    assert protocol.event_frame(user)["text"] == "A"
    assert protocol.event_frame(StoredEvent("6-0", {"event": "action", "name": "action_listen"})) is None

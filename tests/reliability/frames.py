"""Hostile websocket frames (hypothesis strategies) and what the server may answer to them.

A frame is ``("text", str)`` or ``("binary", bytes)``. The oracle: whatever a client sends,
the server answers with frames of the documented server types, refuses with an ``error`` of
a documented code, never with ``internal`` (that is a bug), and keeps the connection open.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

SERVER_FRAME_TYPES = {"welcome", "ack", "user", "bot", "typing", "token", "handoff", "csat_request", "csat_ack",
                      "pong", "error"}
# Every code docs/protocol.md lists, except `internal`: a client must never be able to cause one.
CLIENT_CAUSED_CODES = {"bad_json", "bad_frame", "unknown_type", "empty_message", "too_large", "not_ready",
                       "rate_limited", "unavailable", "busy"}

Frame = tuple[str, Any]

# Text with what real clients get wrong: control and invisible characters, CJK, emoji,
# right-to-left marks. (Lone surrogates cannot be sent: they are not UTF-8.)
nasty_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(["\x00", "\x07", "\x1b", "\u200b", "\u202e", "\ufeff", "\n", "\t", "订", "单", "😀", "/"]),
    ),
    max_size=300,
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), nasty_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)), max_leaves=12)
frame_types = st.one_of(st.sampled_from(["hello", "user", "csat", "ping", "HELLO", "", "bot", "welcome", "ack"]),
                        json_values)
# Field names of real frames, so wrong types and missing fields are tried where they matter.
field_names = st.sampled_from(["id", "text", "title", "score", "conversation_id", "token", "last_event_id", "lang"])
almost_frames = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    frame_types, st.dictionaries(st.one_of(field_names, nasty_text), json_values, max_size=5),
)
user_frames = st.builds(
    lambda message_id, text: {"type": "user", "id": message_id, "text": text},
    st.one_of(st.from_regex(r"\A[A-Za-z0-9_.:-]{1,64}\Z"), json_values), st.one_of(nasty_text, json_values),
)


def as_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


hostile_frames: st.SearchStrategy[Frame] = st.one_of(
    st.tuples(st.just("text"), nasty_text),                                   # not JSON at all
    st.tuples(st.just("text"), json_values.map(as_text)),                     # JSON, not a frame
    st.tuples(st.just("text"), almost_frames.map(as_text)),                   # wrong types, missing fields
    st.tuples(st.just("text"), user_frames.map(as_text)),                     # messages, odd and valid
    st.tuples(st.just("text"), st.integers(1, 60).map(lambda n: "[" * n * 100)),  # deep nesting
    st.tuples(st.just("text"), st.integers(16 * 1024, 64 * 1024).map(
        lambda n: as_text({"type": "user", "id": "big", "text": "x" * n}))),  # over the size limit
    st.tuples(st.just("binary"), st.binary(max_size=512)),                     # binary frames
)


def check_replies(frames: list[dict[str, Any]]) -> None:
    """Fail on anything a hostile frame must never get back."""
    for frame in frames:
        assert isinstance(frame, dict) and frame.get("type") in SERVER_FRAME_TYPES, frame
        if frame["type"] == "error":
            assert frame.get("code") in CLIENT_CAUSED_CODES, frame
            assert isinstance(frame.get("message"), str) and "Traceback" not in frame["message"], frame

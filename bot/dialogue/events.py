"""Constructors for Rasa's event dicts, so trackers can be handed to rasa-sdk as they are.

Timestamps are passed in (seconds since the epoch): the core never reads the clock.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]

ACTION_LISTEN = "action_listen"
ACTION_SESSION_START = "action_session_start"
ACTION_RESTART = "action_restart"
ACTION_DEFAULT_FALLBACK = "action_default_fallback"
ACTION_LISTEN_NAMES = frozenset({ACTION_LISTEN})


def user(
    text: str,
    parse_data: dict[str, Any],
    *,
    timestamp: float,
    message_id: str | None = None,
    input_channel: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Event:
    return {
        "event": "user",
        "timestamp": timestamp,
        "text": text,
        "parse_data": parse_data,
        "input_channel": input_channel,
        "message_id": message_id,
        "metadata": metadata or {},
    }


def bot(
    text: str | None,
    *,
    timestamp: float,
    data: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Event:
    return {"event": "bot", "timestamp": timestamp, "text": text, "data": data or {}, "metadata": metadata or {}}


def action(name: str, *, timestamp: float, policy: str | None = None, confidence: float | None = None) -> Event:
    return {"event": "action", "timestamp": timestamp, "name": name, "policy": policy, "confidence": confidence}


def slot(name: str, value: Any, *, timestamp: float) -> Event:
    return {"event": "slot", "timestamp": timestamp, "name": name, "value": value}


def session_started(*, timestamp: float) -> Event:
    return {"event": "session_started", "timestamp": timestamp}


def restarted(*, timestamp: float) -> Event:
    return {"event": "restart", "timestamp": timestamp}


def pause(*, timestamp: float) -> Event:
    return {"event": "pause", "timestamp": timestamp}


def resume(*, timestamp: float) -> Event:
    return {"event": "resume", "timestamp": timestamp}

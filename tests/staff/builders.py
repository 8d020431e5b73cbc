"""Rasa events as the bot writes them, for archive tests (same shapes as bot.dialogue.events)."""

from __future__ import annotations

import time
import uuid
from typing import Any


def user(text: str, intent: str = "greet", confidence: float = 0.9, *, fell_back: bool = False,
         sentiment: str = "neutral", language: str = "en", entities: list[dict[str, Any]] | None = None,
         message_id: str | None = None, timestamp: float | None = None) -> dict[str, Any]:
    parse: dict[str, Any] = {
        "text": text, "language": language, "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}, {"name": "other", "confidence": 1 - confidence}],
        "entities": entities or [], "sentiment": {"label": sentiment, "score": 0.8},
    }
    if fell_back:
        parse["fallback_from"] = dict(parse["intent"])
        parse["intent"] = {"name": "nlu_fallback", "confidence": confidence}
    return {"event": "user", "timestamp": timestamp or time.time(), "text": text, "parse_data": parse,
            "input_channel": "widget", "message_id": message_id or uuid.uuid4().hex, "metadata": {}}


def bot(text: str, source: str = "template", **metadata: Any) -> dict[str, Any]:
    return {"event": "bot", "timestamp": time.time(), "text": text, "data": {},
            "metadata": {"source": source, "utter_action": "utter_x", **metadata}}


def handoff(state: str, agent: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "handoff", "timestamp": time.time(), "state": state}
    if agent:
        event["agent"] = agent
    return event


def csat(score: int) -> dict[str, Any]:
    return {"event": "csat", "timestamp": time.time(), "score": score}


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "timestamp": time.time(), "name": name, "policy": None, "confidence": None}

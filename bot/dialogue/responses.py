"""Picking and filling a response template (``utter_*``) as Rasa does.

Variations whose ``condition`` list matches the slots win over unconditional ones; a
``channel`` variation is used only on that output channel. ``{slot}`` placeholders are
filled from slots; a placeholder for an empty or unknown slot is removed rather than shown.
"""

from __future__ import annotations

import random
import re
from typing import Any

from bot.dialogue.domain import Domain
from bot.dialogue.events import Event, bot

# The leading blank is captured so that removing an empty placeholder leaves no gap.
_PLACEHOLDER = re.compile(r"([ \t]?)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _matches(variation: dict[str, Any], slots: dict[str, Any], channel: str | None) -> bool:
    if variation.get("channel") and variation.get("channel") != channel:
        return False
    for condition in variation.get("condition") or []:
        if condition.get("type", "slot") != "slot":
            return False
        if slots.get(condition.get("name")) != condition.get("value"):
            return False
    return True


def choose_variation(
    variations: list[dict[str, Any]],
    slots: dict[str, Any],
    *,
    channel: str | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any] | None:
    """The variation to say, or None when no variation fits the slots and channel."""
    rng = rng or random.Random(0)
    matching = [v for v in variations if _matches(v, slots, channel)]
    conditional = [v for v in matching if v.get("condition")]
    pool = conditional or [v for v in matching if not v.get("condition")]
    # Prefer a variation for this channel over a generic one, as Rasa does.
    channel_specific = [v for v in pool if v.get("channel")]
    pool = channel_specific or pool
    return rng.choice(pool) if pool else None


def fill_slots(text: str, slots: dict[str, Any]) -> str:
    """Replace ``{slot}`` with its value; drop placeholders that have no value."""

    def replace(match: re.Match[str]) -> str:
        value = slots.get(match.group(2))
        return "" if value is None else match.group(1) + str(value)

    filled = _PLACEHOLDER.sub(replace, text)
    return re.sub(r"[ \t]{2,}", " ", filled).strip()


def render_response(
    variation: dict[str, Any], slots: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    """``(text, data)`` for a bot event: data holds buttons, image, custom payload."""
    text = variation.get("text")
    if text is not None:
        text = fill_slots(str(text), slots)
    data: dict[str, Any] = {}
    buttons = variation.get("buttons")
    if buttons:
        data["buttons"] = [
            {"title": fill_slots(str(b.get("title", "")), slots), "payload": str(b.get("payload", ""))}
            for b in buttons
        ]
    for key in ("image", "attachment", "custom", "elements", "quick_replies"):
        if variation.get(key) is not None:
            data[key] = variation[key]
    return text, data


def utter_events(
    domain: Domain,
    name: str,
    slots: dict[str, Any],
    *,
    now: float,
    rng: random.Random,
    channel: str | None = None,
    source: str = "template",
) -> list[Event]:
    """The ``bot`` event for response ``name`` (empty when no variation fits)."""
    variations = domain.responses.get(name)
    variation = choose_variation(variations, slots, channel=channel, rng=rng) if variations else None
    if variation is None:
        return []
    text, data = render_response(variation, slots)
    return [bot(text, timestamp=now, data=data, metadata={"utter_action": name, "source": source})]

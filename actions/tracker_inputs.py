"""What the actions read from a rasa-sdk ``Tracker``: slots, the latest entities, the language.

Slots are read from ``tracker.slots`` directly rather than ``tracker.get_slot`` because the
latter logs every slot the domain does not define, and a bot that reuses these actions
with a smaller domain should not fill its log with that.
"""

from __future__ import annotations

import re
import unicodedata

from rasa_sdk import Tracker

from actions.replies import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def slot_text(tracker: Tracker, name: str) -> str | None:
    """The slot's value as stripped text, or ``None`` when unset or blank."""
    value = tracker.slots.get(name)
    if value is None or isinstance(value, (bool, list, dict)):
        return None
    text = str(value).strip()
    return text or None


def latest_entity_text(tracker: Tracker, entity: str) -> str | None:
    """The first non-blank value of ``entity`` in the latest user message, if any."""
    for value in tracker.get_latest_entity_values(entity):
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def previous_slot_value(tracker: Tracker, name: str) -> str | None:
    """The value slot ``name`` had before the customer's latest message (None if unset)."""
    before_latest_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            before_latest_message = True  # slot events from here on were set earlier
        elif before_latest_message and event.get("event") == "slot" and event.get("name") == name:
            value = event.get("value")
            return (str(value).strip() or None) if value is not None else None
    return None


def entity_or_slot(tracker: Tracker, name: str) -> str | None:
    """The value the customer just said (entity ``name``) or else the slot ``name``.

    The entity wins: "what about order 10002?" asked after order 10001 means 10002, even
    if the slot still holds the earlier one.
    """
    return latest_entity_text(tracker, name) or slot_text(tracker, name)


def reply_language(tracker: Tracker) -> str:
    """The language to answer in: the ``language`` slot, else the latest message's.

    Falls back to the NLU's ``language`` field of the latest message, then to the script
    of its text (mostly CJK gives ``zh``), then English.
    """
    for candidate in (slot_text(tracker, "language"), tracker.latest_message.get("language")):
        if isinstance(candidate, str) and candidate.lower() in SUPPORTED_LANGUAGES:
            return candidate.lower()
    text = tracker.latest_message.get("text") or ""
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(bool(_CJK.match(ch)) for ch in letters) * 2 >= len(letters):
        return "zh"
    return DEFAULT_LANGUAGE


def is_plausible_email(text: str) -> bool:
    """A cheap shape check (``name@domain.tld``); the real check is the reply we send."""
    return bool(_EMAIL.match(text.strip()))


def is_plausible_address(text: str) -> bool:
    """True when ``text`` could be a full postal address rather than a fragment.

    Western addresses carry a house number or postcode, so they need a digit and some
    length; Chinese addresses ("北京市海淀区中关村大街") may have no digit but are dense.
    """
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if len(text) > 300:
        return False
    if len(_CJK.findall(text)) >= 6:
        return True
    has_digit = any(ch.isdigit() for ch in text)
    has_letter = any(ch.isalpha() for ch in text)
    return len(text) >= 8 and has_digit and has_letter

"""Slot filling from a customer message, as Rasa 3's ``action_extract_slots`` does.

Runs after every customer message, before any policy. Mappings:

- ``from_entity``: the entity (with ``role`` / ``group`` when given) fills the slot anywhere;
- ``from_intent`` / ``from_text`` / ``from_trigger_intent``: for a slot a form asks for,
  only while that form is active and the slot is the one requested (otherwise every
  "hello" would land in a free-text slot); for other slots, on every matching message;
- ``custom``: filled by actions (and, for ``language``, by the server);
- ``conditions`` restrict any mapping to an ``active_loop`` and ``requested_slot``.
"""

from __future__ import annotations

from typing import Any

from bot.dialogue.domain import Domain, Slot, SlotMapping
from bot.dialogue.events import Event, slot
from bot.dialogue.tracker import DialogueTracker


def _intent_allowed(mapping: SlotMapping, intent: str | None) -> bool:
    if mapping.intent and intent not in mapping.intent:
        return False
    return intent not in mapping.not_intent


def _conditions_met(mapping: SlotMapping, tracker: DialogueTracker) -> bool:
    if not mapping.conditions:
        return True
    for condition in mapping.conditions:
        loop = condition.get("active_loop")
        requested = condition.get("requested_slot")
        if loop is not None and tracker.active_loop_name != loop:
            continue
        if loop is None and "active_loop" in condition and tracker.active_loop_name is not None:
            continue
        if requested is not None and tracker.get_slot("requested_slot") != requested:
            continue
        return True
    return False


def _forms_requiring(domain: Domain, slot_name: str) -> set[str]:
    return {form.name for form in domain.forms.values() if slot_name in form.required_slots}


def _entity_value(mapping: SlotMapping, entities: list[dict[str, Any]]) -> Any:
    values = [
        e.get("value")
        for e in entities
        if e.get("entity") == mapping.entity
        and (mapping.role is None or e.get("role") == mapping.role)
        and (mapping.group is None or e.get("group") == mapping.group)
    ]
    if not values:
        return None
    return values if len(values) > 1 else values[0]


def mapped_value(slot_def: Slot, mapping: SlotMapping, tracker: DialogueTracker, *, trigger_form: str | None = None) -> Any:
    """The value ``mapping`` extracts from the latest message, or None."""
    message = tracker.latest_message
    intent = (message.get("intent") or {}).get("name")
    if not _intent_allowed(mapping, intent) or not _conditions_met(mapping, tracker):
        return None
    if mapping.type == "from_entity":
        value = _entity_value(mapping, message.get("entities") or [])
        if isinstance(value, list) and slot_def.type != "list":
            value = value[0]
        return value
    forms = _forms_requiring(tracker.domain, slot_def.name)
    requested_here = (
        tracker.active_loop_name in forms and tracker.get_slot("requested_slot") == slot_def.name
    )
    if mapping.type == "from_trigger_intent":
        return mapping.value if trigger_form and trigger_form in forms else None
    if forms and not mapping.conditions and not requested_here:
        return None
    if mapping.type == "from_intent":
        return mapping.value
    if mapping.type == "from_text":
        return message.get("text")
    return None


def extract_slots(tracker: DialogueTracker, *, now: float) -> list[Event]:
    """Slot events the latest customer message causes (only changes are returned)."""
    events: list[Event] = []
    for slot_def in tracker.domain.slots.values():
        for mapping in slot_def.mappings:
            if mapping.type in ("custom", "from_trigger_intent"):
                continue
            value = mapped_value(slot_def, mapping, tracker)
            if value is None:
                continue
            if tracker.get_slot(slot_def.name) != value:
                events.append(slot(slot_def.name, value, timestamp=now))
            break
    return events


def trigger_intent_slots(tracker: DialogueTracker, form_name: str, *, now: float) -> list[Event]:
    """``from_trigger_intent`` values when the latest message activated ``form_name``."""
    events: list[Event] = []
    for slot_def in tracker.domain.slots.values():
        for mapping in slot_def.mappings:
            if mapping.type != "from_trigger_intent":
                continue
            value = mapped_value(slot_def, mapping, tracker, trigger_form=form_name)
            if value is not None and tracker.get_slot(slot_def.name) != value:
                events.append(slot(slot_def.name, value, timestamp=now))
                break
    return events

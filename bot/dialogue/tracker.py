"""The dialogue tracker: the state of one conversation, folded from Rasa events."""

from __future__ import annotations

from typing import Any

from bot.dialogue.domain import Domain
from bot.dialogue.events import ACTION_LISTEN, Event


class DialogueTracker:
    """Slots, latest message, active loop and history of one conversation.

    Build it with :meth:`from_events` and keep it current with :meth:`update`; hand
    :meth:`current_state` to rasa-sdk. ``events`` holds the live session's events.
    """

    def __init__(self, sender_id: str, domain: Domain) -> None:
        self.sender_id = sender_id
        self.domain = domain
        self.events: list[Event] = []
        self.slots: dict[str, Any] = domain.initial_slots()
        self.latest_message: dict[str, Any] = {}
        self.latest_action_name: str | None = None
        self.active_loop: dict[str, Any] = {}
        self.followup_action: str | None = None
        self.paused = False
        self.latest_input_channel: str | None = None

    @classmethod
    def from_events(cls, sender_id: str, domain: Domain, events: list[Event]) -> "DialogueTracker":
        tracker = cls(sender_id, domain)
        for event in events:
            tracker.update(event)
        return tracker

    def update(self, event: Event) -> None:
        """Apply one event (Rasa semantics) and remember it."""
        kind = event.get("event")
        self.events.append(event)
        if kind == "user":
            self.latest_message = {
                "text": event.get("text"),
                "intent": (event.get("parse_data") or {}).get("intent") or {},
                "intent_ranking": (event.get("parse_data") or {}).get("intent_ranking") or [],
                "entities": (event.get("parse_data") or {}).get("entities") or [],
                "message_id": event.get("message_id"),
                "metadata": event.get("metadata") or {},
            }
            self.latest_input_channel = event.get("input_channel")
        elif kind == "action":
            self.latest_action_name = event.get("name")
            if self.followup_action == event.get("name"):
                self.followup_action = None
        elif kind == "slot":
            self.slots[event["name"]] = event.get("value")
        elif kind == "reset_slots":
            self.slots = self.domain.initial_slots()
        elif kind == "active_loop":
            name = event.get("name")
            self.active_loop = {"name": name} if name else {}
        elif kind == "followup":
            self.followup_action = event.get("name")
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind in ("restart", "session_started"):
            carry = kind == "session_started" and self.domain.carry_over_slots
            slots = dict(self.slots) if carry else self.domain.initial_slots()
            self.__init__(self.sender_id, self.domain)  # type: ignore[misc]
            self.slots = slots
            self.events.append(event)

    # -- queries ------------------------------------------------------------------------
    @property
    def latest_intent(self) -> str | None:
        return (self.latest_message.get("intent") or {}).get("name")

    @property
    def latest_intent_confidence(self) -> float:
        return float((self.latest_message.get("intent") or {}).get("confidence") or 0.0)

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)

    def applied_events_since_user(self) -> list[Event]:
        """Events after the latest user message (the current turn so far)."""
        for index in range(len(self.events) - 1, -1, -1):
            if self.events[index].get("event") == "user":
                return self.events[index + 1 :]
        return list(self.events)

    def actions_since_user(self) -> list[str]:
        """Names of the actions run since the latest user message."""
        return [e.get("name") or "" for e in self.applied_events_since_user() if e.get("event") == "action"]

    def turn_history(self) -> list[tuple[str, str]]:
        """The conversation as ("intent", name) / ("action", name) steps, listens dropped."""
        steps: list[tuple[str, str]] = []
        for event in self.events:
            kind = event.get("event")
            if kind == "user":
                intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                steps.append(("intent", intent or ""))
            elif kind == "action" and event.get("name") != ACTION_LISTEN:
                steps.append(("action", event.get("name") or ""))
        return steps

    def current_state(self) -> dict[str, Any]:
        """The tracker as rasa-sdk receives it in a webhook request."""
        latest_time = self.events[-1].get("timestamp") if self.events else None
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": dict(self.latest_message),
            "latest_event_time": latest_time,
            "followup_action": self.followup_action,
            "paused": self.paused,
            "events": list(self.events),
            "latest_input_channel": self.latest_input_channel,
            "active_loop": dict(self.active_loop),
            "latest_action": {"action_name": self.latest_action_name} if self.latest_action_name else {},
            "latest_action_name": self.latest_action_name,
        }

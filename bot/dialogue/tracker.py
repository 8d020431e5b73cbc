"""The dialogue tracker: the state of one conversation, folded from Rasa events."""

from __future__ import annotations

from typing import Any

from bot.dialogue.domain import Domain
from bot.dialogue.events import ACTION_LISTEN, Event

# Events Kefu adds to the transcript that are not Rasa events: kept out of what policies
# and rasa-sdk see.
KEFU_ONLY_EVENTS = frozenset({"handoff", "csat", "generation"})


class DialogueTracker:
    """Slots, latest message, active loop and history of one conversation.

    Build it with :meth:`from_events` and keep it current with :meth:`update`; hand
    :meth:`current_state` to rasa-sdk. ``events`` holds the live session's events.
    """

    def __init__(self, sender_id: str, domain: Domain) -> None:
        self.sender_id = sender_id
        self.domain = domain
        self.events: list[Event] = []
        self._reset_state()

    def _reset_state(self, slots: dict[str, Any] | None = None) -> None:
        self.slots: dict[str, Any] = dict(slots) if slots is not None else self.domain.initial_slots()
        self.latest_message: dict[str, Any] = {}
        self.latest_action_name: str | None = None
        self.active_loop: dict[str, Any] = {}
        self.followup_action: str | None = None
        self.paused = False
        self.handoff_state = "bot"
        self.latest_input_channel: str | None = None

    @classmethod
    def from_events(cls, sender_id: str, domain: Domain, events: list[Event]) -> "DialogueTracker":
        tracker = cls(sender_id, domain)
        for event in events:
            tracker.update(event)
        return tracker

    def update(self, event: Event) -> None:
        """Apply one event (Rasa semantics) and remember it."""
        self.events.append(event)
        self._apply(event)

    def _apply(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            self.latest_message = {
                "text": event.get("text"),
                "intent": parse.get("intent") or {},
                "intent_ranking": parse.get("intent_ranking") or [],
                "entities": parse.get("entities") or [],
                "message_id": event.get("message_id"),
                "metadata": event.get("metadata") or {},
            }
            self.latest_input_channel = event.get("input_channel")
            self.latest_action_name = ACTION_LISTEN
            if self.active_loop:
                self.active_loop["rejected"] = False
        elif kind == "action":
            name = event.get("name")
            self.latest_action_name = name
            if self.followup_action == name:
                self.followup_action = None
            if self.active_loop and name == self.active_loop.get("name"):
                self.active_loop["rejected"] = False
        elif kind == "action_execution_rejected":
            if self.active_loop and event.get("name") == self.active_loop.get("name"):
                self.active_loop["rejected"] = True
        elif kind == "slot":
            self.slots[event["name"]] = event.get("value")
        elif kind == "reset_slots":
            self.slots = self.domain.initial_slots()
        elif kind == "active_loop":
            name = event.get("name")
            self.active_loop = {"name": name, "rejected": False} if name else {}
        elif kind == "followup":
            self.followup_action = event.get("name")
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind == "handoff":
            self.handoff_state = event.get("state", "bot")
        elif kind in ("rewind", "undo"):
            self._revert(kind)
        elif kind in ("restart", "session_started"):
            carry = kind == "session_started" and self.domain.carry_over_slots
            self._reset_state(self.slots if carry else None)

    def _revert(self, kind: str) -> None:
        """``rewind`` drops the latest user turn, ``undo`` the latest bot action (Rasa's
        UserUtteranceReverted / ActionReverted): replay everything before it."""
        history = self.events[:-1]
        wanted = "user" if kind == "rewind" else "action"
        for index in range(len(history) - 1, -1, -1):
            event = history[index]
            if event.get("event") == wanted and (wanted == "user" or event.get("name") != ACTION_LISTEN):
                kept = history[:index]
                break
        else:
            kept = []
        marker = self.events[-1]
        self.events = []
        self._reset_state()
        for event in kept:
            self.update(event)
        self.events.append(marker)

    # -- queries ------------------------------------------------------------------------
    @property
    def latest_intent(self) -> str | None:
        return (self.latest_message.get("intent") or {}).get("name")

    @property
    def latest_intent_confidence(self) -> float:
        return float((self.latest_message.get("intent") or {}).get("confidence") or 0.0)

    @property
    def active_loop_name(self) -> str | None:
        return self.active_loop.get("name") if self.active_loop else None

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)

    def events_for_policies(self) -> list[Event]:
        """The session's Rasa events with reverted turns removed (what the dialogue was)."""
        effective: list[Event] = []
        for event in self.events:
            kind = event.get("event")
            if kind in KEFU_ONLY_EVENTS:
                continue
            if kind in ("rewind", "undo"):
                wanted = "user" if kind == "rewind" else "action"
                for index in range(len(effective) - 1, -1, -1):
                    if effective[index].get("event") == wanted and (
                        wanted == "user" or effective[index].get("name") != ACTION_LISTEN
                    ):
                        del effective[index:]
                        break
                continue
            effective.append(event)
        return effective

    def applied_events_since_user(self) -> list[Event]:
        """Events after the latest user message (the current turn so far)."""
        for index in range(len(self.events) - 1, -1, -1):
            if self.events[index].get("event") == "user":
                return self.events[index + 1 :]
        return list(self.events)

    def actions_since_user(self) -> list[str]:
        """Names of the actions run since the latest user message."""
        return [e.get("name") or "" for e in self.applied_events_since_user() if e.get("event") == "action"]

    def slots_set_since_user(self) -> dict[str, Any]:
        """Slots set by events after the latest user message (what a form must validate)."""
        return {e["name"]: e.get("value") for e in self.applied_events_since_user() if e.get("event") == "slot"}

    def current_state(self) -> dict[str, Any]:
        """The tracker as rasa-sdk receives it in a webhook request."""
        events = [e for e in self.events if e.get("event") not in KEFU_ONLY_EVENTS]
        latest_time = events[-1].get("timestamp") if events else None
        active_loop = {"name": self.active_loop_name, "rejected": bool(self.active_loop.get("rejected"))} if self.active_loop else {}
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": dict(self.latest_message),
            "latest_event_time": latest_time,
            "followup_action": self.followup_action,
            "paused": self.paused,
            "events": events,
            "latest_input_channel": self.latest_input_channel,
            "active_loop": active_loop,
            "latest_action": {"action_name": self.latest_action_name} if self.latest_action_name else {},
            "latest_action_name": self.latest_action_name,
        }

"""Forms (Rasa's ``FormAction``): ask for required slots until all are filled.

A form runs in two halves around its optional validation action (``validate_<form>`` on
the action server, when the domain lists it): :func:`start` activates the form or checks
that the customer's answer filled something (else the form rejects the message, which
lets rules answer the digression), then :func:`ask_next` requests the next empty slot or
finishes the form.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bot.dialogue.domain import Domain, Form
from bot.dialogue.events import ACTION_LISTEN, Event, slot
from bot.dialogue.slots import trigger_intent_slots
from bot.dialogue.tracker import DialogueTracker

REQUESTED_SLOT = "requested_slot"


@dataclass
class FormStart:
    events: list[Event] = field(default_factory=list)
    # The custom action to validate the slots set this turn, if the domain declares one.
    validation_action: str | None = None
    # The customer answered while the form was active: after validation, check with
    # :func:`answered` whether the message filled anything, else the form rejects it.
    check_answer: bool = False


@dataclass
class FormAsk:
    events: list[Event] = field(default_factory=list)
    # A custom ``action_ask_<slot>`` to run (on the action server) instead of a template.
    ask_action: str | None = None


def validation_action(domain: Domain, form: Form) -> str | None:
    name = f"validate_{form.name}"
    return name if name in domain.actions else None


def start(form: Form, tracker: DialogueTracker, *, now: float) -> FormStart:
    """Activate ``form``, or prepare to check the customer's answer while it is active."""
    if tracker.active_loop_name != form.name:
        events: list[Event] = [{"event": "active_loop", "timestamp": now, "name": form.name}]
        events += trigger_intent_slots(tracker, form.name, now=now)
        return FormStart(events, validation_action=validation_action(tracker.domain, form))
    if tracker.latest_action_name != ACTION_LISTEN:
        # Back after a digression: no new answer to check, just ask again.
        return FormStart()
    return FormStart(validation_action=validation_action(tracker.domain, form), check_answer=True)


def answered(form: Form, tracker: DialogueTracker, validation_events: list[Event] = ()) -> bool:  # type: ignore[assignment]
    """Did the latest message give the form anything (as extracted, or as its validation
    action set)? A slot validated to None still counts: the form asks again, it does not
    reject. Messages with one of the form's ``ignored_intents`` never count."""
    if tracker.latest_intent in form.ignored_intents:
        return False
    set_now = set(tracker.slots_set_since_user())
    set_now |= {e.get("name") for e in validation_events if e.get("event") == "slot"}
    set_now.discard(REQUESTED_SLOT)
    return any(name in form.required_slots for name in set_now)


def ask_next(form: Form, tracker: DialogueTracker, *, now: float, rng: random.Random) -> FormAsk:
    """Request the next empty required slot, or deactivate the finished form."""
    from bot.dialogue.responses import utter_events  # late: responses imports nothing of forms

    for name in form.required_slots:
        if tracker.get_slot(name) is None:
            events: list[Event] = [slot(REQUESTED_SLOT, name, timestamp=now)]
            custom = f"action_ask_{form.name}_{name}", f"action_ask_{name}"
            for action in custom:
                if action in tracker.domain.actions:
                    return FormAsk(events, ask_action=action)
            for response in (f"utter_ask_{form.name}_{name}", f"utter_ask_{name}"):
                if response in tracker.domain.responses:
                    events += utter_events(tracker.domain, response, tracker.slots, now=now, rng=rng)
                    break
            return FormAsk(events)
    return FormAsk([
        {"event": "active_loop", "timestamp": now, "name": None},
        slot(REQUESTED_SLOT, None, timestamp=now),
    ])


def deactivate(*, now: float) -> list[Event]:
    return [{"event": "active_loop", "timestamp": now, "name": None}, slot(REQUESTED_SLOT, None, timestamp=now)]

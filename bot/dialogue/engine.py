"""The dialogue engine: what to do with a customer message, one action at a time.

The caller (``bot.turns``, ``bot.story_test``) owns I/O. It feeds the events of
:meth:`DialogueEngine.user_message_events` and :meth:`DialogueEngine.extract_slots` in,
asks :meth:`DialogueEngine.next_action`, runs the action — templates and built-ins with
:meth:`run_builtin`, forms with :meth:`form_start` / :meth:`form_ask`, custom actions on
the rasa-sdk server — applies the resulting events and asks again until the engine says
``action_listen``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bot.dialogue import events as ev
from bot.dialogue import fallback, forms
from bot.dialogue.domain import Domain
from bot.dialogue.policy import FALLBACK_INTENT, PolicyEnsemble, Prediction
from bot.dialogue.responses import utter_events
from bot.dialogue.slots import extract_slots
from bot.dialogue.states import canonical_action
from bot.dialogue.tracker import DialogueTracker
from bot.dialogue.training_data import Conversation

# A turn that runs more actions than this is a loop in the rules; stop and listen.
MAX_ACTIONS_PER_TURN = 10
LANGUAGE_SLOT = "language"
KEFU_BUILTINS = (fallback.TWO_STAGE_FALLBACK, fallback.HANDOFF)


@dataclass(frozen=True)
class EngineConfig:
    # Below this confidence the message's intent becomes ``nlu_fallback`` (Rasa's
    # FallbackClassifier); the original ranking is kept for staff review.
    fallback_threshold: float = 0.4
    # Top-two margin under which the message counts as ambiguous (0 switches it off).
    ambiguity_threshold: float = 0.0
    output_channel: str | None = None
    max_history: int = 5


class DialogueEngine:
    """Pure dialogue logic for one project (domain + rules + stories)."""

    def __init__(
        self,
        domain: Domain,
        rules: list[Conversation],
        stories: list[Conversation],
        config: EngineConfig | None = None,
    ) -> None:
        self.domain = domain
        self.config = config or EngineConfig()
        self.policies = PolicyEnsemble(domain, rules, stories, max_history=self.config.max_history)

    # -- sessions -----------------------------------------------------------------------
    @property
    def session_ttl_s(self) -> int | None:
        minutes = self.domain.session_expiration_minutes
        return int(minutes * 60) if minutes > 0 else None

    def session_start_events(self, previous_slots: dict[str, Any], *, now: float) -> list[ev.Event]:
        """``action_session_start``: a new session, carrying slots over when configured."""
        events = [ev.action(ev.ACTION_SESSION_START, timestamp=now), ev.session_started(timestamp=now)]
        if self.domain.carry_over_slots:
            for name, value in previous_slots.items():
                slot = self.domain.slots.get(name)
                if slot is not None and value is not None and value != slot.initial_value and name != forms.REQUESTED_SLOT:
                    events.append(ev.slot(name, value, timestamp=now))
        events.append(ev.action(ev.ACTION_LISTEN, timestamp=now))
        return events

    # -- a customer message ----------------------------------------------------------------
    def interpret(self, parse: dict[str, Any]) -> dict[str, Any]:
        """Apply the fallback threshold to an NLU parse (keeps the original ranking)."""
        intent = parse.get("intent") or {}
        confidence = float(intent.get("confidence") or 0.0)
        ranking = parse.get("intent_ranking") or []
        ambiguous = (
            self.config.ambiguity_threshold > 0
            and len(ranking) > 1
            and float(ranking[0]["confidence"]) - float(ranking[1]["confidence"]) < self.config.ambiguity_threshold
        )
        if intent.get("name") != FALLBACK_INTENT and (confidence < self.config.fallback_threshold or ambiguous):
            parse = dict(parse)
            parse["intent"] = {"name": FALLBACK_INTENT, "confidence": confidence}
            parse["fallback_from"] = intent
        return parse

    def user_message_events(
        self,
        tracker: DialogueTracker,
        text: str,
        parse: dict[str, Any],
        *,
        now: float,
        message_id: str | None = None,
        input_channel: str | None = None,
    ) -> list[ev.Event]:
        """The ``user`` event for a message, then the ``language`` slot if it changed."""
        parse = self.interpret(parse)
        events = [ev.user(text, parse, timestamp=now, message_id=message_id, input_channel=input_channel)]
        language = parse.get("language")
        if (
            LANGUAGE_SLOT in self.domain.slots
            and language
            and parse.get("language_detected", True)
            and tracker.get_slot(LANGUAGE_SLOT) != language
        ):
            events.append(ev.slot(LANGUAGE_SLOT, language, timestamp=now))
        return events

    def extract_slots(self, tracker: DialogueTracker, *, now: float) -> list[ev.Event]:
        """Slots the latest message fills (run after its events are applied)."""
        return extract_slots(tracker, now=now)

    # -- choosing and running actions ------------------------------------------------------
    def next_action(self, tracker: DialogueTracker) -> Prediction:
        if tracker.paused:
            return Prediction(ev.ACTION_LISTEN, "Paused")
        if len(tracker.actions_since_user()) >= MAX_ACTIONS_PER_TURN:
            return Prediction(ev.ACTION_LISTEN, "LoopGuard")
        prediction = self.policies.predict(tracker)
        return Prediction(canonical_action(prediction.action), prediction.policy, prediction.confidence)

    def is_form(self, name: str) -> bool:
        return name in self.domain.forms

    def is_custom_action(self, name: str) -> bool:
        return self.domain.is_custom_action(name) and name not in KEFU_BUILTINS

    def run_builtin(
        self, name: str, tracker: DialogueTracker, *, now: float, rng: random.Random
    ) -> list[ev.Event]:
        """Events for a response template or a built-in action (not forms, not custom)."""
        if name == ev.ACTION_LISTEN:
            return []
        if name == ev.ACTION_RESTART:
            return [ev.restarted(timestamp=now)]
        if name == ev.ACTION_DEFAULT_FALLBACK:
            said = self.utter("utter_default", tracker, now=now, rng=rng)
            return said or [ev.bot("Sorry, I didn't get that.", timestamp=now, metadata={"source": "template"})]
        if name == "action_deactivate_loop":
            return forms.deactivate(now=now)
        if name == fallback.TWO_STAGE_FALLBACK:
            return fallback.two_stage_fallback(tracker, now=now, rng=rng)
        if name == fallback.HANDOFF:
            return fallback.handoff_events(tracker, now=now, rng=rng)
        if name == "action_back":
            return [{"event": "rewind", "timestamp": now}, {"event": "rewind", "timestamp": now}]
        if name in self.domain.responses:
            return self.utter(name, tracker, now=now, rng=rng)
        return []

    def utter(self, name: str, tracker: DialogueTracker, *, now: float, rng: random.Random) -> list[ev.Event]:
        return utter_events(self.domain, name, tracker.slots, now=now, rng=rng, channel=self.config.output_channel)

    def form_start(self, name: str, tracker: DialogueTracker, *, now: float) -> forms.FormStart:
        return forms.start(self.domain.forms[name], tracker, now=now)

    def form_answered(self, name: str, tracker: DialogueTracker, validation_events: list[ev.Event]) -> bool:
        return forms.answered(self.domain.forms[name], tracker, validation_events)

    def form_ask(self, name: str, tracker: DialogueTracker, *, now: float, rng: random.Random) -> forms.FormAsk:
        return forms.ask_next(self.domain.forms[name], tracker, now=now, rng=rng)


__all__ = ["DialogueEngine", "EngineConfig", "Domain", "MAX_ACTIONS_PER_TURN"]

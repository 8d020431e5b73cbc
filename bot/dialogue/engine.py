"""The dialogue engine: what to do with a customer message, one action at a time.

The caller (``bot.turns``) owns I/O: it feeds events in, asks :meth:`DialogueEngine.next_action`,
runs the action (templates and built-ins here, custom actions over rasa-sdk), applies the
resulting events and asks again until the engine says ``action_listen``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bot.dialogue import events as ev
from bot.dialogue.domain import Domain
from bot.dialogue.policy import PolicyEnsemble, Prediction, StepSequence
from bot.dialogue.responses import choose_variation, render_response
from bot.dialogue.tracker import DialogueTracker

# A turn that runs more actions than this is a loop in the rules; stop and listen.
MAX_ACTIONS_PER_TURN = 10
FALLBACK_INTENT = "nlu_fallback"
LANGUAGE_SLOT = "language"


@dataclass(frozen=True)
class EngineConfig:
    # Below this confidence the message's intent becomes ``nlu_fallback`` (Rasa's
    # FallbackClassifier); the original ranking is kept for staff review.
    fallback_threshold: float = 0.4
    # Top-two margin under which the message counts as ambiguous.
    ambiguity_threshold: float = 0.0
    output_channel: str | None = None


class DialogueEngine:
    """Pure dialogue logic for one project (domain + rules + stories)."""

    def __init__(
        self,
        domain: Domain,
        rules: list[StepSequence],
        stories: list[StepSequence],
        config: EngineConfig | None = None,
    ) -> None:
        self.domain = domain
        self.config = config or EngineConfig()
        self.policies = PolicyEnsemble(domain, rules, stories)

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
                if slot is not None and value is not None and value != slot.initial_value:
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
        """The events a customer message adds: the ``user`` event, then slot fills."""
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
        events.extend(self._entity_slot_events(tracker, parse, now=now))
        return events

    def _entity_slot_events(self, tracker: DialogueTracker, parse: dict[str, Any], *, now: float) -> list[ev.Event]:
        """Fill slots whose from_entity mapping matches an extracted entity."""
        intent = (parse.get("intent") or {}).get("name")
        found: list[ev.Event] = []
        for slot in self.domain.slots.values():
            for mapping in slot.mappings:
                if mapping.type != "from_entity" or mapping.conditions:
                    continue
                if mapping.intent and intent not in mapping.intent:
                    continue
                if intent in mapping.not_intent:
                    continue
                for entity in parse.get("entities") or []:
                    if entity.get("entity") != mapping.entity:
                        continue
                    if mapping.role and entity.get("role") != mapping.role:
                        continue
                    if tracker.get_slot(slot.name) != entity.get("value"):
                        found.append(ev.slot(slot.name, entity.get("value"), timestamp=now))
                    break
                else:
                    continue
                break
        return found

    # -- choosing and running actions ------------------------------------------------------
    def next_action(self, tracker: DialogueTracker) -> Prediction:
        if len(tracker.actions_since_user()) >= MAX_ACTIONS_PER_TURN:
            return Prediction(ev.ACTION_LISTEN, "LoopGuard")
        return self.policies.predict(tracker)

    def is_custom_action(self, name: str) -> bool:
        return self.domain.is_custom_action(name)

    def run_builtin(
        self, name: str, tracker: DialogueTracker, *, now: float, rng: random.Random
    ) -> list[ev.Event]:
        """Events for a response template or a built-in action (never a custom action)."""
        if name == ev.ACTION_LISTEN:
            return []
        if name == ev.ACTION_RESTART:
            return [ev.restarted(timestamp=now)]
        if name == ev.ACTION_DEFAULT_FALLBACK:
            return self._utter("utter_default", tracker, now=now, rng=rng, default="Sorry, I didn't get that.")
        if name == "action_deactivate_loop":
            return [{"event": "active_loop", "timestamp": now, "name": None}]
        if name in self.domain.responses:
            return self._utter(name, tracker, now=now, rng=rng)
        return []

    def _utter(
        self,
        name: str,
        tracker: DialogueTracker,
        *,
        now: float,
        rng: random.Random,
        default: str | None = None,
    ) -> list[ev.Event]:
        variations = self.domain.responses.get(name)
        variation = (
            choose_variation(variations, tracker.slots, channel=self.config.output_channel, rng=rng)
            if variations
            else None
        )
        if variation is None:
            if default is None:
                return []
            return [ev.bot(default, timestamp=now, metadata={"utter_action": name, "source": "template"})]
        text, data = render_response(variation, tracker.slots)
        return [ev.bot(text, timestamp=now, data=data, metadata={"utter_action": name, "source": "template"})]

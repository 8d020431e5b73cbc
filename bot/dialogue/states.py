"""Dialogue states: what the policies look at, as small sets of feature strings.

For each action the bot takes, the state before it holds:

- ``prev:<action>``      the previous action (``action_listen`` right after the customer spoke);
- ``intent:<name>`` and ``entity:<name>``  the customer's message, only in the state right
  after they spoke (so "intent, action A, action B" is a chain of prev-action states);
- ``loop:<name>``        the active loop (form), if any;
- ``slot:<name>:<value>`` slots that influence the conversation, featurised by type.

Rules are matched by *subset*: a rule names only what it cares about. A rule that sets a
slot or the loop to null asks for its absence, written ``!slot:<name>`` / ``!loop``.
Stories are matched *exactly* (memoization), as Rasa does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.dialogue.domain import Domain
from bot.dialogue.events import ACTION_LISTEN, ACTION_SESSION_START, Event

State = frozenset[str]

# Kefu and Rasa bookkeeping that never shapes the dialogue.
_SKIPPED_ACTIONS = frozenset({ACTION_SESSION_START, "action_extract_slots"})
# Rasa 2 names still found in older projects.
ACTION_ALIASES = {"action_deactivate_form": "action_deactivate_loop"}


def canonical_action(name: str) -> str:
    return ACTION_ALIASES.get(name, name)


def featurize_slot(domain: Domain, name: str, value: Any) -> str | None:
    """The feature a slot value contributes, or None when it contributes nothing."""
    slot = domain.slots.get(name)
    if slot is None or not slot.influence_conversation or value is None:
        return None
    kind = slot.type
    if kind == "bool":
        return f"slot:{name}:{str(bool(value)).lower()}"
    if kind == "categorical":
        text = str(value).lower()
        known = {str(v).lower() for v in slot.values}
        return f"slot:{name}:{text if text in known else '__other__'}"
    if kind in ("text", "list", "any", "float"):
        if value == [] or value == "":
            return None
        return f"slot:{name}:set"
    return f"slot:{name}:set"


def _entity_features(domain: Domain, intent: str | None, entities: Iterable[dict[str, Any]]) -> set[str]:
    allowed = domain.intent_entities.get(intent or "") if intent else None
    names = {str(e.get("entity")) for e in entities if e.get("entity")}
    if allowed is None:
        return {f"entity:{n}" for n in names}
    if allowed and all(a.startswith("!") for a in allowed):  # ignore_entities
        ignored = {a[1:] for a in allowed}
        return {f"entity:{n}" for n in names - ignored}
    return {f"entity:{n}" for n in names & set(allowed)}


class StateBuilder:
    """Folds events into the state seen before each action (Rasa's tracker featurizer)."""

    def __init__(self, domain: Domain, *, as_rule: bool = False) -> None:
        self.domain = domain
        self.as_rule = as_rule
        self.prev: str | None = None if as_rule else ACTION_LISTEN
        self.user: set[str] = set()
        self.loop: str | None = None
        self.loop_nulled = False
        self.slots: dict[str, str] = {}
        self.nulled_slots: set[str] = set()

    def state(self) -> State:
        features: set[str] = set()
        if self.prev is not None:
            features.add(f"prev:{self.prev}")
        if self.prev == ACTION_LISTEN or self.prev is None:
            features |= self.user
        if self.loop:
            features.add(f"loop:{self.loop}")
        elif self.as_rule and self.loop_nulled:
            features.add("!loop")
        features |= set(self.slots.values())
        if self.as_rule:
            features |= {f"!slot:{n}" for n in self.nulled_slots}
        return frozenset(features)

    def apply(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            self.user = ({f"intent:{intent}"} if intent else set()) | _entity_features(
                self.domain, intent, parse.get("entities") or []
            )
            self.prev = ACTION_LISTEN
        elif kind == "action":
            name = canonical_action(str(event.get("name")))
            if name not in _SKIPPED_ACTIONS:
                self.prev = name
        elif kind == "slot":
            name = str(event.get("name"))
            feature = featurize_slot(self.domain, name, event.get("value"))
            if feature is None:
                self.slots.pop(name, None)
                if event.get("value") is None and name in self.domain.slots:
                    self.nulled_slots.add(name)
            else:
                self.slots[name] = feature
                self.nulled_slots.discard(name)
        elif kind == "active_loop":
            self.loop = event.get("name")
            self.loop_nulled = self.loop is None
        elif kind in ("restart", "session_started"):
            self.__init__(self.domain, as_rule=self.as_rule)  # type: ignore[misc]


def states_and_actions(domain: Domain, events: list[Event], *, as_rule: bool = False) -> list[tuple[State, str]]:
    """``(state before the action, action)`` for every action in ``events``."""
    builder = StateBuilder(domain, as_rule=as_rule)
    pairs: list[tuple[State, str]] = []
    for event in events:
        if event.get("event") == "action":
            name = canonical_action(str(event.get("name")))
            if name not in _SKIPPED_ACTIONS:
                pairs.append((builder.state(), name))
        builder.apply(event)
    return pairs


def current_states(domain: Domain, events: list[Event]) -> list[State]:
    """The states before each action so far, plus the state now (what comes next)."""
    builder = StateBuilder(domain)
    states: list[State] = []
    for event in events:
        if event.get("event") == "action" and canonical_action(str(event.get("name"))) not in _SKIPPED_ACTIONS:
            states.append(builder.state())
        builder.apply(event)
    states.append(builder.state())
    return states

"""Choosing the next action: rules, then remembered stories, then the active loop's needs.

The order follows Rasa's policy priorities. Rules (RulePolicy) match by feature subset
and win; stories (MemoizationPolicy, ``max_history`` states) match exactly, and with
``augment`` also on shorter tails. An active loop (a form, or the two-stage fallback)
is predicted while it runs, unless the customer's message was rejected by it, in which
case the rules answer the digression and the loop resumes afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.domain import Domain
from bot.dialogue.events import ACTION_DEFAULT_FALLBACK, ACTION_LISTEN
from bot.dialogue.states import State, current_states, states_and_actions
from bot.dialogue.tracker import DialogueTracker
from bot.dialogue.training_data import Conversation

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class Prediction:
    action: str
    policy: str
    confidence: float = 1.0


@dataclass(frozen=True)
class RuleKey:
    """States a rule needs (oldest first) and the action it then predicts."""

    states: tuple[State, ...]
    action: str
    conversation_start: bool
    name: str

    @property
    def mentions_loop(self) -> bool:
        return any(f.startswith("loop:") or f == "!loop" for s in self.states for f in s)


def _state_matches(required: State, actual: State, *, ignore_loop: bool = False) -> bool:
    for feature in required:
        if feature.startswith("!"):
            prefix = feature[1:]
            if any(a == prefix or a.startswith(prefix + ":") for a in actual):
                return False
        elif ignore_loop and feature.startswith("loop:"):
            continue
        elif feature not in actual:
            return False
    return True


class RulePolicy:
    name = "RulePolicy"

    def __init__(self, domain: Domain, rules: list[Conversation]) -> None:
        self.keys: list[RuleKey] = []
        for rule in rules:
            pairs = states_and_actions(domain, list(rule.events), as_rule=True)
            # The listen before a rule's first message is how it starts, not part of the
            # pattern; its conditions carry on into the next state anyway.
            while pairs and pairs[0][1] == ACTION_LISTEN:
                pairs = pairs[1:]
            for k, (state, action) in enumerate(pairs):
                if not any(f.startswith("prev:") for f in state):
                    continue  # a rule never predicts its first step without a prior action
                self.keys.append(RuleKey(tuple(s for s, _ in pairs[: k + 1]), action, rule.conversation_start, rule.name))
            if pairs and rule.wait_for_user_input:
                final = states_and_actions(domain, list(rule.events) + [{"event": "action", "name": ACTION_LISTEN}], as_rule=True)
                final = final[len(final) - len(pairs) - 1 :]
                self.keys.append(RuleKey(tuple(s for s, _ in final), ACTION_LISTEN, rule.conversation_start, rule.name))
        self.keys = list({(k.states, k.action, k.conversation_start): k for k in self.keys}.values())

    def matches(self, states: list[State], *, ignore_loop: bool = False) -> list[RuleKey]:
        found = []
        for key in self.keys:
            n = len(key.states)
            # A conversation-start rule may only be preceded by the session's opening listen.
            if n > len(states) or (key.conversation_start and len(states) - n > 1):
                continue
            tail = states[-n:]
            if all(_state_matches(r, a, ignore_loop=ignore_loop and not key.mentions_loop) for r, a in zip(key.states, tail)):
                found.append(key)
        return found

    def predict(self, states: list[State], *, exclude: str | None = None, ignore_loop: bool = False) -> RuleKey | None:
        candidates = [k for k in self.matches(states, ignore_loop=ignore_loop) if k.action != exclude]
        if not candidates:
            return None
        # The most specific rule wins: longest, then the one naming the most features.
        return max(candidates, key=lambda k: (len(k.states), sum(len(s) for s in k.states)))


class MemoizationPolicy:
    name = "MemoizationPolicy"

    def __init__(self, domain: Domain, stories: list[Conversation], *, max_history: int = 5, augment: bool = True) -> None:
        self.max_history = max_history
        self.augment = augment
        self.lookup: dict[tuple[State, ...], str] = {}
        ambiguous: set[tuple[State, ...]] = set()
        for story in stories:
            pairs = states_and_actions(domain, list(story.events))
            for k, (_, action) in enumerate(pairs):
                lengths = range(1, max_history + 1) if augment else (max_history,)
                for length in lengths:
                    window = tuple(s for s, _ in pairs[max(0, k + 1 - length) : k + 1])
                    if self.lookup.get(window, action) != action:
                        ambiguous.add(window)
                    self.lookup[window] = action
                    if len(window) < length:
                        break  # the story is shorter than this history; longer ones are the same
        # A history that led to different actions in different stories predicts nothing.
        for window in ambiguous:
            self.lookup.pop(window, None)

    def predict(self, states: list[State], *, exclude: str | None = None) -> str | None:
        lengths = range(min(self.max_history, len(states)), 0, -1) if self.augment else (min(self.max_history, len(states)),)
        for length in lengths:
            action = self.lookup.get(tuple(states[-length:]))
            if action is not None and action != exclude:
                return action
        return None


class PolicyEnsemble:
    """Rules, stories, loops and defaults in Rasa's order of priority."""

    def __init__(self, domain: Domain, rules: list[Conversation], stories: list[Conversation],
                 *, max_history: int = 5) -> None:
        self.domain = domain
        self.rules = RulePolicy(domain, rules)
        self.memo = MemoizationPolicy(domain, stories, max_history=max_history)

    def predict(self, tracker: DialogueTracker) -> Prediction:
        if tracker.followup_action:
            return Prediction(tracker.followup_action, "followup")
        states = current_states(self.domain, tracker.events_for_policies())
        loop = tracker.active_loop_name
        latest = tracker.latest_action_name
        if loop:
            if tracker.active_loop.get("rejected"):
                return self._after_rejection(tracker, states, loop)
            if latest == loop:
                return Prediction(ACTION_LISTEN, "LoopPolicy")
            # Rules written for this loop (its unhappy paths) come before the loop itself.
            key = self.rules.predict(states)
            if key is not None and key.mentions_loop and key.action != loop:
                return Prediction(key.action, self.rules.name)
            if latest != ACTION_LISTEN:
                memo = self.memo.predict(states, exclude=loop)
                if memo is not None:
                    return Prediction(memo, self.memo.name)
            return Prediction(loop, "LoopPolicy")
        key = self.rules.predict(states)
        if key is not None:
            return Prediction(key.action, self.rules.name)
        memo = self.memo.predict(states)
        if memo is not None:
            return Prediction(memo, self.memo.name)
        if latest == ACTION_LISTEN and tracker.latest_message:
            return self._intent_default(tracker)
        return Prediction(ACTION_LISTEN, "DefaultListen")

    def _after_rejection(self, tracker: DialogueTracker, states: list[State], loop: str) -> Prediction:
        """The loop rejected the message: answer the digression, then go back to the loop.

        General rules apply here as if no loop were active (an FAQ answered mid-form); a
        general rule's closing ``action_listen`` is replaced by the loop, as Rasa does.
        """
        key = self.rules.predict(states, exclude=loop, ignore_loop=True)
        if key is not None and not (key.action == ACTION_LISTEN and not key.mentions_loop):
            return Prediction(key.action, self.rules.name)
        memo = self.memo.predict(states, exclude=loop)
        if memo is not None:
            return Prediction(memo, self.memo.name)
        if tracker.latest_action_name == ACTION_LISTEN:
            return self._intent_default(tracker)
        return Prediction(loop, "LoopPolicy")

    def _intent_default(self, tracker: DialogueTracker) -> Prediction:
        """Nothing matched right after a message: the intent's own response, else fallback."""
        own = f"utter_{tracker.latest_intent}"
        if tracker.latest_intent != FALLBACK_INTENT and own in self.domain.responses:
            return Prediction(own, "IntentResponsePolicy")
        return Prediction(ACTION_DEFAULT_FALLBACK, "FallbackPolicy")

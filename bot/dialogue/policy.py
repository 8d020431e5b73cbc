"""Predicting the next action from rules and stories (first version).

Rules and stories are turned into step sequences of ("intent", name) / ("action", name).
A sequence predicts its step k (an action) when the conversation so far ends with its
steps 0..k-1; after its last action it predicts ``action_listen``. Longer matches win,
rules before stories (Rasa's priority). When nothing matches right after a message, the
intent's own response ``utter_<intent>`` answers, else the default fallback.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from bot.dialogue.domain import Domain
from bot.dialogue.events import ACTION_DEFAULT_FALLBACK, ACTION_LISTEN
from bot.dialogue.tracker import DialogueTracker
from bot.errors import ProjectError

Step = tuple[str, str]


@dataclass(frozen=True)
class Prediction:
    action: str
    policy: str
    confidence: float = 1.0


@dataclass(frozen=True)
class StepSequence:
    name: str
    steps: tuple[Step, ...]
    conversation_start: bool = False
    wait_for_user_input: bool = True


def _expand_steps(name: str, raw_steps: list[Any]) -> list[tuple[Step, ...]]:
    """All step sequences a rule/story describes (``or`` steps multiply them)."""
    options: list[list[Step]] = []
    for raw in raw_steps or []:
        if not isinstance(raw, dict):
            raise ProjectError(f"{name}: each step must be a mapping, got {raw!r}")
        if "intent" in raw:
            options.append([("intent", str(raw["intent"]))])
        elif "user" in raw and "intent" not in raw:
            raise ProjectError(f"{name}: a `user` step also needs its `intent`")
        elif "action" in raw:
            options.append([("action", str(raw["action"]))])
        elif "or" in raw:
            alternatives = [("intent", str(a["intent"])) for a in raw["or"] if "intent" in a]
            if alternatives:
                options.append(alternatives)
        # slot_was_set, active_loop and checkpoint steps shape forms and story joins; the
        # full engine reads them, this first version matches on intents and actions.
    return [tuple(choice) for choice in itertools.product(*options)] if options else []


def load_sequences(items: list[dict[str, Any]], kind: str) -> list[StepSequence]:
    sequences: list[StepSequence] = []
    for item in items or []:
        name = str(item.get(kind) or item.get("rule") or item.get("story") or "unnamed")
        for steps in _expand_steps(name, item.get("steps") or []):
            sequences.append(
                StepSequence(
                    name=name,
                    steps=steps,
                    conversation_start=bool(item.get("conversation_start", False)),
                    wait_for_user_input=bool(item.get("wait_for_user_input", True)),
                )
            )
    return sequences


class MemoizationPolicy:
    """Predicts from remembered step sequences (rules or stories)."""

    def __init__(self, sequences: list[StepSequence], *, name: str) -> None:
        self.sequences = sequences
        self.name = name

    def predict(self, history: list[Step]) -> tuple[str, int] | None:
        """``(action, matched length)`` of the longest matching sequence, or None."""
        best: tuple[str, int] | None = None
        for sequence in self.sequences:
            steps = sequence.steps
            for k in range(1, len(steps) + 1):
                prefix = steps[:k]
                if k < len(steps) and steps[k][0] != "action":
                    continue
                if len(history) < k or tuple(history[-k:]) != prefix:
                    continue
                if sequence.conversation_start and len(history) != k:
                    continue
                if k == len(steps):
                    if steps[-1][0] != "action" or not sequence.wait_for_user_input:
                        continue
                    action = ACTION_LISTEN
                else:
                    action = steps[k][1]
                if best is None or k > best[1]:
                    best = (action, k)
        return best


class PolicyEnsemble:
    """Rules first, then stories, then the intent's own response, then the fallback."""

    def __init__(self, domain: Domain, rules: list[StepSequence], stories: list[StepSequence]) -> None:
        self.domain = domain
        self.rules = MemoizationPolicy(rules, name="RulePolicy")
        self.stories = MemoizationPolicy(stories, name="MemoizationPolicy")

    def predict(self, tracker: DialogueTracker) -> Prediction:
        if tracker.followup_action:
            return Prediction(tracker.followup_action, "followup")
        history = tracker.turn_history()
        for policy in (self.rules, self.stories):
            found = policy.predict(history)
            if found is not None:
                return Prediction(found[0], policy.name)
        if tracker.latest_message and not tracker.actions_since_user():
            intent = tracker.latest_intent or ""
            own = f"utter_{intent}"
            if own in self.domain.responses:
                return Prediction(own, "IntentResponsePolicy")
            return Prediction(ACTION_DEFAULT_FALLBACK, "FallbackPolicy")
        return Prediction(ACTION_LISTEN, "DefaultListen")

"""``kefu test``: run Rasa end-to-end test stories against the dialogue engine and the NLU.

As ``rasa test`` does, actions are not executed: the story's own events (``active_loop``,
``slot_was_set``) are applied, and at every ``action`` step the engine must predict that
action. The exception is the few pure built-ins that reshape the dialogue (two-stage
fallback, handoff, loop deactivation, restart): they run, as they would live. A customer step is parsed by the NLU model and its intent (and entities, when the
step names them) must match; the story then continues with the gold intent. When the
engine predicts the active form where the story does something else, the form is taken as
having rejected the message and the engine is asked again (Rasa's rule).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.dialogue import events as ev
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.states import canonical_action
from bot.dialogue.tracker import DialogueTracker
from bot.dialogue.training_data import strip_annotations
from bot.errors import ProjectError
from bot.nlu import NluService, detect_language
from bot.project import read_yaml


# Built-in actions whose events shape what comes next, so `kefu test` runs them.
EXECUTED_IN_TESTS = frozenset({"action_two_stage_fallback", "action_handoff_to_human", "action_deactivate_loop",
                               "action_restart", "action_back"})


@dataclass
class Divergence:
    step: int
    kind: str  # "action", "intent" or "entities"
    expected: Any
    predicted: Any


@dataclass
class StoryResult:
    story: str
    file: str
    passed: bool
    divergence: Divergence | None = None


@dataclass
class TestReport:
    stories: int = 0
    passed: int = 0
    failed: int = 0
    results: list[StoryResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"stories": self.stories, "passed": self.passed, "failed": self.failed,
                "results": [asdict(r) for r in self.results]}


def test_story_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
    return [p for p in files if "stories" in (read_yaml(p) or {})]


def _gold_entities(step: dict[str, Any]) -> list[dict[str, Any]]:
    text = step.get("user")
    if isinstance(text, str):
        return strip_annotations(text.strip())[1]
    return []


async def run_story(engine: DialogueEngine, nlu: NluService | None, story: dict[str, Any], *, file: str) -> StoryResult:
    name = str(story.get("story", "unnamed"))
    now = time.time()
    tracker = DialogueTracker(f"test-{name}", engine.domain)
    for event in engine.session_start_events({}, now=now):
        tracker.update(event)

    def fail(step: int, kind: str, expected: Any, predicted: Any) -> StoryResult:
        return StoryResult(name, file, False, Divergence(step, kind, expected, predicted))

    for index, step in enumerate(story.get("steps") or [], start=1):
        if not isinstance(step, dict):
            raise ProjectError(f"{file}: story '{name}' step {index}: expected a mapping")
        if "intent" in step or "user" in step:
            if tracker.latest_action_name != ev.ACTION_LISTEN:
                predicted = engine.next_action(tracker).action
                if predicted != ev.ACTION_LISTEN:
                    return fail(index, "action", ev.ACTION_LISTEN, predicted)
                tracker.update(ev.action(ev.ACTION_LISTEN, timestamp=now))
            raw_text = step.get("user")
            text = strip_annotations(raw_text.strip())[0] if isinstance(raw_text, str) else f"/{step.get('intent')}"
            gold_intent = step.get("intent")
            gold_entities = _gold_entities(step)
            parse: dict[str, Any] = {"text": text, "entities": gold_entities,
                                     "intent": {"name": gold_intent, "confidence": 1.0}}
            if nlu is not None and isinstance(raw_text, str):
                predicted_parse = engine.interpret(await nlu.parse(text))
                predicted_intent = (predicted_parse.get("intent") or {}).get("name")
                if gold_intent and predicted_intent != gold_intent:
                    return fail(index, "intent", gold_intent, predicted_intent)
                if gold_entities:
                    want = {(e["entity"], str(e["value"])) for e in gold_entities}
                    got = {(e.get("entity"), str(e.get("value"))) for e in predicted_parse.get("entities") or []}
                    if not want <= got:
                        return fail(index, "entities", sorted(want), sorted(got))
                parse["intent_ranking"] = predicted_parse.get("intent_ranking", [])
            # A button payload says nothing about the customer's language (as live).
            language = None if text.startswith("/") else detect_language(text)
            parse["language"], parse["language_detected"] = language, language is not None
            for event in engine.user_message_events(tracker, text, parse, now=now):
                tracker.update(event)
            for event in engine.extract_slots(tracker, now=now):
                tracker.update(event)
        elif "action" in step:
            gold = canonical_action(str(step["action"]))
            predicted = engine.next_action(tracker).action
            loop = tracker.active_loop_name
            if predicted != gold and loop and predicted == loop:
                tracker.update({"event": "action_execution_rejected", "timestamp": now, "name": loop})
                predicted = engine.next_action(tracker).action
            if predicted != gold:
                return fail(index, "action", gold, predicted)
            tracker.update(ev.action(gold, timestamp=now))
            if gold in EXECUTED_IN_TESTS:
                # Pure built-ins that change the dialogue itself run as they would live
                # (the two-stage fallback's rewinds, the handoff's pause).
                for event in engine.run_builtin(gold, tracker, now=now, rng=random.Random(0)):
                    tracker.update(event)
        elif "slot_was_set" in step:
            items = step["slot_was_set"] if isinstance(step["slot_was_set"], list) else [step["slot_was_set"]]
            for item in items:
                pairs = item.items() if isinstance(item, dict) else [(item, True)]
                for slot_name, value in pairs:
                    tracker.update(ev.slot(str(slot_name), value, timestamp=now))
        elif "active_loop" in step:
            tracker.update({"event": "active_loop", "timestamp": now, "name": step["active_loop"]})
        elif "checkpoint" in step:
            continue
        else:
            raise ProjectError(f"{file}: story '{name}' step {index}: unknown step {sorted(step)}")
    return StoryResult(name, file, True)


async def run_test_stories(engine: DialogueEngine, nlu: NluService | None, path: Path) -> TestReport:
    report = TestReport()
    for file in test_story_files(path):
        for story in (read_yaml(file) or {}).get("stories") or []:
            result = await run_story(engine, nlu, story, file=str(file))
            report.results.append(result)
            report.stories += 1
            report.passed += result.passed
            report.failed += not result.passed
    return report


def write_report(report: TestReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")

"""Dialogue-turn latency without NLU: the pure engine on the default bot.

Runs scripted conversations (greeting, FAQ, a form with its answers, a digression, the
two-stage fallback) through :class:`bot.dialogue.DialogueEngine` exactly as ``bot.turns``
does minus storage, and prints one JSON line: turns, median and p99 per turn in ms.

    .venv/bin/python benchmarks/dialogue.py [--project dialogues] [--conversations 300]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.dialogue import DialogueTracker  # noqa: E402
from bot.dialogue.engine import DialogueEngine  # noqa: E402
from bot.project import load_project  # noqa: E402

SCRIPT = [
    ("hello", "greet", []),
    ("where is my order", "track_order", []),
    ("how long does delivery take", "delivery_period", []),
    ("ORD-10003", "inform", [{"entity": "order_id", "value": "ORD-10003"}]),
    ("thanks", "thank_you", []),
    ("blorp", "greet", []),  # low confidence: two-stage fallback
    ("/greet", "greet", []),
    ("bye", "goodbye", []),
]


def parse(intent: str, entities: list, confidence: float) -> dict:
    return {"intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "entities": entities, "language": "en"}


def run_turn(engine: DialogueEngine, tracker: DialogueTracker, text: str, nlu: dict, rng: random.Random) -> None:
    for event in engine.user_message_events(tracker, text, nlu, now=1.0):
        tracker.update(event)
    for event in engine.extract_slots(tracker, now=1.0):
        tracker.update(event)
    while True:
        action = engine.next_action(tracker).action
        if action == "action_listen":
            tracker.update({"event": "action", "name": action})
            return
        if engine.is_form(action):
            start = engine.form_start(action, tracker, now=1.0)
            if start.check_answer and not engine.form_answered(action, tracker, []):
                tracker.update({"event": "action_execution_rejected", "name": action})
                continue
            events = [{"event": "action", "name": action}, *start.events,
                      *engine.form_ask(action, tracker, now=1.0, rng=rng).events]
        elif engine.is_custom_action(action):
            events = [{"event": "action", "name": action}]  # the action server's part is I/O
        else:
            events = [{"event": "action", "name": action}, *engine.run_builtin(action, tracker, now=1.0, rng=rng)]
        for event in events:
            tracker.update(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("dialogues"), help="Rasa project folder")
    parser.add_argument("--conversations", type=int, default=300, help="scripted conversations to run")
    args = parser.parse_args()
    engine = load_project(args.project).engine()
    rng = random.Random(0)
    timings: list[float] = []
    for n in range(args.conversations):
        tracker = DialogueTracker(f"bench-{n}", engine.domain)
        for event in engine.session_start_events({}, now=1.0):
            tracker.update(event)
        for text, intent, entities in SCRIPT:
            confidence = 0.2 if text == "blorp" else 0.95
            started = time.perf_counter()
            run_turn(engine, tracker, text, parse(intent, entities, confidence), rng)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(json.dumps({
        "turns": len(timings),
        "turn_ms_p50": round(statistics.median(timings), 4),
        "turn_ms_p99": round(timings[int(len(timings) * 0.99) - 1], 4),
        "rules": len(engine.policies.rules.keys),
        "story_states": len(engine.policies.memo.lookup),
    }))


if __name__ == "__main__":
    main()

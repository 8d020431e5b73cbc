"""The dialogue core with plain calls: no Redis, no sockets, no model."""

from __future__ import annotations

import random

import pytest

from bot.dialogue import DialogueEngine, DialogueTracker, Domain
from bot.dialogue.engine import EngineConfig
from bot.dialogue.training_data import load_rules, load_stories
from bot.errors import ProjectError

DOMAIN = {
    "intents": ["greet", "track_order", "thank_you", "goodbye", "out_of_scope"],
    "entities": ["order_id"],
    "slots": {
        "language": {"type": "categorical", "values": ["en", "zh"], "influence_conversation": False,
                     "mappings": [{"type": "custom"}]},
        "order_id": {"type": "text", "mappings": [{"type": "from_entity", "entity": "order_id"}]},
    },
    "responses": {
        "utter_greet": [
            {"text": "您好！", "condition": [{"type": "slot", "name": "language", "value": "zh"}]},
            {"text": "Hello!", "buttons": [{"title": "Track my order", "payload": "/track_order"}]},
        ],
        "utter_track_order": [{"text": "Let me look up order {order_id}."}],
        "utter_thank_you": [{"text": "You're welcome."}],
        "utter_anything_else": [{"text": "Anything else?"}],
        "utter_default": [{"text": "Sorry, could you rephrase?"}],
    },
}
RULES = [
    {"rule": "greet", "steps": [{"intent": "greet"}, {"action": "utter_greet"}]},
    {"rule": "thanks", "steps": [{"intent": "thank_you"}, {"action": "utter_thank_you"},
                                 {"action": "utter_anything_else"}]},
    {"rule": "fallback", "steps": [{"intent": "nlu_fallback"}, {"action": "utter_default"}]},
]


def parse(intent: str, confidence: float = 0.95, entities: list | None = None, language: str = "en") -> dict:
    return {"intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "entities": entities or [], "language": language}


def make_engine(threshold: float = 0.4) -> DialogueEngine:
    domain = Domain.from_dict(DOMAIN)
    return DialogueEngine(domain, load_rules(RULES), [], EngineConfig(fallback_threshold=threshold))


def run_turn(engine: DialogueEngine, tracker: DialogueTracker, text: str, nlu: dict) -> list[dict]:
    """Feed one message and run actions until listen, as bot.turns does (minus I/O)."""
    for event in engine.user_message_events(tracker, text, nlu, now=1.0):
        tracker.update(event)
    for event in engine.extract_slots(tracker, now=1.0):
        tracker.update(event)
    said: list[dict] = []
    while True:
        action = engine.next_action(tracker).action
        tracker.update({"event": "action", "name": action, "timestamp": 1.0})
        if action == "action_listen":
            return said
        for event in engine.run_builtin(action, tracker, now=1.0, rng=random.Random(0)):
            tracker.update(event)
            if event["event"] == "bot":
                said.append(event)


def test_rule_answers_with_its_template_and_buttons() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    said = run_turn(engine, tracker, "hi", parse("greet"))
    assert [b["text"] for b in said] == ["Hello!"]
    assert said[0]["data"]["buttons"] == [{"title": "Track my order", "payload": "/track_order"}]
    assert said[0]["metadata"]["source"] == "template"


def test_multi_action_rule_runs_every_action_then_listens() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    assert [b["text"] for b in run_turn(engine, tracker, "thanks", parse("thank_you"))] == [
        "You're welcome.", "Anything else?"]


def test_chinese_message_sets_language_and_picks_chinese_variation() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    said = run_turn(engine, tracker, "你好", parse("greet", language="zh"))
    assert tracker.get_slot("language") == "zh"
    assert [b["text"] for b in said] == ["您好！"]


def test_intent_without_rule_uses_its_own_response_and_fills_entity_slot() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    entity = {"entity": "order_id", "value": "ORD-10001", "start": 6, "end": 15}
    said = run_turn(engine, tracker, "where ORD-10001", parse("track_order", entities=[entity]))
    assert tracker.get_slot("order_id") == "ORD-10001"
    assert [b["text"] for b in said] == ["Let me look up order ORD-10001."]


def test_missing_slot_placeholder_is_removed_not_shown() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    said = run_turn(engine, tracker, "where is my order", parse("track_order"))
    assert said[0]["text"] == "Let me look up order."


def test_low_confidence_becomes_nlu_fallback_and_keeps_original_ranking() -> None:
    engine = make_engine(threshold=0.5)
    tracker = DialogueTracker("c1", engine.domain)
    said = run_turn(engine, tracker, "blorp", parse("greet", confidence=0.2))
    assert [b["text"] for b in said] == ["Sorry, could you rephrase?"]
    user = next(e for e in tracker.events if e["event"] == "user")
    assert user["parse_data"]["intent"]["name"] == "nlu_fallback"
    assert user["parse_data"]["fallback_from"]["name"] == "greet"


def test_unknown_intent_without_response_gets_default_fallback() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    said = run_turn(engine, tracker, "weather?", parse("out_of_scope"))
    assert [b["text"] for b in said] == ["Sorry, could you rephrase?"]


def test_tracker_state_is_what_rasa_sdk_expects() -> None:
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    run_turn(engine, tracker, "hi", parse("greet"))
    state = tracker.current_state()
    for key in ("sender_id", "slots", "latest_message", "events", "paused", "followup_action",
                "active_loop", "latest_action_name", "latest_event_time"):
        assert key in state
    assert state["latest_message"]["intent"]["name"] == "greet"
    assert state["latest_action_name"] == "action_listen"


def test_session_start_carries_slots_over() -> None:
    engine = make_engine()
    events = engine.session_start_events({"language": "zh", "order_id": None}, now=5.0)
    tracker = DialogueTracker.from_events("c1", engine.domain, events)
    assert [e["event"] for e in events] == ["action", "session_started", "slot", "action"]
    assert tracker.get_slot("language") == "zh"


def test_a_turn_stops_after_ten_actions() -> None:
    # A custom action that keeps asking for a follow-up would loop forever; the guard listens.
    engine = make_engine()
    tracker = DialogueTracker("c1", engine.domain)
    for event in engine.user_message_events(tracker, "hi", parse("greet"), now=1.0):
        tracker.update(event)
    for _ in range(10):
        tracker.update({"event": "followup", "name": "utter_greet"})
        assert engine.next_action(tracker).action == "utter_greet"
        tracker.update({"event": "action", "name": "utter_greet"})
    tracker.update({"event": "followup", "name": "utter_greet"})
    assert engine.next_action(tracker).action == "action_listen"


def test_or_steps_expand_to_alternatives() -> None:
    stories = load_stories(
        [{"story": "s", "steps": [{"or": [{"intent": "greet"}, {"intent": "thank_you"}]}, {"action": "utter_greet"}]}])
    intents = {e["parse_data"]["intent"]["name"] for s in stories for e in s.events if e["event"] == "user"}
    assert len(stories) == 2 and intents == {"greet", "thank_you"}


def test_bad_domain_names_the_problem() -> None:
    with pytest.raises(ProjectError, match="responses.utter_x"):
        Domain.from_dict({"responses": {"utter_x": "not a list"}})
    with pytest.raises(ProjectError, match="answer_mode"):
        Domain.from_dict({"answer_mode": "poetry"})


def test_rasa_2_domain_is_migrated() -> None:
    domain = Domain.from_dict({
        "version": "2.0",
        "entities": ["cuisine"],
        "slots": {"cuisine": {"type": "text", "auto_fill": False}, "seats": {"type": "float"}},
        "forms": {"restaurant_form": {"cuisine": [{"type": "from_entity", "entity": "cuisine"}]}},
    })
    assert domain.forms["restaurant_form"].required_slots == ("cuisine",)
    assert domain.slots["cuisine"].mappings[0].entity == "cuisine"

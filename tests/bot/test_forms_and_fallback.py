"""Forms, digressions, two-stage fallback and handoff in the pure dialogue engine."""

from __future__ import annotations

import random
from typing import Any

from bot.dialogue import DialogueEngine, DialogueTracker, Domain
from bot.dialogue.engine import EngineConfig
from bot.dialogue.training_data import load_rules

DOMAIN = {
    "intents": ["greet", "track_order", "inform", "faq_shipping", "stop", "affirm", "deny",
                "out_of_scope", "contact_human_agent"],
    "entities": ["order_id"],
    "slots": {
        "order_id": {"type": "text", "influence_conversation": False,
                     "mappings": [{"type": "from_entity", "entity": "order_id"}]},
        "email": {"type": "text", "influence_conversation": False,
                  "mappings": [{"type": "from_text", "not_intent": ["stop", "faq_shipping"],
                                "conditions": [{"active_loop": "track_order_form", "requested_slot": "email"}]}]},
    },
    "forms": {"track_order_form": {"required_slots": ["order_id", "email"]}},
    "responses": {
        "utter_greet": [{"text": "Hello!"}],
        "utter_ask_order_id": [{"text": "What is your order number?"}],
        "utter_ask_email": [{"text": "And your e-mail?"}],
        "utter_faq_shipping": [{"text": "Shipping takes 3 days."}],
        "utter_order_found": [{"text": "Order {order_id} for {email} is on its way."}],
        "utter_ask_continue": [{"text": "Do you want to continue?"}],
        "utter_default": [{"text": "Sorry?"}],
        "utter_ask_rephrase": [{"text": "Please rephrase."}],
    },
}
RULES = [
    {"rule": "greet", "steps": [{"intent": "greet"}, {"action": "utter_greet"}]},
    {"rule": "faq", "steps": [{"intent": "faq_shipping"}, {"action": "utter_faq_shipping"}]},
    {"rule": "start form", "steps": [{"intent": "track_order"}, {"action": "track_order_form"},
                                      {"active_loop": "track_order_form"}]},
    {"rule": "submit form", "condition": [{"active_loop": "track_order_form"}],
     "steps": [{"action": "track_order_form"}, {"active_loop": None}, {"action": "utter_order_found"}]},
    {"rule": "stop in form", "condition": [{"active_loop": "track_order_form"}],
     "steps": [{"intent": "stop"}, {"action": "utter_ask_continue"}]},
    {"rule": "fallback", "steps": [{"intent": "nlu_fallback"}, {"action": "action_two_stage_fallback"},
                                    {"active_loop": "action_two_stage_fallback"}]},
    {"rule": "human", "steps": [{"intent": "contact_human_agent"}, {"action": "action_handoff_to_human"}]},
]


def parse(intent: str, confidence: float = 0.95, entities: list | None = None,
          ranking: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    ranked = [{"name": n, "confidence": c} for n, c in (ranking or [(intent, confidence)])]
    return {"intent": {"name": intent, "confidence": confidence}, "intent_ranking": ranked,
            "entities": entities or [], "language": "en"}


class Conversation:
    """Drives the engine the way bot.turns does, minus storage and the action server."""

    def __init__(self) -> None:
        self.engine = DialogueEngine(Domain.from_dict(DOMAIN), load_rules(RULES), [], EngineConfig(fallback_threshold=0.5))
        self.tracker = DialogueTracker("c1", self.engine.domain)
        self.rng = random.Random(0)

    def apply(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.tracker.update(event)

    def say(self, text: str, nlu: dict[str, Any]) -> list[str]:
        self.apply([{"event": "action", "name": "action_listen"}])
        self.apply(self.engine.user_message_events(self.tracker, text, nlu, now=1.0))
        self.apply(self.engine.extract_slots(self.tracker, now=1.0))
        said: list[str] = []
        for _ in range(20):
            action = self.engine.next_action(self.tracker).action
            if action == "action_listen":
                return said
            if self.engine.is_form(action):
                start = self.engine.form_start(action, self.tracker, now=1.0)
                if start.check_answer and not self.engine.form_answered(action, self.tracker, []):
                    self.apply([{"event": "action_execution_rejected", "name": action}])
                    continue
                self.apply([{"event": "action", "name": action}, *start.events])
                events = self.engine.form_ask(action, self.tracker, now=1.0, rng=self.rng).events
            else:
                events = [{"event": "action", "name": action},
                          *self.engine.run_builtin(action, self.tracker, now=1.0, rng=self.rng)]
            self.apply(events)
            said += [e["text"] for e in events if e.get("event") == "bot"]
        raise AssertionError("turn did not end")


ORDER = {"entity": "order_id", "value": "ORD-10001"}


def test_form_asks_each_slot_then_submits() -> None:
    chat = Conversation()
    assert chat.say("where is my order", parse("track_order")) == ["What is your order number?"]
    assert chat.tracker.active_loop_name == "track_order_form"
    assert chat.say("ORD-10001", parse("inform", entities=[ORDER])) == ["And your e-mail?"]
    assert chat.say("me@example.com", parse("inform")) == ["Order ORD-10001 for me@example.com is on its way."]
    assert chat.tracker.active_loop_name is None
    assert chat.tracker.get_slot("requested_slot") is None


def test_slot_given_up_front_is_not_asked_again() -> None:
    chat = Conversation()
    assert chat.say("track ORD-10001", parse("track_order", entities=[ORDER])) == ["And your e-mail?"]


def test_digression_inside_form_is_answered_then_form_resumes() -> None:
    chat = Conversation()
    chat.say("where is my order", parse("track_order"))
    chat.say("ORD-10001", parse("inform", entities=[ORDER]))
    # A question instead of the e-mail: the form rejects it, the FAQ rule answers, the form asks again.
    assert chat.say("how long is shipping?", parse("faq_shipping")) == ["Shipping takes 3 days.", "And your e-mail?"]
    assert chat.tracker.get_slot("email") is None
    assert chat.say("me@example.com", parse("inform"))[-1].startswith("Order ORD-10001")


def test_loop_specific_rule_handles_stop() -> None:
    chat = Conversation()
    chat.say("where is my order", parse("track_order"))
    assert chat.say("stop", parse("stop")) == ["Do you want to continue?"]
    assert chat.tracker.active_loop_name == "track_order_form"


def test_two_stage_fallback_affirmed_replays_the_intent() -> None:
    chat = Conversation()
    said = chat.say("wehre ordr", parse("track_order", 0.3, ranking=[("track_order", 0.3), ("greet", 0.2)]))
    assert said == ['Sorry, I\'m not sure I understood. Did you mean "track order"?']
    buttons = chat.tracker.events[-1]["data"]["buttons"]
    assert [b["payload"] for b in buttons] == ["/track_order", "/out_of_scope"]
    # Pressing "Yes" continues as if the customer had been understood at once.
    assert chat.say("/track_order", parse("track_order", 1.0)) == ["What is your order number?"]
    assert chat.tracker.active_loop_name == "track_order_form"


def test_two_stage_fallback_denied_then_unclear_hands_off() -> None:
    chat = Conversation()
    chat.say("blorp", parse("greet", 0.2, ranking=[("greet", 0.2)]))
    assert chat.say("/out_of_scope", parse("out_of_scope", 1.0)) == ["Please rephrase."]
    said = chat.say("glorp zzz", parse("greet", 0.1, ranking=[("greet", 0.1)]))
    assert "team" in said[0]
    assert chat.tracker.paused and chat.tracker.handoff_state == "waiting"
    # While a person is coming, the bot stays quiet.
    assert chat.say("hello?", parse("greet")) == []


def test_two_stage_fallback_rephrased_clearly_continues() -> None:
    chat = Conversation()
    chat.say("blorp", parse("greet", 0.2, ranking=[("greet", 0.2)]))
    chat.say("no", parse("deny", 0.9))
    assert chat.say("hello", parse("greet", 0.99)) == ["Hello!"]
    assert chat.tracker.active_loop_name is None and not chat.tracker.paused


def test_handoff_action_pauses_and_tells_the_customer() -> None:
    chat = Conversation()
    said = chat.say("a human please", parse("contact_human_agent"))
    assert said and chat.tracker.paused
    handoff = [e for e in chat.tracker.events if e.get("event") == "handoff"]
    assert handoff[-1]["state"] == "waiting"
    assert all(e.get("event") != "handoff" for e in chat.tracker.current_state()["events"])


def test_validation_action_is_used_when_the_domain_declares_it() -> None:
    domain = dict(DOMAIN, actions=["validate_track_order_form"])
    engine = DialogueEngine(Domain.from_dict(domain), load_rules(RULES), [])
    tracker = DialogueTracker("c1", engine.domain)
    for event in engine.user_message_events(tracker, "track", parse("track_order"), now=1.0):
        tracker.update(event)
    assert engine.form_start("track_order_form", tracker, now=1.0).validation_action == "validate_track_order_form"

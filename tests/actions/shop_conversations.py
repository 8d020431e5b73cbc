"""Conversations with the demo shop, as Rasa tracker states, and the domain they use.

Shared by the action tests and the ActionClient tests: ``build_tracker_state`` makes the
dict Rasa (and Kefu's dialogue manager) sends as ``tracker`` on the webhook.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

# The slice of the default bot's domain these actions use, in Rasa 3's domain dict form.
DOMAIN: dict[str, Any] = {
    "version": "3.1",
    "intents": [
        "greet", "track_order", "cancel_order", "change_address", "refund_status",
        "request_human", "inform", "ask_return_policy",
    ],
    "entities": ["order_id", "email", "shipping_address"],
    "slots": {
        "language": {"type": "categorical", "values": ["en", "zh"], "influence_conversation": False,
                     "mappings": [{"type": "custom"}]},
        "order_id": {"type": "text", "influence_conversation": False,
                     "mappings": [{"type": "from_entity", "entity": "order_id"}]},
        "order_status": {"type": "text", "influence_conversation": True,
                         "mappings": [{"type": "custom"}]},
        "refund_status": {"type": "text", "influence_conversation": False,
                          "mappings": [{"type": "custom"}]},
        "shipping_address": {"type": "text", "influence_conversation": False,
                             "mappings": [{"type": "from_entity", "entity": "shipping_address"}]},
        "email": {"type": "text", "influence_conversation": False,
                  "mappings": [{"type": "from_entity", "entity": "email"}]},
        "issue_description": {"type": "text", "influence_conversation": False,
                              "mappings": [{"type": "from_text", "conditions": [
                                  {"active_loop": "support_ticket_form",
                                   "requested_slot": "issue_description"}]}]},
        "ticket_id": {"type": "text", "influence_conversation": False,
                      "mappings": [{"type": "custom"}]},
        "requested_slot": {"type": "text", "influence_conversation": False,
                           "mappings": [{"type": "custom"}]},
    },
    "forms": {
        "track_order_form": {"required_slots": ["order_id"]},
        "support_ticket_form": {"required_slots": ["issue_description", "email"]},
    },
    "responses": {
        "utter_ask_order_id": [{"text": "What is your order number?"}],
        "utter_greet": [{"text": "Hi! How can I help?"}],
    },
    "actions": [
        "action_order_status", "action_cancel_order", "action_change_shipping_address",
        "action_refund_status", "action_create_support_ticket", "validate_track_order_form",
    ],
    "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
}


def build_tracker_state(
    text: str,
    *,
    intent: str,
    entities: dict[str, str] | None = None,
    slots: dict[str, Any] | None = None,
    language: str | None = "en",
    active_loop: str | None = None,
    slot_candidates: dict[str, Any] | None = None,
    sender_id: str | None = None,
) -> dict[str, Any]:
    """A Rasa tracker state (``tracker.current_state(EventVerbosity.ALL)``) after one turn.

    ``entities`` are tagged with spans in ``text``; ``slots`` are the slot values before the
    action runs (``language`` included unless ``language=None``); ``slot_candidates`` become
    trailing ``slot`` events, which is how a form hands extracted values to its validation.
    """
    sender_id = sender_id or f"conv-{uuid.uuid4().hex[:12]}"
    now = time.time()
    entity_dicts = []
    for name, value in (entities or {}).items():
        start = text.find(value)
        entity_dicts.append({
            "entity": name, "value": value, "start": max(start, 0),
            "end": max(start, 0) + len(value), "confidence_entity": 0.98,
            "extractor": "KefuEntityTagger",
        })
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.96},
        "intent_ranking": [{"name": intent, "confidence": 0.96},
                           {"name": "inform", "confidence": 0.02}],
        "entities": entity_dicts,
        "language": language or "en",
        "message_id": uuid.uuid4().hex,
        "metadata": {},
    }
    all_slots: dict[str, Any] = {name: None for name in DOMAIN["slots"]}
    all_slots["session_started_metadata"] = None
    if language is not None:
        all_slots["language"] = language
    all_slots.update(slots or {})
    events: list[dict[str, Any]] = [
        {"event": "action", "timestamp": now - 30, "name": "action_session_start",
         "policy": None, "confidence": 1.0, "action_text": None, "hide_rule_turn": False},
        {"event": "session_started", "timestamp": now - 30},
        {"event": "action", "timestamp": now - 30, "name": "action_listen",
         "policy": None, "confidence": None, "action_text": None, "hide_rule_turn": False},
        {"event": "user", "timestamp": now - 2, "text": text, "parse_data": parse_data,
         "input_channel": "kefu-widget", "message_id": parse_data["message_id"],
         "metadata": {}},
        {"event": "user_featurization", "timestamp": now - 1, "use_text_for_featurization": False},
    ]
    if active_loop:
        # The loop was activated on an earlier turn, then the bot listened.
        events[3:3] = [
            {"event": "active_loop", "timestamp": now - 10, "name": active_loop},
            {"event": "action", "timestamp": now - 10, "name": "action_listen",
             "policy": "RulePolicy", "confidence": 1.0, "action_text": None,
             "hide_rule_turn": False},
        ]
    for name, value in (slot_candidates or {}).items():
        events.append({"event": "slot", "timestamp": now, "name": name, "value": value})
    return {
        "sender_id": sender_id,
        "slots": all_slots,
        "latest_message": parse_data,
        "latest_event_time": events[-1]["timestamp"],
        "followup_action": None,
        "paused": False,
        "events": events,
        "latest_input_channel": "kefu-widget",
        "active_loop": {"name": active_loop, "validate": True, "rejected": False,
                        "trigger_message": {}} if active_loop else {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
        "stack": [],
    }

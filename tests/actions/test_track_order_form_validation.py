"""validate_track_order_form through the real action server, as a form loop calls it."""

from __future__ import annotations

import asyncio

import pytest

from bot.actions_client import ActionClient, ActionRejected


def _form_turn(make_tracker, text, **kwargs):
    """The tracker state a form loop sends after asking for ``order_id``."""
    slots = {"requested_slot": "order_id", **kwargs.pop("slots", {})}
    return make_tracker(text, intent=kwargs.pop("intent", "inform"),
                   active_loop="track_order_form", slots=slots, **kwargs)


def test_known_order_is_stored_in_canonical_form(run_action, make_tracker):
    outcome = run_action(
        "validate_track_order_form",
        _form_turn(make_tracker, "it's ord 10006", entities={"order_id": "ord 10006"},
                   slot_candidates={"order_id": "ord 10006"}),
    )

    assert outcome.slots == {"order_id": "ORD-10006", "order_status": "shipped"}
    assert outcome.texts == []


def test_unknown_order_is_cleared_with_a_message(run_action, make_tracker):
    outcome = run_action(
        "validate_track_order_form",
        _form_turn(make_tracker, "ORD-12345", language="zh", entities={"order_id": "ORD-12345"},
                   slot_candidates={"order_id": "ORD-12345"}),
    )

    assert outcome.slots == {"order_id": None}
    assert "没有找到订单号为 ORD-12345 的订单" in outcome.text


def test_order_number_in_untagged_text_is_extracted(run_action, make_tracker):
    # The NLU tagged nothing; the validation finds the number in the text itself.
    outcome = run_action(
        "validate_track_order_form",
        _form_turn(make_tracker, "我的订单号是ord-10011吧"),
    )

    assert outcome.slots["order_id"] == "ORD-10011"


def test_reply_without_any_order_number_is_rejected(shop_action_server, make_tracker, domain):
    state = _form_turn(make_tracker, "actually, what is your return policy?",
                       intent="ask_return_policy")

    async def call():
        async with ActionClient(shop_action_server.webhook_url) as client:
            await client.run("validate_track_order_form", sender_id=state["sender_id"],
                             tracker_state=state, domain=domain)

    with pytest.raises(ActionRejected) as rejected:
        asyncio.run(call())

    assert rejected.value.action_name == "validate_track_order_form"
    assert "order_id" in rejected.value.message


def test_validation_when_the_form_is_not_active_never_rejects(run_action, make_tracker):
    # At activation the loop is not active yet: nothing to reject, nothing to set.
    outcome = run_action(
        "validate_track_order_form", make_tracker("track my order", intent="track_order")
    )

    assert outcome.events == []


def test_a_number_in_the_new_address_does_not_replace_the_order(run_action, make_tracker, domain):
    # The change-address form asks for the address; the NLU tagged the phone number in it
    # as an order id. The order the customer gave before stays, with no "not found".
    text = "12 Main Street, Springfield, phone 13812345678"
    state = make_tracker(text, intent="inform", active_loop="change_address_form",
                         entities={"order_id": "13812345678"},
                         slots={"requested_slot": "shipping_address", "order_id": "13812345678"},
                         slot_candidates={"order_id": "13812345678", "shipping_address": text})
    user_at = next(i for i, e in enumerate(state["events"]) if e["event"] == "user")
    state["events"].insert(user_at, {"event": "slot", "timestamp": 1.0, "name": "order_id", "value": "ORD-10007"})
    domain["forms"]["change_address_form"] = {"required_slots": ["order_id", "shipping_address"]}
    domain["actions"].append("validate_change_address_form")
    outcome = run_action("validate_change_address_form", state, domain)

    assert outcome.slots["order_id"] == "ORD-10007"
    assert outcome.slots["shipping_address"] == text
    assert not any("ORD" in t or "found" in t for t in outcome.texts)

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

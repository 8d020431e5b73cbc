"""action_order_status through the real action server, in English and Chinese."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("order_id", "status", "must_say"),
    [
        ("ORD-10001", "processing", ["ORD-10001", "Nov 27, 2025", "$89.70",
                                     "1 x Mechanical keyboard (87 keys)", "hasn't shipped"]),
        ("ORD-10006", "shipped", ["UPS", "1Z999AA10123456784", "Nov 24, 2025", "Nov 29, 2025"]),
        ("ORD-10010", "delivered", ["delivered on Nov 6, 2025", "USPS"]),
        ("ORD-10015", "cancelled", ["cancelled on Nov 15, 2025"]),
    ],
)
def test_status_in_english_for_every_order_status(
    run_action, make_tracker, order_id, status, must_say
):
    outcome = run_action(
        "action_order_status",
        make_tracker(f"where is my order {order_id}?", intent="track_order",
                entities={"order_id": order_id}),
    )

    assert len(outcome.texts) == 1
    for fragment in must_say:
        assert fragment in outcome.text
    assert outcome.slots == {"order_id": order_id, "order_status": status}


def test_status_in_chinese_names_the_carrier_in_chinese(run_action, make_tracker):
    outcome = run_action(
        "action_order_status",
        make_tracker("我的订单ORD-10007到哪了", intent="track_order",
                entities={"order_id": "ORD-10007"}, language="zh"),
    )

    assert "顺丰速运" in outcome.text
    assert "SF1402938475612" in outcome.text
    assert "2025年11月27日" in outcome.text
    assert outcome.slots["order_status"] == "shipped"


def test_typed_id_variants_are_normalised(run_action, make_tracker):
    # A bare number, a lower-case prefix and full-width digits all mean ORD-10002.
    for typed in ("10002", "ord10002", "１０００２"):
        outcome = run_action(
            "action_order_status",
            make_tracker(f"order {typed}", intent="track_order", slots={"order_id": typed}),
        )
        assert outcome.slots["order_id"] == "ORD-10002", typed


def test_marketplace_order_with_plain_digit_id(run_action, make_tracker):
    outcome = run_action(
        "action_order_status",
        make_tracker("status of 7730001957", intent="track_order",
                entities={"order_id": "7730001957"}, language="zh"),
    )

    assert outcome.slots == {"order_id": "7730001957", "order_status": "shipped"}
    assert "圆通速递" in outcome.text


def test_entity_in_latest_message_wins_over_the_slot(run_action, make_tracker):
    outcome = run_action(
        "action_order_status",
        make_tracker("and what about ORD-10009?", intent="track_order",
                entities={"order_id": "ORD-10009"}, slots={"order_id": "ORD-10001"}),
    )

    assert outcome.slots["order_id"] == "ORD-10009"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "couldn't find an order with the number ORD-99999"),
     ("zh", "没有找到订单号为 ORD-99999 的订单")],
)
def test_unknown_order_gets_a_helpful_answer_and_clears_the_slot(
    run_action, make_tracker, language, expected
):
    outcome = run_action(
        "action_order_status",
        make_tracker("where is ORD-99999", intent="track_order",
                entities={"order_id": "ORD-99999"}, language=language),
    )

    assert expected in outcome.text
    assert outcome.slots == {"order_id": None, "order_status": None}


def test_text_that_is_no_order_id_is_treated_as_unknown(run_action, make_tracker):
    outcome = run_action(
        "action_order_status",
        make_tracker("my order is the blue one", intent="track_order",
                slots={"order_id": "the blue one"}),
    )

    assert "the blue one" in outcome.text
    assert outcome.slots["order_id"] is None


def test_missing_order_id_makes_the_action_ask_for_it(run_action, make_tracker):
    outcome = run_action("action_order_status", make_tracker("where is my stuff", intent="track_order"))

    assert "order number" in outcome.text
    assert outcome.events == []


def test_without_language_slot_chinese_text_gets_a_chinese_answer(run_action, make_tracker):
    state = make_tracker("帮我查一下订单10009的状态", intent="track_order",
                    entities={"order_id": "10009"}, language=None)
    state["latest_message"].pop("language")

    outcome = run_action("action_order_status", state)

    assert "由中国邮政EMS发出" in outcome.text
    assert outcome.slots["order_id"] == "ORD-10009"

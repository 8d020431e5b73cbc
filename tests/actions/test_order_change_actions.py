"""Cancelling, re-addressing and refund status through the real action server.

Each test that changes an order uses its own demo order, so the tests can run in any
order against the one session server.
"""

from __future__ import annotations

import pytest


def test_cancel_a_processing_order_refunds_it(run_action, make_tracker, order_store):
    outcome = run_action(
        "action_cancel_order",
        make_tracker("please cancel order 10003", intent="cancel_order",
                entities={"order_id": "10003"}),
    )

    assert "order ORD-10003 is cancelled" in outcome.text
    assert "$358.90" in outcome.text  # monitor 329.00 + stand 29.90
    # The form's yes/no answer is used up, so the next cancellation asks again.
    assert outcome.slots == {"order_id": "ORD-10003", "order_status": "cancelled", "cancel_confirmed": None}
    order = order_store.find_order("ORD-10003")
    assert (order.status, order.refund_state, order.refund_amount_cents) == (
        "cancelled", "processing", 35890)


def test_cancelling_twice_says_it_is_already_cancelled_in_chinese(run_action, make_tracker, order_store):
    state = make_tracker("取消订单ORD-10004", intent="cancel_order",
                    entities={"order_id": "ORD-10004"}, language="zh")
    first = run_action("action_cancel_order", state)
    second = run_action("action_cancel_order", state)

    assert "已为您取消订单 ORD-10004" in first.text
    assert "¥627.00" in first.text  # 2 x 279.00 + 69.00
    assert "已于" in second.text and "取消，无需再次操作" in second.text
    assert order_store.find_order("ORD-10004").status == "cancelled"


@pytest.mark.parametrize(
    ("order_id", "expected"),
    [("ORD-10008", "has already shipped"), ("ORD-10014", "was delivered on Nov 7, 2025")],
)
def test_shipped_or_delivered_orders_cannot_be_cancelled(
    run_action, make_tracker, order_store, order_id, expected
):
    before = order_store.find_order(order_id)
    outcome = run_action(
        "action_cancel_order",
        make_tracker(f"cancel {order_id}", intent="cancel_order", slots={"order_id": order_id}),
    )

    assert expected in outcome.text
    assert order_store.find_order(order_id) == before
    assert outcome.slots["order_status"] == before.status


def test_cancel_unknown_order(run_action, make_tracker):
    outcome = run_action(
        "action_cancel_order",
        make_tracker("cancel 55555", intent="cancel_order", entities={"order_id": "55555"}),
    )

    assert "couldn't find an order with the number 55555" in outcome.text
    assert outcome.slots == {"order_id": None, "order_status": None, "cancel_confirmed": None}


def test_answering_no_keeps_the_order(run_action, make_tracker, order_store):
    before = order_store.find_order("ORD-10005")
    outcome = run_action(
        "action_cancel_order",
        make_tracker("no, keep it", intent="deny", slots={"order_id": "ORD-10005", "cancel_confirmed": False}),
    )
    assert "ORD-10005 stays as it is" in outcome.text
    assert order_store.find_order("ORD-10005") == before
    assert outcome.slots["cancel_confirmed"] is None


def test_change_address_of_a_processing_order(run_action, make_tracker, order_store):
    address = "221B Baker Street, London NW1 6XE, UK"
    outcome = run_action(
        "action_change_shipping_address",
        make_tracker("ship it to my new place", intent="change_address",
                slots={"order_id": "ORD-10005", "shipping_address": address}),
    )

    assert f"will now be shipped to {address}" in outcome.text
    assert order_store.find_order("ORD-10005").shipping_address == address
    # The address is used up so that a later change asks for a new one.
    assert outcome.slots == {
        "order_id": "ORD-10005", "order_status": "processing", "shipping_address": None,
    }


def test_change_address_in_chinese_for_a_marketplace_order(run_action, make_tracker, order_store):
    address = "江苏省南京市鼓楼区中山路321号 210008"
    outcome = run_action(
        "action_change_shipping_address",
        make_tracker(f"地址改成{address}", intent="change_address", language="zh",
                entities={"shipping_address": address}, slots={"order_id": "7730001842"}),
    )

    assert f"订单 7730001842 的收货地址已改为：{address}" in outcome.text
    assert order_store.find_order("7730001842").shipping_address == address


def test_change_address_of_a_shipped_order_points_to_the_carrier(run_action, make_tracker, order_store):
    outcome = run_action(
        "action_change_shipping_address",
        make_tracker("change the address", intent="change_address",
                slots={"order_id": "ORD-10006", "shipping_address": "1 Infinite Loop, Cupertino"}),
    )

    assert "already shipped with UPS" in outcome.text
    assert "1Z999AA10123456784" in outcome.text
    assert order_store.find_order("ORD-10006").shipping_address.startswith("88 Colin P Kelly")


def test_change_address_of_a_cancelled_order(run_action, make_tracker):
    outcome = run_action(
        "action_change_shipping_address",
        make_tracker("new address please", intent="change_address", language="zh",
                slots={"order_id": "ORD-10016", "shipping_address": "上海市徐汇区漕溪北路88号"}),
    )

    assert "订单 ORD-10016 已取消" in outcome.text


def test_change_address_asks_for_a_missing_address(run_action, make_tracker, order_store):
    before = order_store.find_order("ORD-10001")
    outcome = run_action(
        "action_change_shipping_address",
        make_tracker("I moved", intent="change_address", slots={"order_id": "ORD-10001"}),
    )

    assert "What is the new shipping address for order ORD-10001?" in outcome.text
    assert order_store.find_order("ORD-10001") == before


def test_change_address_rejects_a_fragment(run_action, make_tracker, order_store):
    before = order_store.find_order("ORD-10001")
    outcome = run_action(
        "action_change_shipping_address",
        make_tracker("to Paris", intent="change_address",
                slots={"order_id": "ORD-10001", "shipping_address": "Paris"}),
    )

    assert "doesn't look like a complete address" in outcome.text
    assert outcome.slots["shipping_address"] is None
    assert order_store.find_order("ORD-10001") == before


@pytest.mark.parametrize(
    ("order_id", "language", "state", "expected"),
    [
        ("ORD-10002", "en", "none", "There is no refund on order ORD-10002"),
        ("ORD-10008", "en", "requested", "request of $9.90 for order ORD-10008 on Nov 25, 2025"),
        ("ORD-10011", "en", "processing", "The refund of $329.00 for order ORD-10011 was approved"),
        ("ORD-10012", "zh", "refunded", "订单 ORD-10012 的退款 ¥899.00 已于 2025年11月12日 完成"),
        ("ORD-10013", "zh", "rejected", "订单 ORD-10013 的退款申请已于 2025年11月8日 被拒绝"),
    ],
)
def test_refund_status_for_every_refund_state(
    run_action, make_tracker, order_store, order_id, language, state, expected
):
    outcome = run_action(
        "action_refund_status",
        make_tracker("refund?", intent="refund_status", language=language,
                entities={"order_id": order_id}),
    )

    assert expected in outcome.text
    assert outcome.slots["refund_status"] == state == order_store.refund_status(order_id).state

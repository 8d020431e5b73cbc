"""The SQLite order store, order-id parsing and the input checks, called directly."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from actions.order_ids import find_order_id_in_text, normalize_order_id, order_id_candidates
from actions.order_store import (
    ORDER_STATUSES,
    REFUND_STATES,
    ChangeOutcome,
    OrderStore,
    default_store,
)
from actions.tracker_inputs import is_plausible_address, is_plausible_email


@pytest.fixture
def fresh_store(tmp_path):
    order_store = OrderStore(tmp_path / "nested" / "orders.sqlite3")
    yield order_store
    order_store.close()


@pytest.mark.parametrize(
    ("typed", "candidates"),
    [
        ("ORD-10001", ["ORD-10001"]),
        ("ord10001", ["ORD-10001"]),
        (" #10001 ", ["ORD-10001", "10001"]),
        ("10001", ["ORD-10001", "10001"]),
        (10001, ["ORD-10001", "10001"]),
        ("ＯＲＤ－１０００１", ["ORD-10001"]),
        ("order: 10001", ["ORD-10001"]),
        ("7730001842", ["7730001842"]),
        ("1234", []),
        ("ORD-ABC", []),
        ("", []),
        (None, []),
        (True, []),
    ],
)
def test_order_id_candidates(typed, candidates):
    assert order_id_candidates(typed) == candidates
    assert normalize_order_id(typed) == (candidates[0] if candidates else None)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("it's 10004 I think", "10004"),
        ("我的订单号是ORD-10007，谢谢", "ORD-10007"),
        ("order #7730002210 please", "7730002210"),
        ("ord 10012", "ORD-10012"),
        ("I ordered 2 mugs", None),
        ("", None),
    ],
)
def test_find_order_id_in_text(text, found):
    assert find_order_id_in_text(text) == found


def test_new_database_is_created_and_seeded_once(tmp_path):
    path = tmp_path / "orders.sqlite3"
    first = OrderStore(path)
    assert first.find_order("ORD-10001") is not None
    rows = sqlite3.connect(path).execute("SELECT status, refund_state FROM orders").fetchall()
    assert len(rows) == 20
    assert {status for status, _ in rows} == set(ORDER_STATUSES)
    assert {refund for _, refund in rows} == set(REFUND_STATES)

    # An operator removed an order; opening the file again must not bring it back.
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM orders WHERE id = 'ORD-10001'")
    second = OrderStore(path)
    assert second.find_order("ORD-10001") is None
    assert second.find_order("ORD-10002") is not None
    first.close()
    second.close()


def test_totals_match_their_lines(fresh_store):
    for typed in ("ORD-10001", "ORD-10007", "7730002210"):
        order = fresh_store.find_order(typed)
        assert order.total_cents == sum(l.unit_price_cents * l.quantity for l in order.items)


def test_cancel_rules(fresh_store):
    done = fresh_store.cancel_order("10001")
    assert done.outcome is ChangeOutcome.DONE
    assert (done.order.status, done.order.refund_state) == ("cancelled", "processing")
    assert done.order.refund_amount_cents == done.order.total_cents

    assert fresh_store.cancel_order("ORD-10001").outcome is ChangeOutcome.ALREADY_CANCELLED
    assert fresh_store.cancel_order("ORD-10006").outcome is ChangeOutcome.ALREADY_SHIPPED
    assert fresh_store.cancel_order("ORD-10010").outcome is ChangeOutcome.ALREADY_SHIPPED
    assert fresh_store.cancel_order("ORD-99999") == fresh_store.cancel_order("nonsense")
    assert fresh_store.cancel_order("ORD-99999").outcome is ChangeOutcome.NOT_FOUND


def test_address_change_rules(fresh_store):
    changed = fresh_store.change_shipping_address("ORD-10002", "  5 Long   Road,\nLeeds LS1 ")
    assert changed.outcome is ChangeOutcome.DONE
    assert changed.order.shipping_address == "5 Long Road, Leeds LS1"

    shipped = fresh_store.change_shipping_address("ORD-10006", "5 Long Road, Leeds LS1")
    assert shipped.outcome is ChangeOutcome.ALREADY_SHIPPED
    assert shipped.order.shipping_address != "5 Long Road, Leeds LS1"
    assert (
        fresh_store.change_shipping_address("ORD-10015", "5 Long Road, Leeds LS1").outcome
        is ChangeOutcome.ALREADY_CANCELLED
    )
    with pytest.raises(ValueError):
        fresh_store.change_shipping_address("ORD-10002", "   ")


def test_concurrent_cancellations_of_one_order_succeed_once(tmp_path):
    # Separate stores = separate SQLite connections, like separate server workers.
    path = tmp_path / "orders.sqlite3"
    OrderStore(path).find_order("ORD-10003")  # create the file before the race
    stores = [OrderStore(path) for _ in range(8)]
    outcomes: list[ChangeOutcome] = []
    barrier = threading.Barrier(len(stores))

    def cancel(order_store: OrderStore) -> None:
        barrier.wait()
        outcomes.append(order_store.cancel_order("ORD-10003").outcome)

    threads = [threading.Thread(target=cancel, args=(order_store,)) for order_store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o.value for o in outcomes) == ["already_cancelled"] * 7 + ["done"]


def test_one_store_shared_by_threads(fresh_store):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(20):
                fresh_store.find_order("ORD-10006")
                fresh_store.create_support_ticket(description=f"thread {n}", language="en")
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert fresh_store.get_ticket("TCK-000080").description.startswith("thread ")
    assert fresh_store.get_ticket("TCK-000081") is None


def test_tickets(fresh_store):
    ticket = fresh_store.create_support_ticket(
        description=" Parcel damaged ", email="a@example.com", order_id="ORD-10010",
        language="zh", conversation_id="conv-1",
    )
    assert ticket.id == "TCK-000001"
    assert fresh_store.get_ticket("tck-000001") == ticket
    assert ticket.description == "Parcel damaged"
    assert fresh_store.get_ticket("TCK-000002") is None
    assert fresh_store.get_ticket("nonsense") is None
    with pytest.raises(ValueError):
        fresh_store.create_support_ticket(description="  ")


def test_refund_status(fresh_store):
    refund = fresh_store.refund_status("10012")
    assert (refund.order_id, refund.state, refund.amount_cents, refund.currency) == (
        "ORD-10012", "refunded", 89900, "CNY")
    assert fresh_store.refund_status("ORD-99999") is None


def test_default_store_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KEFU_ORDERS_DB", str(tmp_path / "env" / "orders.sqlite3"))
    order_store = default_store()
    assert order_store is default_store()
    assert order_store.find_order("ORD-10001") is not None
    assert (tmp_path / "env" / "orders.sqlite3").exists()
    order_store.close()


@pytest.mark.parametrize(
    ("address", "plausible"),
    [
        ("221B Baker Street, London NW1 6XE", True),
        ("北京市海淀区中关村大街", True),
        ("上海市徐汇区漕溪北路88号", True),
        ("Paris", False),
        ("my home", False),
        ("12345678", False),
        ("1 Main St " * 40, False),
    ],
)
def test_is_plausible_address(address, plausible):
    assert is_plausible_address(address) is plausible


@pytest.mark.parametrize(
    ("email", "plausible"),
    [("bob@example.com", True), (" li.wei@example.cn ", True), ("bob at example", False),
     ("bob@example", False), ("@example.com", False)],
)
def test_is_plausible_email(email, plausible):
    assert is_plausible_email(email) is plausible

from __future__ import annotations

from nlu_model.generation.guard import FALLBACK_TO_TEMPLATE, HANDOFF, SHIPPED, GuardThresholds, KnownFacts, find_specifics, judge

KNOWN = KnownFacts([
    "where is my order ORD-10004?",  # the conversation
    "+1 555 0100", "support@shop.example.com",  # settings
    "Standard delivery (4.90 EUR) takes 3 to 5 working days; orders before 14:00 ship the same day.",  # knowledge
])


def test_specifics_of_every_kind_are_found_but_list_markers_are_not() -> None:
    text = "1. Open shop.example.com\n2. Order ORD-5521 cost $9.99 on 12/05/2026 at 9:00; mail a@b.co or call +44 20 7946 0958."
    kinds = [s.kind for s in find_specifics(text)]
    assert kinds == ["url", "order_id", "price", "date", "time", "email", "phone"]


def test_invented_order_number_and_price_are_ungrounded() -> None:
    answer = "Your order ORD-77777 was refunded: 45.99 EUR are on their way."
    assert KNOWN.ungrounded(answer) == ["ORD-77777", "45.99 EUR"]


def test_facts_from_conversation_settings_and_knowledge_are_grounded() -> None:
    answer = "Order ORD-10004 ships in 3 to 5 working days for 4.90 EUR. Call +1 5550100 or write to support@shop.example.com."
    assert KNOWN.ungrounded(answer) == []


def test_decision_falls_back_on_each_failing_check() -> None:
    thresholds = GuardThresholds(min_confidence=-1.0)
    assert judge(-0.2, "track_order", "track_order", [], thresholds, has_template=True).decision == SHIPPED
    assert judge(-2.0, "track_order", "track_order", [], thresholds, has_template=True).decision == FALLBACK_TO_TEMPLATE
    assert judge(-0.2, "track_order", "get_refund", [], thresholds, has_template=True).decision == FALLBACK_TO_TEMPLATE
    verdict = judge(-0.2, "track_order", "track_order", ["ORD-1"], thresholds, has_template=False)
    assert verdict.decision == HANDOFF and verdict.to_metadata()["ungrounded"] == ["ORD-1"]
    wrong_language = judge(-0.2, "track_order", "track_order", [], thresholds, has_template=True, language_consistent=False)
    assert wrong_language.decision == FALLBACK_TO_TEMPLATE and wrong_language.to_metadata()["language_consistent"] is False

"""The bilingual texts and their formatting helpers."""

from __future__ import annotations

import string

import pytest

from actions.order_store import OrderStore
from actions.replies import (
    SUPPORTED_LANGUAGES,
    TEXTS,
    format_date,
    format_items,
    format_money,
    order_fields,
    say,
)


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_exists_in_every_language_with_the_same_fields(key):
    variants = TEXTS[key]
    assert set(variants) == set(SUPPORTED_LANGUAGES)
    assert _placeholders(variants["en"]) == _placeholders(variants["zh"])


def test_every_order_text_can_be_filled_for_every_demo_order(tmp_path):
    order_store = OrderStore(tmp_path / "orders.sqlite3")
    order_keys = [key for key in TEXTS if _placeholders(TEXTS[key]["en"]) <= {
        "order_id", "items", "total", "amount", "created_at", "shipped_at",
        "estimated_delivery", "delivered_at", "cancelled_at", "updated_at", "carrier",
        "tracking_number", "address", "status"}]
    for typed in ["ORD-1000" + str(n) for n in range(1, 10)] + ["ORD-10010", "7730001842"]:
        order = order_store.find_order(typed)
        for language in SUPPORTED_LANGUAGES:
            fields = order_fields(order, language)
            for key in order_keys:
                assert say(key, language, **fields)
    order_store.close()


def test_unsupported_language_falls_back_to_english():
    assert say("ask_order_id", "fr") == TEXTS["ask_order_id"]["en"]


def test_formatting():
    assert format_money(8970, "USD") == "$89.70"
    assert format_money(229900, "CNY") == "¥2,299.00"
    assert format_money(500, "GBP") == "5.00 GBP"
    assert format_date("2025-11-07", "en") == "Nov 7, 2025"
    assert format_date("2025-11-07", "zh") == "2025年11月7日"
    assert format_date(None, "zh") == "暂未确定"


def test_items_in_both_languages(tmp_path):
    order_store = OrderStore(tmp_path / "orders.sqlite3")
    order = order_store.find_order("ORD-10001")
    assert format_items(order, "en") == "1 x Mechanical keyboard (87 keys), 2 x USB-C cable, 2 m"
    assert format_items(order, "zh") == "机械键盘（87键）×1、USB-C 数据线（2米）×2"
    order_store.close()

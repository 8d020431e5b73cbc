"""Personal data is masked before the archive sees it; order numbers and dates are not."""

from __future__ import annotations

import pytest

from bot.archive.redaction import luhn_valid, redact_entities, redact_event, redact_text


@pytest.mark.parametrize("text, expected", [
    ("my card is 4111 1111 1111 1111 thanks", "my card is <CARD> thanks"),
    ("card 5500-0000-0000-0004", "card <CARD>"),
    ("amex 378282246310005.", "amex <CARD>."),
    ("mail me at john.doe+shop@example.co.uk", "mail me at <EMAIL>"),
    ("call me on +44 20 7946 0958", "call me on <PHONE>"),
    ("(555) 123-4567 after 6", "<PHONE> after 6"),
    ("my phone is 13812345678", "my phone is <PHONE>"),
    ("我的手机13812345678", "我的手机<PHONE>"),
    ("电话：021-6234 5678", "电话：<PHONE>"),
])
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", [
    "where is order 3707955617",          # a 10-digit order number
    "order 113542617735902 please",        # 15 digits that pass Luhn but start like no card
    "订单号 00123842",
    "delivered on 2024-05-01",
    "4111 1111 1111 1112",                 # a Visa prefix that fails the Luhn check
    "it costs 1,299.00 euros",
])
def test_order_numbers_dates_and_near_misses_stay(text: str) -> None:
    assert redact_text(text) == text


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_entity_spans_follow_the_masked_text() -> None:
    text = "email a@b.com about order 12345"
    masked, entities = redact_entities(text, [
        {"entity": "email", "value": "a@b.com", "start": 6, "end": 13},
        {"entity": "order_id", "value": "12345", "start": 26, "end": 31},
    ])
    assert masked == "email <EMAIL> about order 12345"
    assert [(e["value"], masked[e["start"]:e["end"]]) for e in entities] == [("<EMAIL>", "<EMAIL>"), ("12345", "12345")]


def test_every_free_text_field_of_an_event_is_masked() -> None:
    event = {
        "event": "user", "text": "I'm jane@example.com", "message_id": "m1",
        "parse_data": {"text": "I'm jane@example.com", "intent": {"name": "inform", "confidence": 0.9},
                       "entities": [{"entity": "email", "value": "jane@example.com", "start": 4, "end": 20}]},
        "metadata": {"title": "jane@example.com"},
    }
    redacted = redact_event(event)
    assert "jane@example.com" not in repr(redacted)
    assert redacted["text"] == redacted["parse_data"]["text"] == "I'm <EMAIL>"
    assert redacted["parse_data"]["entities"][0] == {"entity": "email", "value": "<EMAIL>", "start": 4, "end": 11}
    assert redacted["message_id"] == "m1" and event["text"] == "I'm jane@example.com"  # the input is left alone
    slot = redact_event({"event": "slot", "name": "email", "value": "jane@example.com"})
    assert slot == {"event": "slot", "name": "email", "value": "<EMAIL>"}

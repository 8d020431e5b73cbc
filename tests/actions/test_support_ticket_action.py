"""action_create_support_ticket through the real action server."""

from __future__ import annotations

import re


def _ticket_id(text: str) -> str:
    match = re.search(r"TCK-\d{6}", text)
    assert match, text
    return match.group(0)


def test_ticket_with_email_and_order(run_action, make_tracker, order_store):
    state = make_tracker(
        "the keyboard arrived with two broken keys", intent="request_human",
        entities={"order_id": "10010"},
        slots={"email": "alice.nguyen@example.com",
               "issue_description": "The keyboard arrived with two broken keys"},
    )

    outcome = run_action("action_create_support_ticket", state)

    ticket_id = _ticket_id(outcome.text)
    assert "about order ORD-10010" in outcome.text
    assert "reply to alice.nguyen@example.com" in outcome.text
    assert outcome.slots == {"ticket_id": ticket_id, "issue_description": None}
    ticket = order_store.get_ticket(ticket_id)
    assert ticket.order_id == "ORD-10010"
    assert ticket.email == "alice.nguyen@example.com"
    assert ticket.description == "The keyboard arrived with two broken keys"
    assert ticket.conversation_id == state["sender_id"]
    assert (ticket.language, ticket.status) == ("en", "open")


def test_ticket_in_chinese_without_email_is_answered_in_the_chat(run_action, make_tracker, order_store):
    outcome = run_action(
        "action_create_support_ticket",
        make_tracker("我要投诉", intent="request_human", language="zh",
                slots={"issue_description": "快递员态度很差，包裹被扔在门口"}),
    )

    ticket_id = _ticket_id(outcome.text)
    assert f"已为您创建工单 {ticket_id}" in outcome.text
    assert "在此对话中回复您" in outcome.text
    ticket = order_store.get_ticket(ticket_id)
    assert (ticket.email, ticket.order_id, ticket.language) == (None, None, "zh")


def test_unknown_order_id_is_passed_on_as_typed(run_action, make_tracker, order_store):
    outcome = run_action(
        "action_create_support_ticket",
        make_tracker("order 424242 never came", intent="request_human",
                slots={"issue_description": "Order never came", "order_id": "424242"}),
    )

    assert order_store.get_ticket(_ticket_id(outcome.text)).order_id == "424242"


def test_invalid_email_is_questioned_and_no_ticket_is_made(run_action, make_tracker, order_store):
    outcome = run_action(
        "action_create_support_ticket",
        make_tracker("my mail is bob at example", intent="inform",
                slots={"issue_description": "Wrong colour", "email": "bob at example"}),
    )

    assert "bob at example doesn't look like an e-mail address" in outcome.text
    assert outcome.slots == {"email": None}
    assert "TCK-" not in outcome.text


def test_missing_description_is_asked_for(run_action, make_tracker):
    outcome = run_action(
        "action_create_support_ticket",
        make_tracker("I want to talk to a human", intent="request_human", language="zh"),
    )

    assert "请简单描述一下您遇到的问题" in outcome.text
    assert outcome.events == []

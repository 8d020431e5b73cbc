"""The server goes away mid-conversation and comes back: the widget says it is reconnecting,
recovers by itself, and neither loses nor repeats a message."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.bot_texts import en_example, response_texts
from tests.web.live_bot import LiveBot
from tests.web.widget_page import WidgetPage, shown_as_transcript, transcript_rows

# A server start (model load) plus the widget's backoff, capped at 10 s.
RECOVERY_MS = 40_000


def test_server_restart_and_outage_lose_and_repeat_nothing(page: Page, restartable_bot: LiveBot,
                                                           tiny_project: Path) -> None:
    bot = restartable_bot
    widget = WidgetPage(page, bot.base_url).goto("/")
    widget.open()
    widget.say_and_wait(en_example(tiny_project, "greet"))
    widget.say_and_wait(en_example(tiny_project, "get_refund"))
    conversation = widget.conversation_id

    bot.server.restart()
    widget.expect_online(timeout_ms=RECOVERY_MS)
    assert widget.statuses() == ["idle", "connecting", "online", "reconnecting", "online"]
    assert widget.conversation_id == conversation
    replies = widget.say_and_wait(en_example(tiny_project, "thank_you"))
    assert replies and replies[0] in response_texts(tiny_project, "utter_thank_you", "en")
    # Every stored message is shown once, in order; nothing else is.
    assert shown_as_transcript(widget.bubbles()) == transcript_rows(bot.transcript(conversation))

    # A message typed while the server is down waits in the widget and goes out once it is back.
    bot.server.stop()
    expect(widget.part("status")).to_have_attribute("data-state", "reconnecting")
    expect(widget.part("connection-banner")).to_be_visible()
    expect(widget.part("connection-banner")).to_contain_text("Reconnecting")
    turns = widget.finished_turns()
    typed = en_example(tiny_project, "delivery_options")
    widget.say(typed)
    waiting = widget.messages("user").last
    expect(waiting).to_have_attribute("data-status", "pending")
    client_id = waiting.get_attribute("data-client-id")
    assert client_id and [entry["id"] for entry in widget.state()["outbox"]] == [client_id]

    bot.server.start()
    expect(waiting).to_have_attribute("data-status", "sent", timeout=RECOVERY_MS)
    widget.wait_for_turn(after=turns)
    expect(widget.part("connection-banner")).to_be_hidden()
    assert widget.texts("bot")[-1] in response_texts(tiny_project, "utter_delivery_options", "en")
    assert widget.state()["outbox"] == []
    # Sent exactly once, stored exactly once, shown exactly once.
    assert [frame["id"] for frame in widget.sent_frames("user")].count(client_id) == 1
    stored = bot.transcript(conversation)
    assert [frame.get("id") for frame in stored].count(client_id) == 1
    assert shown_as_transcript(widget.bubbles()) == transcript_rows(stored)
    assert widget.texts("user").count(typed) == 1

"""Human handoff in the browser: a staff member (this test process, through
``ConversationService``) takes over the chat the widget is in, replies, and hands it back."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

from tests.web.bot_texts import en_example, response_texts
from tests.web.live_bot import LiveBot
from tests.web.widget_page import MESSAGE, WidgetPage, shown_as_transcript, transcript_rows

JOINED = "A person from our team has joined the chat."
BACK = "You are back with our virtual assistant."


def reconnect(widget: WidgetPage, context: BrowserContext) -> None:
    """Drop the widget's socket the way a lost network does, and let it come back."""
    context.set_offline(True)
    expect(widget.part("status")).to_have_attribute("data-state", "offline")
    context.set_offline(False)
    widget.expect_online()


def test_staff_takes_over_replies_and_hands_back(widget: WidgetPage, page: Page, tiny_project: Path,
                                                 shared_bot: LiveBot) -> None:
    widget.goto("/").open()
    widget.say_and_wait(en_example(tiny_project, "greet"))
    conversation = widget.conversation_id
    banner = widget.part("handoff-banner")
    expect(banner).to_be_hidden()

    shared_bot.take_over(conversation, agent="alice")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-state", "human")
    expect(banner).to_contain_text("You are chatting with a person from our team.")
    expect(widget.part("human-button")).to_be_hidden()
    expect(widget.part("notice")).to_have_text([JOINED])
    # While a person has the chat, the bot stays quiet.
    assert widget.say_and_wait("is anyone there?") == []

    shared_bot.staff_reply(conversation, "Hi, I'm Alice. How can I help?", agent="alice")
    human = page.locator(MESSAGE + "[data-source=human]")
    expect(human).to_have_count(1)
    expect(human.get_by_test_id("message-text")).to_have_text("Hi, I'm Alice. How can I help?")
    expect(human).to_contain_text("Support agent")

    shared_bot.hand_back(conversation, agent="alice")
    expect(banner).to_be_hidden()
    expect(widget.part("human-button")).to_be_visible()
    expect(widget.part("notice")).to_have_text([JOINED, BACK])
    replies = widget.say_and_wait(en_example(tiny_project, "thank_you"))
    assert replies and replies[0] in response_texts(tiny_project, "utter_thank_you", "en")
    assert shown_as_transcript(widget.bubbles()) == transcript_rows(shared_bot.transcript(conversation))


def test_a_reconnect_does_not_repeat_handoff_notices(widget: WidgetPage, page: Page, tiny_project: Path,
                                                     shared_bot: LiveBot) -> None:
    widget.goto("/").open()
    widget.say_and_wait(en_example(tiny_project, "greet"))
    conversation = widget.conversation_id
    # Taken over and handed back with no message in between: both handoff events are newer
    # than the last message, so a reconnect's replay (after the last message) repeats them.
    shared_bot.take_over(conversation, agent="bob")
    expect(widget.part("handoff-banner")).to_be_visible()
    shared_bot.hand_back(conversation, agent="bob")
    expect(widget.part("notice")).to_have_text([JOINED, BACK])
    reconnect(widget, page.context)
    # The replay has arrived once the next turn is answered (it comes before any answer).
    widget.say_and_wait(en_example(tiny_project, "thank_you"))
    expect(widget.part("notice")).to_have_text([JOINED, BACK])
    expect(widget.part("handoff-banner")).to_be_hidden()
    assert shown_as_transcript(widget.bubbles()) == transcript_rows(shared_bot.transcript(conversation))

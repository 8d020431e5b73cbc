"""The widget in a real browser against the real server: chatting, quick replies, history,
escaping, keyboard use and the Chinese UI."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Dialog, Page, Request, expect

from tests.web.bot_texts import en_example, greeting_buttons, response_texts, zh_example
from tests.web.live_bot import LiveBot
from tests.web.widget_page import WidgetPage, shown_as_transcript, transcript_rows


def test_multi_turn_conversation_in_english(widget: WidgetPage, tiny_project: Path, shared_bot: LiveBot) -> None:
    widget.goto("/").open()
    expect(widget.part("empty-state")).to_be_visible()
    said = []
    for intent, response in (("greet", "utter_greet"), ("get_refund", "utter_get_refund"),
                             ("thank_you", "utter_thank_you")):
        said.append(en_example(tiny_project, intent))
        replies = widget.say_and_wait(said[-1])
        assert len(replies) == 1 and replies[0] in response_texts(tiny_project, response, "en"), (intent, replies)
    expect(widget.part("empty-state")).to_be_hidden()
    assert widget.texts("user") == said
    assert all(bubble["status"] == "sent" for bubble in widget.bubbles() if bubble["role"] == "user")
    # What the customer sees is exactly what the server stored, in the same order.
    assert shown_as_transcript(widget.bubbles()) == transcript_rows(shared_bot.transcript(widget.conversation_id))


def test_quick_reply_sends_its_payload_and_gets_the_right_answer(widget: WidgetPage, tiny_project: Path,
                                                                 shared_bot: LiveBot) -> None:
    widget.goto("/").open()
    widget.say_and_wait(en_example(tiny_project, "greet"))
    buttons = greeting_buttons(tiny_project, "en")
    expect(widget.part("quick-reply")).to_have_text([b["title"] for b in buttons])
    refund = next(b for b in buttons if b["payload"] == "/get_refund")
    replies = widget.click_quick_reply(refund["title"])
    assert replies and replies[0] in response_texts(tiny_project, "utter_get_refund", "en")
    # The customer's bubble shows the button's title; the buttons are gone once answered.
    assert widget.texts("user")[-1] == refund["title"]
    expect(widget.part("quick-reply")).to_have_count(0)
    assert widget.sent_frames("user")[-1]["text"] == "/get_refund"
    # The server keeps the title for the history, so a transcript reads like the chat.
    assert shown_as_transcript(widget.bubbles()) == transcript_rows(shared_bot.transcript(widget.conversation_id))


def test_reload_shows_the_history(widget: WidgetPage, tiny_project: Path, shared_bot: LiveBot) -> None:
    widget.goto("/").open()
    widget.say_and_wait(en_example(tiny_project, "greet"))
    widget.say_and_wait(en_example(tiny_project, "get_refund"))
    before = widget.bubbles()
    assert len(before) == 4
    widget.reload()
    # The chat stays open across the reload and replays the stored conversation, once.
    expect(widget.part("panel")).to_be_visible()
    widget.expect_online()
    expect(widget.messages()).to_have_count(4)
    after = widget.bubbles()
    assert shown_as_transcript(after) == shown_as_transcript(before)
    assert shown_as_transcript(after) == transcript_rows(shared_bot.transcript(widget.conversation_id))
    assert all(bubble["status"] == "sent" for bubble in after if bubble["role"] == "user")
    # The conversation goes on where it was.
    replies = widget.say_and_wait(en_example(tiny_project, "thank_you"))
    assert replies and replies[0] in response_texts(tiny_project, "utter_thank_you", "en")


def test_markup_from_the_customer_is_shown_as_text_and_never_runs(widget: WidgetPage, page: Page,
                                                                   shared_bot: LiveBot) -> None:
    dialogs: list[str] = []
    image_requests: list[str] = []  # an <img src=x> made from the text would fetch "/x"

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        if request.url.endswith("/x"):
            image_requests.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    attack = "<img src=x onerror=alert(1)>"
    widget.goto("/").open()
    images_before = widget.shadow_count("img")
    widget.say_and_wait(attack)
    assert widget.texts("user") == [attack]
    # The replay after a reload takes another path into the page (text from the server).
    widget.reload()
    widget.expect_online()
    expect(widget.messages("user")).to_have_count(1)
    assert widget.texts("user") == [attack]
    assert [row[:2] for row in transcript_rows(shared_bot.transcript(widget.conversation_id))][0] == ("user", attack)
    assert widget.shadow_count("img") == images_before == 0
    assert page.evaluate("document.querySelectorAll('img[src=x], img[onerror]').length") == 0
    assert dialogs == [] and image_requests == []


def test_keyboard_only(widget: WidgetPage, page: Page, tiny_project: Path) -> None:
    widget.goto("/")
    launcher = widget.part("launcher")
    is_focused = "el => el.getRootNode().activeElement === el && document.activeElement === el.getRootNode().host"
    for _ in range(40):  # the demo shop's links and buttons come first
        page.keyboard.press("Tab")
        if launcher.evaluate(is_focused):
            break
    assert launcher.evaluate(is_focused), "Tab never reached the chat launcher"
    page.keyboard.press("Enter")
    expect(widget.part("panel")).to_be_visible()
    expect(widget.part("input")).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    widget.expect_online()
    turns = widget.finished_turns()
    page.keyboard.type(en_example(tiny_project, "greet"))
    page.keyboard.press("Enter")
    widget.wait_for_turn(after=turns)
    assert widget.texts("bot")[0] in response_texts(tiny_project, "utter_greet", "en")
    expect(widget.part("input")).to_have_value("")
    page.keyboard.press("Escape")
    expect(widget.part("panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_chinese_ui_and_a_chinese_conversation(widget: WidgetPage, tiny_project: Path) -> None:
    widget.goto("/zh").open()
    expect(widget.part("title")).to_have_text("在线客服")
    expect(widget.part("status")).to_have_text("在线")
    expect(widget.part("input")).to_have_attribute("placeholder", "请输入消息…")
    expect(widget.part("launcher")).to_have_attribute("aria-label", "关闭聊天")
    assert widget.sent_frames("hello")[0]["lang"] == "zh-CN"
    replies = widget.say_and_wait(zh_example(tiny_project, "greet"))
    assert replies and replies[0] in response_texts(tiny_project, "utter_greet", "zh")
    expect(widget.part("quick-reply")).to_have_text([b["title"] for b in greeting_buttons(tiny_project, "zh")])
    replies = widget.say_and_wait(zh_example(tiny_project, "get_refund"))
    assert replies and replies[0] in response_texts(tiny_project, "utter_get_refund", "zh")

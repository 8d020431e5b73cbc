"""A page object for the chat widget: what a customer does with it and what it shows.

Selectors are the widget's stable ``data-testid``s (documented at the top of
web/widget/widget.js); Playwright's CSS engine pierces the widget's open shadow root.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, Page, expect

MESSAGE = "[data-testid=message]"
# How long a bot turn may take on the shared 2-core test machine.
TURN_TIMEOUT_MS = 15_000

# Every frame the widget receives or sends and every status it passes through, recorded
# through its public JavaScript API (KefuWidget.on) from the moment the page is loaded.
_RECORDER = """() => {
  window.__kefu = {frames: [], sent: [], statuses: [KefuWidget.state().status]};
  KefuWidget.on("frame", (f) => window.__kefu.frames.push(f));
  KefuWidget.on("sent", (f) => window.__kefu.sent.push(f));
  KefuWidget.on("status", (s) => window.__kefu.statuses.push(s.state));
}"""

# One entry per message bubble, in the order shown.
_BUBBLES = """els => els.map(el => {
  const bubble = el.querySelector("[data-testid=message-text]");
  return {role: el.dataset.role, source: el.dataset.source, text: bubble ? bubble.textContent : "",
          eventId: el.dataset.eventId || null, clientId: el.dataset.clientId || null,
          status: el.dataset.status || null};
})"""


class WidgetPage:
    """The widget on a demo page of a running server (``base_url``)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    # -- navigation ------------------------------------------------------------------------
    def goto(self, path: str = "/") -> "WidgetPage":
        self.page.goto(self.base_url + path)
        self._start_recording()
        return self

    def reload(self) -> "WidgetPage":
        self.page.reload()
        self._start_recording()
        return self

    def _start_recording(self) -> None:
        self.page.wait_for_function("() => window.KefuWidget && window.KefuWidget.version")
        self.page.evaluate(_RECORDER)

    # -- parts -----------------------------------------------------------------------------
    def part(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    def messages(self, role: str | None = None) -> Locator:
        return self.page.locator(MESSAGE + (f"[data-role={role}]" if role else ""))

    # -- what a customer does --------------------------------------------------------------
    def open(self) -> None:
        """Click the launcher and wait until the chat is connected."""
        self.part("launcher").click()
        expect(self.part("panel")).to_be_visible()
        self.expect_online()

    def say(self, text: str) -> None:
        """Type ``text`` into the message box and press Enter."""
        self.part("input").fill(text)
        self.part("input").press("Enter")

    def say_and_wait(self, text: str) -> list[str]:
        """Send ``text`` and wait for the whole bot turn; returns the texts of its bot messages."""
        return self._bot_turn(lambda: self.say(text))

    def click_quick_reply(self, title: str) -> list[str]:
        """Click the quick reply titled ``title``; returns the texts of the bot's answer."""
        button = self.part("quick-reply").filter(has_text=re.compile(f"^{re.escape(title)}$"))
        return self._bot_turn(button.click)

    def _bot_turn(self, act: Callable[[], None]) -> list[str]:
        turns = self.finished_turns()
        bots_before = self.messages("bot").count()
        act()
        self.wait_for_turn(after=turns)
        return self.texts("bot")[bots_before:]

    # -- what it shows ---------------------------------------------------------------------
    def expect_online(self, timeout_ms: float = TURN_TIMEOUT_MS) -> None:
        expect(self.part("status")).to_have_attribute("data-state", "online", timeout=timeout_ms)

    def finished_turns(self) -> int:
        """How many bot turns have ended (``typing`` off frames) since the page loaded."""
        return self.page.evaluate("window.__kefu.frames.filter(f => f.type === 'typing' && f.on === false).length")

    def wait_for_turn(self, *, after: int, timeout_ms: float = TURN_TIMEOUT_MS) -> None:
        """Wait until a bot turn ends beyond the ``after``-th (the server closes every turn,
        answered or not, with ``typing`` off after its bot frames)."""
        self.page.wait_for_function(
            "n => window.__kefu.frames.filter(f => f.type === 'typing' && f.on === false).length > n",
            arg=after, timeout=timeout_ms)

    def bubbles(self) -> list[dict[str, Any]]:
        """Every message shown: role, source, text, eventId, clientId, status."""
        return self.messages().evaluate_all(_BUBBLES)

    def texts(self, role: str | None = None) -> list[str]:
        return [bubble["text"] for bubble in self.bubbles() if role is None or bubble["role"] == role]

    def state(self) -> dict[str, Any]:
        """``KefuWidget.state()``: status, conversationId, lastEventId, unread, handoff, outbox."""
        return self.page.evaluate("KefuWidget.state()")

    @property
    def conversation_id(self) -> str:
        conversation_id = self.state()["conversationId"]
        assert conversation_id, "the widget has no conversation yet"
        return conversation_id

    def sent_frames(self, kind: str) -> list[dict[str, Any]]:
        return self.page.evaluate("k => window.__kefu.sent.filter(f => f.type === k)", kind)

    def statuses(self) -> list[str]:
        """The connection states passed through since the page loaded, in order."""
        return self.page.evaluate("window.__kefu.statuses")

    def shadow_count(self, selector: str) -> int:
        """How many elements match ``selector`` inside the widget's shadow root."""
        return self.page.evaluate(
            "s => document.getElementById('kefu-widget').shadowRoot.querySelectorAll(s).length", selector)


def shown_as_transcript(bubbles: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """Bubbles as (role, text, event id), comparable with :func:`transcript_rows`."""
    return [(b["role"], b["text"], b["eventId"]) for b in bubbles]


def transcript_rows(frames: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Stored message frames (``LiveBot.transcript``) as (role, text, event id)."""
    return [(f["type"], f["text"], f["event_id"]) for f in frames]

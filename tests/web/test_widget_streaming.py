"""A generated answer in a real browser: the widget shows the tokens as they stream, then
settles on the final `bot` frame (the generated text, or the template when the guard said no)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.tiny_bot import make_tiny_project
from tests.web.conftest import _live_bot
from tests.web.live_bot import LiveBot, LoopThread
from tests.web.widget_page import WidgetPage

# Every text a streaming bubble showed, recorded inside the widget's shadow root.
_WATCH_STREAMS = """() => {
  window.__streamed = [];
  const root = document.getElementById('kefu-widget').shadowRoot;
  new MutationObserver(() => {
    for (const el of root.querySelectorAll('[data-streaming=true] [data-testid=message-text]')) {
      window.__streamed.push(el.textContent);
    }
  }).observe(root, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def generating_bot(tiny_generating_model: Path, redis_url: str, redis_prefix: str, action_server: str,
                   tmp_path: Path, loop_thread: LoopThread) -> Iterator[LiveBot]:
    project = make_tiny_project(tmp_path / "project", answer_mode="generate")
    yield from _live_bot(tiny_generating_model, project, redis_url, redis_prefix, action_server, tmp_path, loop_thread)


def test_streamed_tokens_show_then_the_final_answer_replaces_them(page: Page, generating_bot: LiveBot) -> None:
    widget = WidgetPage(page, generating_bot.base_url)
    widget.goto("/").open()
    page.evaluate(_WATCH_STREAMS)
    bots_before = widget.messages("bot").count()
    replies = widget.say_and_wait("how long does delivery take?")
    frames = page.evaluate("window.__kefu.frames")
    tokens = [f for f in frames if f["type"] == "token"]
    final = [f for f in frames if f["type"] == "bot"][-1]
    assert final.get("stream_id"), final
    assert tokens, "the generator streamed nothing"
    assert {t["stream_id"] for t in tokens} == {final["stream_id"]}
    # While streaming, the bubble grew with the tokens ...
    streamed = page.evaluate("window.__streamed")
    assert streamed and streamed[-1] == "".join(t["text"] for t in tokens)
    # ... and then one bubble holds the final text, whatever the guard decided.
    assert replies == [final["text"]]
    assert widget.messages("bot").count() == bots_before + 1
    assert widget.shadow_count("[data-streaming=true]") == 0
    stored = [e for e in generating_bot.transcript(widget.conversation_id) if e["type"] == "bot"]
    assert stored[-1]["text"] == final["text"]

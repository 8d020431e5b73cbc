"""Generated answers in a real server: `token` frames stream, the guarded `bot` frame ends
them, and the decision with its scores is stored with the event for staff review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import ConversationStore
from tests.bot.conftest import KefuServer
from tests.bot.test_server_ws import response_texts
from tests.chat_client import ChatClient
from tests.tiny_bot import make_tiny_project

GENERATION_KEYS = {"decision", "confidence", "intent_consistent", "grounded", "ungrounded", "stream_id", "passage_id"}


def _project(tmp_path: Path, answer_mode: str) -> Path:
    return make_tiny_project(tmp_path / f"project-{answer_mode}", answer_mode=answer_mode)


@pytest.fixture
def generating_server(tiny_generating_model: Path, redis_url: str, redis_prefix: str, action_server: str,
                      tmp_path: Path) -> Iterator[KefuServer]:
    process = KefuServer(model=tiny_generating_model, project=_project(tmp_path, "generate"), redis_url=redis_url,
                         prefix=redis_prefix, action_endpoint=action_server, var_dir=tmp_path).start()
    yield process
    process.stop()


async def test_a_generated_answer_streams_then_arrives_guarded_and_reviewable(
        generating_server: KefuServer, store: ConversationStore, tmp_path: Path) -> None:
    project = tmp_path / "project-generate"
    async with ChatClient(generating_server.ws_url) as chat:
        await chat.hello()
        _, replies = await chat.say("how long does delivery take?")
        frames = chat.last_turn_frames
        events = await store.read_events(chat.conversation_id)
    assert len(replies) == 1
    reply = replies[0]
    # Every answer to a customer's question went through the generator (answer_mode: generate).
    assert reply["stream_id"]
    tokens = [f for f in frames if f["type"] == "token"]
    assert all(t["stream_id"] == reply["stream_id"] for t in tokens)
    # Tokens come before the final frame, which settles the text.
    if tokens:
        assert frames.index(tokens[-1]) < frames.index(reply)
    bot_events = [e.event for e in events if e.event.get("event") == "bot"]
    generation = bot_events[-1]["metadata"]["generation"]
    assert GENERATION_KEYS <= set(generation)
    assert generation["stream_id"] == reply["stream_id"]
    if generation["decision"] == "generated":
        assert reply["source"] == "generated" and reply["text"] == bot_events[-1]["text"]
        assert "".join(t["text"] for t in tokens).strip() == reply["text"].strip()
        assert generation["grounded"] and generation["intent_consistent"]
    else:
        # The guard said no: the curated template answers, and the streamed text is replaced.
        assert generation["decision"] == "fallback_to_template"
        assert reply["source"] == "template"
        assert reply["text"] in response_texts(project, "utter_delivery_period", "en")


async def test_form_questions_and_greetings_stay_templates_in_hybrid_mode(
        tiny_generating_model: Path, redis_url: str, redis_prefix: str, action_server: str, tmp_path: Path) -> None:
    project = _project(tmp_path, "hybrid")
    server = KefuServer(model=tiny_generating_model, project=project, redis_url=redis_url, prefix=redis_prefix,
                        action_endpoint=action_server, var_dir=tmp_path).start()
    try:
        async with ChatClient(server.ws_url) as chat:
            await chat.hello()
            _, replies = await chat.say("hello")
            assert replies[0]["text"] in response_texts(project, "utter_greet", "en")
            assert "stream_id" not in replies[0]
            _, replies = await chat.say("where is my order")
            assert replies[-1]["text"] in response_texts(project, "utter_ask_order_id", "en")
            assert not [f for f in chat.last_turn_frames if f["type"] == "token"]
    finally:
        server.stop()

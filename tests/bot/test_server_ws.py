"""The real server process on a free port, spoken to by a real websocket client."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from tests.bot.conftest import KefuServer
from tests.chat_client import ChatClient
from tests.tiny_bot import nlu_examples


def response_texts(project: Path, response: str, language: str) -> set[str]:
    """Every text the domain's ``response`` can say in ``language``."""
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    texts = set()
    for variation in domain["responses"][response]:
        conditions = variation.get("condition") or []
        is_zh = any(c.get("name") == "language" and c.get("value") == "zh" for c in conditions)
        if is_zh == (language == "zh"):
            texts.add(variation["text"].strip())
    assert texts, f"{response} has no {language} variation"
    return texts


def zh_example(project: Path, intent: str) -> str:
    return next(t for t in nlu_examples(project, intent) if any("\u4e00" <= ch <= "\u9fff" for ch in t))


async def test_health_and_pages(server: KefuServer) -> None:
    health = httpx.get(server.health_url).json()
    assert health["status"] == "ok" and health["redis"] is True
    page = httpx.get(f"http://127.0.0.1:{server.port}/")
    assert page.status_code == 200 and "/widget.js" in page.text
    assert httpx.get(f"http://127.0.0.1:{server.port}/widget.js").status_code == 200


async def test_multi_turn_conversation_in_english(server: KefuServer, tiny_project: Path) -> None:
    async with ChatClient(server.ws_url) as chat:
        welcome, history = await chat.hello()
        assert len(welcome["conversation_id"]) >= 22 and welcome["token"] and history == []
        ack, replies = await chat.say("hello")
        assert ack["event_id"]
        assert [r["text"] for r in replies][0] in response_texts(tiny_project, "utter_greet", "en")
        assert replies[0]["source"] == "template" and replies[0]["buttons"]
        _, replies = await chat.say("I need a refund for my purchase")
        assert replies[0]["text"] in response_texts(tiny_project, "utter_get_refund", "en")
        _, replies = await chat.say("thank you so much")
        assert replies[0]["text"] in response_texts(tiny_project, "utter_thank_you", "en")
        # Event ids grow, so a widget can ask for "everything after N".
        assert replies[0]["event_id"] > ack["event_id"]


async def test_multi_turn_conversation_in_chinese(server: KefuServer, tiny_project: Path) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.hello(lang="zh-CN")
        _, replies = await chat.say(zh_example(tiny_project, "greet"))
        assert replies[0]["text"] in response_texts(tiny_project, "utter_greet", "zh")
        _, replies = await chat.say(zh_example(tiny_project, "get_refund"))
        assert replies[0]["text"] in response_texts(tiny_project, "utter_get_refund", "zh")


async def test_button_payload_skips_the_model(server: KefuServer, tiny_project: Path) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        _, replies = await chat.say("/thank_you")
        assert replies[0]["text"] in response_texts(tiny_project, "utter_thank_you", "en")


async def test_same_message_id_twice_is_one_message(server: KefuServer) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        first, replies = await chat.say("hello", message_id="m-1")
        again, replies_again = await chat.say("hello", message_id="m-1")
        assert again["event_id"] == first["event_id"] and again["duplicate"] is True
        assert replies and replies_again == []
        conversation_id, token = chat.conversation_id, chat.token
    async with ChatClient(server.ws_url) as chat:
        _, history = await chat.hello(conversation_id, token)
    assert [f["text"] for f in history if f["type"] == "user"] == ["hello"]


async def test_conversation_survives_a_server_restart(server: KefuServer, tiny_project: Path) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        ack, greeting = await chat.say("hello")
        conversation_id, token = chat.conversation_id, chat.token
    server.restart()
    async with ChatClient(server.ws_url) as chat:
        welcome, missed = await chat.hello(conversation_id, token, last_event_id=greeting[-1]["event_id"])
        assert welcome["conversation_id"] == conversation_id and welcome["resumed"] is True
        assert missed == []
        _, replies = await chat.say("thank you so much")
        assert replies[0]["text"] in response_texts(tiny_project, "utter_thank_you", "en")
    async with ChatClient(server.ws_url) as chat:
        _, history = await chat.hello(conversation_id, token)
        kinds = [(f["type"], f.get("text")) for f in history]
        assert kinds[0] == ("user", "hello") and kinds[1][0] == "bot"
        assert ("user", "thank you so much") in kinds and len(history) == 4


async def test_bad_frames_get_errors_and_the_conversation_goes_on(server: KefuServer) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        await chat.send("{this is not json")
        assert (await chat.recv())["code"] == "bad_json"
        await chat.send({"type": "user", "id": "x1", "text": "x" * 20_000})
        assert (await chat.recv())["code"] == "too_large"
        await chat.send({"type": "user", "id": "x2", "text": "y" * 2001})
        assert (await chat.recv())["code"] == "too_large"
        await chat.send({"type": "teleport"})
        assert (await chat.recv())["code"] == "unknown_type"
        assert chat.ws is not None
        await chat.ws.send(b"\x00\x01binary")
        assert (await chat.recv())["code"] == "bad_frame"
        _, replies = await chat.say("hello")
        assert replies


async def test_user_message_before_hello_is_refused(server: KefuServer) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.send({"type": "user", "id": "m1", "text": "hi"})
        assert (await chat.recv())["code"] == "not_ready"


async def test_wrong_token_cannot_open_someone_elses_conversation(server: KefuServer) -> None:
    async with ChatClient(server.ws_url) as owner:
        await owner.hello()
        await owner.say("hello")
        victim_id, victim_token = owner.conversation_id, owner.token
    async with ChatClient(server.ws_url) as intruder:
        welcome, history = await intruder.hello(victim_id, "0" * 64)
        assert welcome["conversation_id"] != victim_id and welcome["resumed"] is False
        assert history == []
    # A token for one conversation does not open another.
    async with ChatClient(server.ws_url) as other:
        await other.hello()
        other_id = other.conversation_id
    async with ChatClient(server.ws_url) as intruder:
        welcome, history = await intruder.hello(other_id, victim_token)
        assert welcome["conversation_id"] != other_id and history == []


async def test_metrics_count_turns_errors_and_connections(server: KefuServer) -> None:
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        await chat.say("hello")
        await chat.send("{not json")
        await chat.recv()
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
        assert "kefu_active_connections 1.0" in text
    assert 'kefu_errors_total{code="bad_json"} 1.0' in text
    assert "kefu_messages_total 1.0" in text
    assert "kefu_turn_seconds_count 1.0" in text and "kefu_nlu_seconds_count 1.0" in text

"""Two server processes share one Redis: a conversation may land on either at any time.

A load balancer without sticky sessions sends each new websocket to any replica, so a
reconnecting customer hops between them; two tabs of one conversation may sit on different
replicas and send at the same moment. The test is its own load balancer: the client uses the
two servers' URLs alternately, which is what round-robin does to reconnects (a proxy in
between would add bytes to copy, not behaviour to test).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.bot.conftest import KefuServer
from tests.chat_client import ChatClient
from tests.reliability.conftest import ServerFactory
from tests.reliability.transcript import assert_turns_not_interleaved, message_ids, read_transcript

TEXTS = ["/greet", "/track_order", '/inform{"order_id": "ORD-10003"}', "/delivery_period", "/bot_challenge",
         "/check_payment_methods", "/thank_you", "/goodbye"]


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    """The replicas' shared key prefix; its keys are deleted afterwards."""
    shared = f"kefu-scale-out:{uuid.uuid4().hex[:8]}:"
    yield shared
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{shared}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def replicas(tiny_model: Path, tiny_project: Path, redis_url: str, prefix: str, action_server: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[KefuServer]]:
    """Two `kefu serve` processes on one Redis, with the same prefix and secret."""
    factory = ServerFactory(model=tiny_model, project=tiny_project, workdir=tmp_path_factory.mktemp("replicas"))
    try:
        yield [factory.start(redis_url=redis_url, prefix=prefix, action_endpoint=action_server) for _ in range(2)]
    finally:
        factory.close()


async def test_conversation_hops_between_replicas_on_every_turn(
        replicas: list[KefuServer], redis_url: str, prefix: str) -> None:
    conversation = token = last_seen = None
    sent: list[str] = []
    for turn, text in enumerate(TEXTS):
        async with ChatClient(replicas[turn % 2].ws_url) as chat:
            welcome, missed = await chat.hello(conversation, token, last_event_id=last_seen)
            assert welcome["resumed"] is (turn > 0)
            assert missed == [], "the previous replica already delivered everything"
            conversation, token = chat.conversation_id, chat.token
            ack, replies = await chat.say(text, message_id=f"turn-{turn}")
            assert replies, f"{text} got no answer on replica {turn % 2}"
            sent.append(f"turn-{turn}")
            last_seen = replies[-1]["event_id"]
    assert conversation is not None
    entries = read_transcript(redis_url, prefix, conversation)
    assert message_ids(entries) == sent
    assert_turns_not_interleaved(entries)


async def test_two_tabs_on_two_replicas_never_interleave_turns(
        replicas: list[KefuServer], redis_url: str, prefix: str) -> None:
    received: dict[str, list[dict]] = {"a": [], "b": []}
    async with ChatClient(replicas[0].ws_url) as first:
        await first.hello()
        async with ChatClient(replicas[1].ws_url) as second:
            await second.hello(first.conversation_id, first.token)

            async def tab(chat: ChatClient, name: str) -> list[str]:
                ids = []
                for n, text in enumerate(TEXTS[3:7]):
                    message_id = f"{name}-{n}"
                    await chat.send({"type": "user", "id": message_id, "text": text})
                    received[name] += await chat.until(lambda f, m=message_id: f["type"] == "ack" and f["id"] == m)
                    ids.append(message_id)
                    await asyncio.sleep(0.05)
                return ids

            # Both tabs send at once; the replicas take turns on the conversation's lock.
            sent_a, sent_b = await asyncio.gather(tab(first, "a"), tab(second, "b"))
            # Let the last turns finish; the other replica's answers arrive over Redis pub/sub.
            await asyncio.sleep(1.5)
            for chat, name in ((first, "a"), (second, "b")):
                await chat.send({"type": "ping"})
                received[name] += await chat.until(lambda f: f["type"] == "pong")

    entries = read_transcript(redis_url, prefix, first.conversation_id or "")
    ids = message_ids(entries)
    assert sorted(ids) == sorted(sent_a + sent_b)
    assert [i for i in ids if i.startswith("a")] == sent_a and [i for i in ids if i.startswith("b")] == sent_b
    assert_turns_not_interleaved(entries)
    # Each tab was shown every answer, whichever replica produced it, and none twice.
    answers = [e.event_id for e in entries if e.kind == "bot"]
    for name, frames in received.items():
        shown = [f["event_id"] for f in frames if f["type"] == "bot"]
        assert sorted(shown) == sorted(answers), name

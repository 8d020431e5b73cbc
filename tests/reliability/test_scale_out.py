"""Two server processes share one Redis: a conversation may land on either at any time.

A load balancer without sticky sessions sends each new websocket to any replica, so a
reconnecting customer hops between them; two tabs of one conversation may sit on different
replicas and send at the same moment. The test is its own load balancer: the client uses the
two servers' URLs alternately, which is what round-robin does to reconnects (a proxy in
between would add bytes to copy, not behaviour to test).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from bot.embedded_redis import free_port
from tests.bot.conftest import KefuServer
from tests.chat_client import ChatClient
from tests.processes import ManagedProcess
from tests.redis_keys import delete_prefix
from tests.reliability.conftest import ServerFactory
from tests.reliability.transcript import (
    assert_turns_not_interleaved,
    message_ids,
    read_transcript,
)
from tests.test_docker_compose import nginx_conf_for_local_test

CONNECTIONS_PER_IP = 3
TEXTS = ["/greet", "/track_order", '/inform{"order_id": "ORD-10003"}', "/delivery_period", "/bot_challenge",
         "/check_payment_methods", "/thank_you", "/goodbye"]


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    """The replicas' shared key prefix; its keys are deleted afterwards."""
    shared = f"kefu-scale-out:{uuid.uuid4().hex[:8]}:"
    yield shared
    delete_prefix(redis_url, shared)


@pytest.fixture(scope="module")
def replicas(tiny_model: Path, tiny_project: Path, redis_url: str, prefix: str, action_server: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[KefuServer]]:
    """Two `kefu serve` processes on one Redis, with the same prefix and secret."""
    factory = ServerFactory(model=tiny_model, project=tiny_project, workdir=tmp_path_factory.mktemp("replicas"))
    try:
        # A small per-address cap, so the nginx test can reach it.
        yield [factory.start(redis_url=redis_url, prefix=prefix, action_endpoint=action_server,
                             env={"KEFU_CONNECTIONS_PER_IP": str(CONNECTIONS_PER_IP)}) for _ in range(2)]
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


def messages_taken(server: KefuServer) -> float:
    """The replica's `kefu_messages_total`: customer messages it ran turns for."""
    metrics = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("kefu_messages_total ")))


@pytest.fixture
def nginx_front(replicas: list[KefuServer], tmp_path: Path) -> Iterator[str]:
    """deploy/nginx.conf run by Debian's nginx in front of the two replicas; yields its /ws URL."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("Debian's nginx is not installed (apt-get install nginx)")
    port = free_port()
    conf = nginx_conf_for_local_test(tmp_path, listen=f"127.0.0.1:{port}",
                                     upstreams=[f"127.0.0.1:{replica.port}" for replica in replicas])
    front = ManagedProcess([nginx, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf),
                            "-g", f"daemon off; pid {tmp_path / 'nginx.pid'};"],
                           health_url=f"http://127.0.0.1:{port}/nginx-health", log_path=tmp_path / "nginx.log").start()
    yield f"ws://127.0.0.1:{port}/ws"
    front.stop()


async def test_nginx_config_balances_websockets_over_the_replicas(
        nginx_front: str, replicas: list[KefuServer]) -> None:
    before = [messages_taken(replica) for replica in replicas]
    conversation = token = None
    for text in TEXTS[:6]:  # a reconnect per turn, as a widget on a flaky network
        async with ChatClient(nginx_front, local_addr=("127.0.0.51", 0), proxy=None) as chat:
            await chat.hello(conversation, token)
            conversation, token = chat.conversation_id, chat.token
            _, replies = await chat.say(text)
            assert replies
    taken = [messages_taken(replica) - b for replica, b in zip(replicas, before)]
    assert sum(taken) == 6 and all(n > 0 for n in taken), taken


async def test_nginx_passes_the_real_client_address_not_a_forged_one(
        nginx_front: str, replicas: list[KefuServer]) -> None:
    """Behind nginx the per-address cap still counts the customer's own address, however
    many different X-Forwarded-For headers the customer makes up."""
    opened: list[ChatClient] = []
    refused = 0
    try:
        for n in range(CONNECTIONS_PER_IP * len(replicas) + 1):
            chat = ChatClient(nginx_front, local_addr=("127.0.0.52", 0), proxy=None,
                              additional_headers={"X-Forwarded-For": f"203.0.113.{n}"})
            try:
                opened.append(await chat.__aenter__())
            except InvalidStatus as status:
                assert status.response.status_code == 403
                refused += 1
        assert refused >= 1 and len(opened) <= CONNECTIONS_PER_IP * len(replicas)
        # Someone else is not affected.
        async with ChatClient(nginx_front, local_addr=("127.0.0.53", 0), proxy=None) as other:
            welcome, _ = await other.hello()
            assert welcome["type"] == "welcome"
    finally:
        for chat in opened:
            await chat.__aexit__(None, None, None)

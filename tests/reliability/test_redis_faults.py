"""Redis crashes, restarts and outages, with a Redis of the test's own (append-only file on).

Nothing acked is lost when Redis is killed and started again; while it is down customers
get a clear ``unavailable`` error (naming their message) and no process crashes; when it is
back, the same connection carries on without anyone restarting anything.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bot.embedded_redis import EmbeddedRedis
from tests.chat_client import ChatClient
from tests.reliability.conftest import ServerFactory
from tests.reliability.transcript import assert_turns_not_interleaved, message_ids, read_transcript

PREFIX = "kefu-faults:"
ORDER = '/inform{"order_id": "ORD-10003"}'


def wait_for_health(url: str, status: int, *, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} within {timeout_s} s")


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_sessions_and_transcripts_survive_a_redis_crash(
        servers: ServerFactory, own_redis: EmbeddedRedis, action_server: str, transport: str) -> None:
    # `kefu run` talks to its embedded Redis over the Unix socket; a deployment over TCP.
    redis_url = own_redis.local_url if transport == "unix" else own_redis.url
    assert redis_url.startswith("unix://" if transport == "unix" else "redis://")
    server = servers.start(redis_url=redis_url, prefix=PREFIX, action_endpoint=action_server)
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        await chat.say("/greet")
        _, asked = await chat.say("/track_order")  # the order form is waiting for a number
        assert "order number" in asked[0]["text"]
        conversation, token = chat.conversation_id, chat.token

        own_redis.kill()  # SIGKILL: no shutdown save; only the append-only file is left
        own_redis.start()

        # The same socket goes on, and the form remembers what it was asking.
        _, answer = await chat.say(ORDER)
        assert answer[-1]["source"] == "action" and "ORD-10003" in answer[-1]["text"]

    async with ChatClient(server.ws_url) as chat:
        _, history = await chat.hello(conversation, token)
    assert [f["text"] for f in history if f["type"] == "user"] == ["/greet", "/track_order", ORDER]
    entries = read_transcript(own_redis.url, PREFIX, conversation)
    assert len(message_ids(entries)) == 3
    assert_turns_not_interleaved(entries)


async def test_redis_outage_gives_unavailable_and_service_resumes_by_itself(
        servers: ServerFactory, own_redis: EmbeddedRedis, action_server: str) -> None:
    server = servers.start(redis_url=own_redis.url, prefix=PREFIX, action_endpoint=action_server)
    pid = server.process.pid if server.process else None
    async with ChatClient(server.ws_url) as chat:
        await chat.hello()
        await chat.say("/greet")
        own_redis.stop()
        try:
            started = time.monotonic()
            await chat.send({"type": "user", "id": "during-outage", "text": "/thank_you"})
            error = (await chat.until(lambda f: f["type"] == "error"))[-1]
            assert error["code"] == "unavailable" and error["id"] == "during-outage"
            assert "not lost" in error["message"]
            assert time.monotonic() - started < 10, "the customer hears about the outage within seconds"
            await chat.until(lambda f: f["type"] == "typing" and f["on"] is False)
            # The socket is still open and the server answers what needs no Redis.
            await chat.send({"type": "ping"})
            assert (await chat.recv())["type"] == "pong"
            health = httpx.get(server.health_url, timeout=5)
            assert health.status_code == 503 and health.json()["redis"] is False
        finally:
            own_redis.start()
        wait_for_health(server.health_url, 200)

        # Nobody restarted the server: the same process, the same socket, a normal answer.
        assert server.process is not None and server.process.poll() is None and server.process.pid == pid
        ack, replies = await chat.say("/thank_you", message_id="during-outage")
        assert ack["duplicate"] is False and replies
        conversation = chat.conversation_id
    entries = read_transcript(own_redis.url, PREFIX, conversation)
    assert message_ids(entries)[-1] == "during-outage" and len(message_ids(entries)) == 2


async def test_new_conversations_start_while_redis_comes_and_goes(
        servers: ServerFactory, own_redis: EmbeddedRedis, action_server: str) -> None:
    """Redis flapping under several customers: each message is either acked and stored once,
    or refused with `unavailable`; never stored without an ack being possible to get, never
    stored twice, and the server stays up throughout."""
    server = servers.start(redis_url=own_redis.url, prefix=PREFIX, action_endpoint=action_server)
    outcomes: dict[str, str] = {}

    async def send_until_answered(chat: ChatClient, message_id: str) -> None:
        """Send, and resend (same id, as the widget does) while the answer is `unavailable`."""
        for attempt in range(30):
            await chat.send({"type": "user", "id": message_id, "text": "/greet"})
            frames = await chat.until(lambda f: f["type"] == "typing" and not f["on"])
            errors = [f for f in frames if f["type"] == "error"]
            if not errors:
                outcomes[message_id] = "answered" if attempt == 0 else f"answered after {attempt} refusals"
                return
            assert errors[0]["code"] in ("unavailable", "busy") and errors[0]["id"] == message_id, errors
            await asyncio.sleep(0.5)
        raise AssertionError(f"{message_id} was never answered")

    async def customer(name: str) -> str:
        async with ChatClient(server.ws_url, timeout_s=20) as chat:
            await chat.hello()
            for n in range(5):
                await send_until_answered(chat, f"{name}-{n}")
                await asyncio.sleep(0.45)
            assert chat.conversation_id is not None
            return chat.conversation_id

    async def flap() -> None:
        for _ in range(2):
            await asyncio.sleep(0.8)
            await asyncio.to_thread(own_redis.kill)
            await asyncio.sleep(0.4)
            await asyncio.to_thread(own_redis.start)

    conversations, _ = await asyncio.gather(asyncio.gather(*(customer(f"c{i}") for i in range(3))), flap())
    assert server.process is not None and server.process.poll() is None
    for name, conversation in zip(("c0", "c1", "c2"), conversations):
        ids = message_ids(read_transcript(own_redis.url, PREFIX, conversation))
        assert ids == [f"{name}-{n}" for n in range(5)], outcomes
        assert_turns_not_interleaved(read_transcript(own_redis.url, PREFIX, conversation))


async def test_an_append_whose_reply_was_lost_is_retried_and_stored_once(own_redis: EmbeddedRedis) -> None:
    """The connection breaks after Redis ran an append: the client retries on a new
    connection, and the append's token makes the retry return the first attempt's ids."""
    from bot.store import ConversationStore
    from tests.reliability.reply_dropper import ReplyDropper

    dropper = await ReplyDropper(own_redis.port).start()
    store = ConversationStore.from_url(f"redis://127.0.0.1:{dropper.port}/0", prefix=PREFIX)
    try:
        await store.append_events("c1", [{"event": "action", "name": "action_listen"}])
        dropper.arm()
        ids = await store.append_events("c1", [{"event": "bot", "text": "only once"}])
        assert dropper.dropped == 1
        dropper.arm()
        message_id, is_new = await store.append_user_message("c1", "m-1", {"event": "user", "text": "hi"})
        assert dropper.dropped == 2 and is_new, "the retry of a first attempt is still the new message"
        events = await store.read_events("c1")
    finally:
        await store.close()
        await dropper.close()
    assert [e.event.get("text") for e in events] == [None, "only once", "hi"]
    assert [e.event_id for e in events][1:] == [ids[0], message_id]

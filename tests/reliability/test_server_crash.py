"""The server process dies with SIGKILL mid-conversation and is started again.

Every acked customer message is still in the transcript, exactly once; a message that was
acked but not yet answered is answered on the next ``hello``; the conversation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from websockets.exceptions import ConnectionClosed

from tests.chat_client import ChatClient
from tests.reliability.conftest import ServerFactory, SilentPeer
from tests.reliability.transcript import assert_turns_not_interleaved, message_ids, read_transcript

ORDER = '/inform{"order_id": "ORD-10003"}'


async def test_acked_message_survives_sigkill_and_is_answered_after_restart(
        servers: ServerFactory, redis_url: str, redis_prefix: str, action_server: str,
        silent_peer: SilentPeer) -> None:
    # The first server's action server never answers, so the turn that needs it stays in
    # flight after its ack: that is when the server is killed.
    hanging = servers.start(redis_url=redis_url, prefix=redis_prefix, action_endpoint=silent_peer.webhook_url)
    async with ChatClient(hanging.ws_url) as chat:
        await chat.hello()
        _, asked = await chat.say("/track_order")
        assert "order number" in asked[0]["text"]
        await chat.send({"type": "user", "id": "order-number", "text": ORDER})
        ack = (await chat.until(lambda f: f["type"] == "ack"))[-1]
        hanging.kill()
    conversation, token = chat.conversation_id, chat.token

    restarted = servers.start(redis_url=redis_url, prefix=redis_prefix, action_endpoint=action_server,
                              port=hanging.port)
    async with ChatClient(restarted.ws_url) as chat:
        welcome, replay = await chat.hello(conversation, token)
        assert welcome["resumed"] is True
        users = [f for f in replay if f["type"] == "user"]
        assert [(u.get("id"), u["event_id"]) for u in users][-1] == ("order-number", ack["event_id"])
        # The unanswered turn was finished by the restarted server: the order's status.
        answer = replay[-1]
        assert answer["type"] == "bot" and answer["source"] == "action" and "ORD-10003" in answer["text"]
        # And the conversation goes on.
        _, thanks = await chat.say("/thank_you")
        assert thanks and thanks[0]["source"] == "template"

    entries = read_transcript(redis_url, redis_prefix, conversation)
    ids = message_ids(entries)
    assert len(ids) == len(set(ids)) == 3 and ids[1] == "order-number"
    assert_turns_not_interleaved(entries)


class Customer:
    """A widget-like client: sends messages in order, remembers what was acked, and after a
    lost connection reconnects and resends what was not acked (same client message ids)."""

    TEXTS = ("/greet", "/delivery_period", "/bot_challenge", "/check_payment_methods", "/thank_you")

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []
        self.texts: dict[str, str] = {}
        self.acked: dict[str, str] = {}
        self.conversation: str | None = None
        self.token: str | None = None
        self._texts = itertools.cycle(self.TEXTS)

    def _next_message(self) -> str:
        message_id = f"{self.name}-{len(self.sent)}"
        self.sent.append(message_id)
        self.texts[message_id] = next(self._texts)
        return message_id

    async def chat_until_cut(self, url: str, stop: asyncio.Event) -> None:
        """Send a message every 0.5 s (under the rate limit) until the connection drops."""
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            async with ChatClient(url, timeout_s=10) as chat:
                await chat.hello(self.conversation, self.token)
                self.conversation, self.token = chat.conversation_id, chat.token
                while not stop.is_set():
                    message_id = self._next_message()
                    await chat.send({"type": "user", "id": message_id, "text": self.texts[message_id]})
                    frames = await chat.until(lambda f: f["type"] in ("ack", "error"))
                    assert frames[-1]["type"] == "ack", frames[-1]
                    self.acked[message_id] = frames[-1]["event_id"]
                    await chat.until(lambda f: f["type"] == "typing" and f["on"] is False)
                    await asyncio.sleep(0.5)

    async def resume(self, url: str, more: int) -> None:
        """Reconnect, resend every message that was not acked, then send ``more`` new ones."""
        async with ChatClient(url, timeout_s=20) as chat:
            welcome, _ = await chat.hello(self.conversation, self.token)
            assert welcome["resumed"] is True
            for message_id in [m for m in self.sent if m not in self.acked]:
                ack, _ = await chat.say(self.texts[message_id], message_id=message_id)
                self.acked[message_id] = ack["event_id"]
            for _ in range(more):
                message_id = self._next_message()
                ack, replies = await chat.say(self.texts[message_id], message_id=message_id)
                assert replies, f"no answer to {message_id} after the restart"
                self.acked[message_id] = ack["event_id"]
                await asyncio.sleep(0.5)


async def test_conversations_survive_sigkill_at_a_random_moment(
        servers: ServerFactory, redis_url: str, redis_prefix: str, action_server: str) -> None:
    server = servers.start(redis_url=redis_url, prefix=redis_prefix, action_endpoint=action_server)
    customers = [Customer(f"c{i}") for i in range(4)]
    stop = asyncio.Event()
    chatting = [asyncio.create_task(c.chat_until_cut(server.ws_url, stop)) for c in customers]
    await asyncio.sleep(2.3)  # a few turns each, then a crash in the middle of whatever runs
    server.kill()
    await asyncio.wait_for(asyncio.gather(*chatting), 30)
    assert all(c.acked for c in customers), "every customer had messages acked before the crash"

    restarted = servers.start(redis_url=redis_url, prefix=redis_prefix, action_endpoint=action_server,
                              port=server.port)
    await asyncio.gather(*(c.resume(restarted.ws_url, more=2) for c in customers))

    for customer in customers:
        assert customer.conversation is not None
        entries = read_transcript(redis_url, redis_prefix, customer.conversation)
        stored = {e.event["message_id"]: e.event_id for e in entries if e.kind == "user"}
        # Every message is stored once, in the order sent, under the event id its ack named.
        assert message_ids(entries) == customer.sent
        assert all(stored[m] == event_id for m, event_id in customer.acked.items())
        assert_turns_not_interleaved(entries)

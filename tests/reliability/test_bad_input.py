"""Bad input on the customer websocket: fuzzed frames, oversized and invalid frames, floods,
cross-site connections, guessed or swapped conversation tokens.

One server for the module, with an origin allow-list and small per-address limits so the
limits can be reached quickly. Each test speaks from its own loopback address (127.0.0.x),
so one test's flood does not spend another's per-address allowance.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.bot.conftest import KefuServer
from tests.chat_client import ChatClient
from tests.redis_keys import delete_prefix
from tests.reliability.frames import Frame, check_replies, hostile_frames

ORIGIN = "https://shop.example"
CONNECTIONS_PER_IP = 6
IP_BURST = 12


@pytest.fixture(scope="module")
def guarded(tiny_model: Path, tiny_project: Path, redis_url: str, action_server: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[KefuServer]:
    prefix = f"kefu-bad-input:{uuid.uuid4().hex[:8]}:"
    server = KefuServer(model=tiny_model, project=tiny_project, redis_url=redis_url, prefix=prefix,
                        action_endpoint=action_server, var_dir=tmp_path_factory.mktemp("guarded"),
                        extra_env={"KEFU_ARCHIVER": "0",
                                   "KEFU_ALLOWED_ORIGINS": f"{ORIGIN}, https://other.example",
                                   "KEFU_CONNECTIONS_PER_IP": str(CONNECTIONS_PER_IP),
                                   # Refills so slowly that a test's counts are exact.
                                   "KEFU_IP_MESSAGES_PER_SECOND": "0.2",
                                   "KEFU_IP_MESSAGE_BURST": str(IP_BURST)})
    server.start()
    yield server
    server.stop()
    delete_prefix(redis_url, prefix)


def client(server: KefuServer, address: str, **kwargs: Any) -> ChatClient:
    """A chat client with the allowed origin, speaking from loopback ``address``."""
    return ChatClient(server.ws_url, origin=ORIGIN, local_addr=(address, 0), proxy=None, **kwargs)


async def send_raw(chat: ChatClient, frame: Frame) -> None:
    assert chat.ws is not None
    kind, payload = frame
    await chat.ws.send(payload if kind == "text" else bytes(payload))


async def replies_until_pong(chat: ChatClient) -> list[dict[str, Any]]:
    await chat.send({"type": "ping"})
    return await chat.until(lambda f: f["type"] == "pong")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(hostile_frames, min_size=1, max_size=8), say_hello=st.booleans())
def test_fuzzed_frames_get_documented_answers_and_the_connection_stays_usable(
        guarded: KefuServer, frames: list[Frame], say_hello: bool) -> None:
    async def run() -> None:
        async with client(guarded, "127.0.0.21") as chat:
            if say_hello:
                await chat.hello()
            for frame in frames:
                await send_raw(chat, frame)
                check_replies(await replies_until_pong(chat))
            assert (await replies_until_pong(chat))[-1] == {"type": "pong"}

    asyncio.run(run())


async def test_invalid_utf8_and_giant_frames_close_only_that_connection(guarded: KefuServer) -> None:
    async with client(guarded, "127.0.0.22") as chat:
        await chat.hello()
        assert chat.ws is not None
        await chat.ws.send(b'{"type": "user", "id": "x", "text": "\xff\xfe"}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            await chat.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007  # invalid frame payload data
    async with client(guarded, "127.0.0.22") as chat:
        await chat.hello()
        # Over our 16 KiB limit: a clear error naming the message, the socket stays open.
        await chat.send({"type": "user", "id": "too-big", "text": "x" * 100_000})
        error = (await replies_until_pong(chat))[0]
        assert (error["code"], error["id"]) == ("too_large", "too-big")
        # Over the websocket layer's 1 MiB cap: that connection is closed (1009), nothing else.
        # The server may close while the frame is still being sent: the close shows on send or recv.
        with pytest.raises(ConnectionClosed) as closed:
            await chat.send({"type": "user", "id": "giant", "text": "x" * (2 * 1024 * 1024)})
            await chat.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with client(guarded, "127.0.0.22") as chat:
        await chat.hello()
        _, replies = await chat.say("/greet")
        assert replies


async def test_message_flood_on_one_connection_is_rate_limited(guarded: KefuServer) -> None:
    async with client(guarded, "127.0.0.23") as chat:
        await chat.hello()
        # Scores are quick to store, so the burst of 8 is spent before any token comes back.
        for _ in range(8):
            await chat.send({"type": "csat", "score": 5})
        for n in range(2):
            await chat.send({"type": "user", "id": f"flood-{n}", "text": "/greet"})
        frames = await replies_until_pong(chat)
        check_replies(frames)
        assert [f["type"] for f in frames].count("csat_ack") == 8
        limited = [f for f in frames if f["type"] == "error"]
        assert [(f["code"], f["id"]) for f in limited] == [("rate_limited", "flood-0"), ("rate_limited", "flood-1")]
        await asyncio.sleep(1.0)  # tokens come back at 2 per second
        _, replies = await chat.say("/thank_you")
        assert replies


async def test_flood_spread_over_connections_hits_the_per_address_limit(guarded: KefuServer) -> None:
    address = "127.0.0.24"
    chats = [client(guarded, address) for _ in range(3)]
    outcomes: list[str] = []
    for chat in chats:
        await chat.__aenter__()
        await chat.hello()
    try:
        # Six scores per connection stay under each connection's burst of 8, but 18 from one
        # address are over the address's burst of 12.
        for _ in range(6):
            for chat in chats:
                await chat.send({"type": "csat", "score": 4})
        for chat in chats:
            frames = await replies_until_pong(chat)
            check_replies(frames)
            outcomes += [f.get("code", f["type"]) for f in frames if f["type"] in ("csat_ack", "error")]
        assert outcomes.count("csat_ack") == IP_BURST and outcomes.count("rate_limited") == 18 - IP_BURST
        # Another address is not affected.
        async with client(guarded, "127.0.0.25") as other:
            await other.hello()
            _, replies = await other.say("/greet")
            assert replies
    finally:
        for chat in chats:
            await chat.__aexit__(None, None, None)


async def test_forwarded_for_header_does_not_escape_the_per_address_limits(guarded: KefuServer) -> None:
    """Only a proxy on the server's own machine is trusted to say who the client is."""
    opened = []
    try:
        for n in range(CONNECTIONS_PER_IP):
            chat = client(guarded, "127.0.0.26", additional_headers={"X-Forwarded-For": f"203.0.113.{n}"})
            opened.append(await chat.__aenter__())
        spoofing = client(guarded, "127.0.0.26", additional_headers={"X-Forwarded-For": "198.51.100.7"})
        with pytest.raises(InvalidStatus):
            await spoofing.__aenter__()
    finally:
        for chat in opened:
            await chat.__aexit__(None, None, None)
    # Closing one frees a place.
    async with client(guarded, "127.0.0.26") as chat:
        await chat.hello()


async def test_cross_site_websocket_is_refused(guarded: KefuServer) -> None:
    for origin in ("https://evil.example", "https://shop.example.evil.example", "null"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(guarded.ws_url, origin=origin, proxy=None):
                pass
        assert refused.value.response.status_code == 403
    # Without an Origin header (not a browser) the allow-list refuses too, once one is set.
    with pytest.raises(InvalidStatus):
        async with connect(guarded.ws_url, proxy=None):
            pass
    for origin in (ORIGIN, "https://other.example"):
        async with ChatClient(guarded.ws_url, origin=origin, proxy=None) as chat:
            welcome, _ = await chat.hello()
            assert welcome["type"] == "welcome"


@settings(max_examples=12, deadline=None)
@given(guessed_id=st.one_of(st.from_regex(r"\A[A-Za-z0-9_-]{32}\Z"), st.text(max_size=64)),
       guessed_token=st.one_of(st.from_regex(r"\A[0-9a-f]{64}\Z"), st.text(max_size=128)))
def test_guessed_conversation_ids_and_tokens_open_nothing(
        guarded: KefuServer, guessed_id: str, guessed_token: str) -> None:
    async def run() -> None:
        async with client(guarded, "127.0.0.27") as chat:
            welcome, history = await chat.hello(guessed_id, guessed_token)
            assert welcome["resumed"] is False and welcome["conversation_id"] != guessed_id
            assert history == []

    asyncio.run(run())


async def test_tokens_cannot_be_swapped_or_altered(guarded: KefuServer) -> None:
    owners = []
    for _ in range(2):
        async with client(guarded, "127.0.0.28") as chat:
            await chat.hello()
            await chat.say("/greet")
            owners.append((chat.conversation_id, chat.token))
    (first_id, first_token), (second_id, second_token) = owners
    assert first_id and first_token and second_id and second_token
    attempts = [
        (first_id, second_token),                 # another conversation's token
        (second_id, first_token),
        (first_id, first_token.upper()),          # altered
        (first_id, first_token[:-1]),
        (first_id, first_token + " "),
        (first_id + " ", first_token),
        (first_id.swapcase(), first_token),
    ]
    for conversation_id, token in attempts:
        async with client(guarded, "127.0.0.28") as chat:
            welcome, history = await chat.hello(conversation_id, token)
            assert welcome["resumed"] is False and welcome["conversation_id"] not in (first_id, second_id)
            assert history == [], (conversation_id, token)
    # The real pair still works.
    async with client(guarded, "127.0.0.28") as chat:
        welcome, history = await chat.hello(first_id, first_token)
        assert welcome["resumed"] is True and [f["text"] for f in history if f["type"] == "user"] == ["/greet"]


def test_frames_module_oracle_rejects_internal_errors() -> None:
    """The oracle itself: an `internal` error or an unknown frame type fails the check."""
    with pytest.raises(AssertionError):
        check_replies([{"type": "error", "code": "internal", "message": "x"}])
    with pytest.raises(AssertionError):
        check_replies([{"type": "surprise"}])
    check_replies([json.loads('{"type": "error", "code": "bad_json", "message": "frame is not valid JSON"}')])

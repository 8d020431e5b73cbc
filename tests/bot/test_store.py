"""ConversationStore against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import ConversationBusy, ServiceUnavailable
from bot.store import ConversationStore


async def test_append_and_read_in_order(store: ConversationStore) -> None:
    ids = await store.append_events("c1", [{"event": "action", "name": "a"}, {"event": "action", "name": "b"}])
    rows = await store.read_events("c1")
    assert [r.event_id for r in rows] == ids
    assert [r.event["name"] for r in rows] == ["a", "b"]
    assert [r.event["name"] for r in await store.read_events("c1", after=ids[0])] == ["b"]


async def test_user_message_is_idempotent_by_client_id(store: ConversationStore) -> None:
    first, new = await store.append_user_message("c1", "m-1", {"event": "user", "text": "hi"})
    again, new_again = await store.append_user_message("c1", "m-1", {"event": "user", "text": "hi"})
    assert new and not new_again and first == again
    assert len(await store.read_events("c1")) == 1


async def test_every_event_is_in_the_feed(store: ConversationStore) -> None:
    await store.append_events("c1", [{"event": "action", "name": "a"}])
    await store.append_user_message("c2", "m", {"event": "user", "text": "x"})
    feed = await store.redis.xrange(store.feed_key)
    assert [fields["c"] for _, fields in feed] == ["c1", "c2"]


async def test_session_expires(store: ConversationStore) -> None:
    ids = await store.append_events("c1", [{"event": "session_started"}])
    await store.set_session_start("c1", ids[0])
    start, events = await store.session_events("c1")
    assert start == ids[0] and len(events) == 1
    await store.redis.delete(store._key("c1", "session"))
    assert await store.session_events("c1") == (None, [])


async def test_lock_serialises_turns(store: ConversationStore) -> None:
    order: list[str] = []

    async def turn(name: str) -> None:
        async with store.lock("c1", wait_s=5):
            order.append(f"{name}-start")
            await asyncio.sleep(0.05)
            order.append(f"{name}-end")

    await asyncio.gather(turn("a"), turn("b"))
    assert order in (["a-start", "a-end", "b-start", "b-end"], ["b-start", "b-end", "a-start", "a-end"])


async def test_lock_times_out_and_expires(store: ConversationStore) -> None:
    async with store.lock("c1", ttl_ms=300):
        with pytest.raises(ConversationBusy):
            async with store.lock("c1", wait_s=0.05):
                pass
    # A holder that died without releasing: the lock expires by itself.
    await store.redis.set(store._key("c1", "lock"), "dead", px=200)
    async with store.lock("c1", wait_s=2):
        pass


async def test_unreachable_redis_is_service_unavailable() -> None:
    from bot.embedded_redis import free_port

    dead = ConversationStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ServiceUnavailable):
        await dead.append_events("c1", [{"event": "action", "name": "a"}])
    await dead.close()


async def test_lock_with_session_reads_the_live_session_in_the_same_step(store: ConversationStore) -> None:
    async with store.lock_with_session("c-ls", wait_s=1) as (start, events):
        assert (start, events) == (None, [])  # no session yet
    ids = await store.append_events("c-ls", [{"event": "session_started"}, {"event": "bot", "text": "hi"}])
    await store.set_session_start("c-ls", ids[0])
    async with store.lock_with_session("c-ls", wait_s=1) as (start, events):
        assert start == ids[0] and [e.event_id for e in events] == ids
        assert (start, events) == await store.session_events("c-ls")
        # The lock is held meanwhile: nobody else gets it (nor the session with it).
        with pytest.raises(ConversationBusy):
            async with store.lock_with_session("c-ls", wait_s=0.1):
                pass
    async with store.lock("c-ls", wait_s=1):
        pass  # released again

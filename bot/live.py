"""Live delivery of new events to every process that has the conversation open.

Each appended event is published on ``<prefix>live:<conversation id>`` by the store's
append script (atomically with the append). One :class:`LiveHub` per process holds one
Redis pub/sub connection, subscribes to the conversations its websockets have open, and
hands each event to their queues. So a staff reply written on one replica reaches the
customer connected to another, and a customer with two tabs sees both.

:meth:`LiveHub.subscribe` returns once Redis has confirmed the subscription, so a caller
that subscribes *before* reading the history misses nothing (duplicates are the caller's
to drop, by event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.store import StoredEvent

log = logging.getLogger(__name__)

# How long a subscriber waits for Redis to confirm before going on without live events
# (the history replay on the next reconnect still has everything).
CONFIRM_TIMEOUT_S = 3.0


def live_channel(prefix: str, conversation_id: str) -> str:
    return f"{prefix}live:{conversation_id}"


class LiveHub:
    """Fans published events out to local subscribers. ``start()`` once, ``close()`` at exit."""

    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._queues: dict[str, set[asyncio.Queue[StoredEvent]]] = defaultdict(set)
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kefu-live-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    async def subscribe(self, conversation_id: str) -> asyncio.Queue[StoredEvent]:
        """A queue of the conversation's new events, live once this returns."""
        queue: asyncio.Queue[StoredEvent] = asyncio.Queue(maxsize=1000)
        self._queues[conversation_id].add(queue)
        channel = live_channel(self.prefix, conversation_id)
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
            if self._pubsub is not None and self._connected.is_set():
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(channel)
        try:
            await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_TIMEOUT_S)
        except TimeoutError:
            log.warning("live subscription not confirmed in %.0fs; continuing without it", CONFIRM_TIMEOUT_S)
        return queue

    async def unsubscribe(self, conversation_id: str, queue: asyncio.Queue[StoredEvent]) -> None:
        queues = self._queues.get(conversation_id)
        if queues is None:
            return
        queues.discard(queue)
        if queues:
            return
        del self._queues[conversation_id]
        channel = live_channel(self.prefix, conversation_id)
        self._confirmed.pop(channel, None)
        if self._pubsub is not None and self._connected.is_set():
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def _run(self) -> None:
        """Read the pub/sub connection forever; on a Redis outage, reconnect and resubscribe."""
        delay = 0.2
        while True:
            try:
                self._pubsub = self.client.pubsub()
                # Reading needs at least one subscription; this one also proves the link.
                channels = [live_channel(self.prefix, "__hub__"), *self._confirmed]
                for channel, future in list(self._confirmed.items()):
                    if future.done():  # confirmed on the old connection: wait for the new one
                        self._confirmed[channel] = asyncio.get_running_loop().create_future()
                await self._pubsub.subscribe(*channels)
                self._connected.set()
                while True:
                    message = await self._pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._handle(message)
                        delay = 0.2
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._connected.clear()
                log.warning("live hub lost Redis (%s); reconnecting in %.1fs", type(exc).__name__, delay)
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()  # type: ignore[union-attr]
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        channel = str(message.get("channel"))
        if kind == "subscribe":
            future = self._confirmed.get(channel)
            if future is not None and not future.done():
                future.set_result(None)
            return
        if kind != "message":
            return
        conversation_id = channel[len(self.prefix) + len("live:") :]
        queues = self._queues.get(conversation_id)
        if not queues:
            return
        try:
            event_id, payload = str(message["data"]).split("\n", 1)
            stored = StoredEvent(event_id, json.loads(payload))
        except (ValueError, json.JSONDecodeError):
            log.error("malformed live message on %s", channel)
            return
        for queue in list(queues):
            if queue.full():
                log.warning("a live subscriber is not keeping up; dropping its oldest event")
                queue.get_nowait()
            queue.put_nowait(stored)

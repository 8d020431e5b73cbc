"""Conversation state in Redis: the event stream (transcript of record), sessions, locks.

Keys, under a configurable prefix (``kefu:`` by default), per conversation ``C``:

- ``conv:C:events``   stream; one entry per Rasa event, field ``e`` = the event as JSON.
  The entry id is the event id the widget sees (``ack.event_id``, ``bot.event_id``).
- ``conv:C:msgids``   hash; client message id -> event id, so a resent message is one message.
- ``conv:C:session``  the stream id where the current dialogue session starts; expires after
  the session TTL, so an idle conversation starts a fresh session (as Rasa's session_config).
- ``conv:C:lock``     the per-conversation turn lock (SET NX PX + compare-and-delete).
- ``feed``            one stream for all conversations, ``{c: C, i: event id}``: what the
  transcript archiver consumes with a consumer group. Written in the same script as the
  event, so an event is never in one stream and missing from the other.
- ``conversations``   sorted set, conversation id scored by last activity (ms).
- ``live:C``          pub/sub channel: every appended event, as ``<event id>\n<json>``,
  for the websockets of any replica that has the conversation open (:mod:`bot.live`).

Every Redis failure surfaces as :class:`bot.errors.ServiceUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, TimeoutError as RedisTimeoutError

from bot.errors import ConversationBusy, ServiceUnavailable

Event = dict[str, Any]

# Redis connections per server process (the live hub's pub/sub connection is one of them).
REDIS_POOL_SIZE = 64

# Appends events and their feed pointers atomically; for a user message, first checks the
# client message id so a resend returns the original event id instead of a second copy.
_APPEND_SCRIPT = """
local msgids, events, feed, index, live = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local conversation, client_id, ttl, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if client_id ~= '' then
  local existing = redis.call('HGET', msgids, client_id)
  if existing then return {0, existing} end
end
local result = {1}
for i = 5, #ARGV do
  local id = redis.call('XADD', events, '*', 'e', ARGV[i])
  redis.call('XADD', feed, '*', 'c', conversation, 'i', id)
  redis.call('PUBLISH', live, id .. string.char(10) .. ARGV[i])
  table.insert(result, id)
  if client_id ~= '' and i == 5 then redis.call('HSET', msgids, client_id, id) end
end
redis.call('EXPIRE', events, ttl)
if client_id ~= '' then redis.call('EXPIRE', msgids, ttl) end
redis.call('ZADD', index, now, conversation)
return result
"""

_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back from a conversation stream, with its stream id."""

    event_id: str
    event: Event


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise ServiceUnavailable(f"redis unreachable: {exc}") from exc
    except RedisError as exc:
        raise ServiceUnavailable(f"redis error: {exc}") from exc


class ConversationStore:
    """Reads and writes conversations in Redis. Create with :meth:`from_url`; close with
    :meth:`close` (or ``async with``)."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "kefu:",
        session_ttl_s: int = 3600,
        transcript_ttl_s: int = 30 * 24 * 3600,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.session_ttl_s = session_ttl_s
        self.transcript_ttl_s = transcript_ttl_s
        self._append = client.register_script(_APPEND_SCRIPT)
        self._release = client.register_script(_RELEASE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "ConversationStore":
        # Short socket timeouts: a Redis outage must turn into a clear error for the
        # customer within a couple of seconds, not a hung turn.
        #
        # A blocking pool: hundreds of concurrent turns share a few dozen connections and
        # wait briefly for a free one, instead of failing with "Too many connections"
        # (redis-py's default pool raises at 100) or opening one socket per turn.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_POOL_SIZE,
            timeout=3.0,
            decode_responses=True,
            socket_timeout=3.0,
            socket_connect_timeout=2.0,
            health_check_interval=15,
        )
        return cls(aioredis.Redis.from_pool(pool), **kwargs)

    async def close(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> "ConversationStore":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- keys -------------------------------------------------------------------------
    def _key(self, conversation_id: str, kind: str) -> str:
        return f"{self.prefix}conv:{conversation_id}:{kind}"

    @property
    def feed_key(self) -> str:
        return f"{self.prefix}feed"

    @property
    def index_key(self) -> str:
        return f"{self.prefix}conversations"

    # -- health -----------------------------------------------------------------------
    async def ping(self) -> bool:
        async with _redis_errors():
            return bool(await self.redis.ping())

    # -- events -----------------------------------------------------------------------
    async def _run_append(self, conversation_id: str, client_id: str, events: Iterable[Event]) -> list[Any]:
        payload = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events]
        keys = [
            self._key(conversation_id, "msgids"),
            self._key(conversation_id, "events"),
            self.feed_key,
            self.index_key,
            f"{self.prefix}live:{conversation_id}",
        ]
        args = [conversation_id, client_id, self.transcript_ttl_s, int(time.time() * 1000), *payload]
        async with _redis_errors():
            return list(await self._append(keys=keys, args=args))

    async def append_events(self, conversation_id: str, events: list[Event]) -> list[str]:
        """Append events in order; returns their event ids."""
        if not events:
            return []
        result = await self._run_append(conversation_id, "", events)
        return [str(x) for x in result[1:]]

    async def append_user_message(
        self, conversation_id: str, client_message_id: str, event: Event
    ) -> tuple[str, bool]:
        """Append a customer message once per client message id.

        Returns ``(event_id, is_new)``; a resend of the same id returns the first event id
        and ``False`` and writes nothing.
        """
        result = await self._run_append(conversation_id, client_message_id, [event])
        return str(result[1]), bool(result[0])

    async def read_events(
        self, conversation_id: str, *, after: str | None = None, count: int | None = None
    ) -> list[StoredEvent]:
        """Events after ``after`` (exclusive; all when None), oldest first."""
        start = f"({after}" if after else "-"
        async with _redis_errors():
            rows = await self.redis.xrange(self._key(conversation_id, "events"), min=start, count=count)
        return [StoredEvent(event_id, json.loads(fields["e"])) for event_id, fields in rows]

    async def conversation_exists(self, conversation_id: str) -> bool:
        async with _redis_errors():
            return bool(await self.redis.exists(self._key(conversation_id, "events")))

    # -- sessions ---------------------------------------------------------------------
    async def session_start(self, conversation_id: str) -> str | None:
        """The event id where the live session starts, or None when it expired or never began."""
        async with _redis_errors():
            return await self.redis.get(self._key(conversation_id, "session"))

    async def set_session_start(self, conversation_id: str, event_id: str) -> None:
        async with _redis_errors():
            await self.redis.set(self._key(conversation_id, "session"), event_id, ex=self.session_ttl_s)

    async def touch_session(self, conversation_id: str) -> None:
        """Keep the session alive for another TTL after activity."""
        async with _redis_errors():
            await self.redis.expire(self._key(conversation_id, "session"), self.session_ttl_s)

    async def session_events(self, conversation_id: str) -> tuple[str | None, list[StoredEvent]]:
        """``(session start id, the session's events)``; ``(None, [])`` when no live session."""
        start = await self.session_start(conversation_id)
        if start is None:
            return None, []
        async with _redis_errors():
            rows = await self.redis.xrange(self._key(conversation_id, "events"), min=start)
        return start, [StoredEvent(i, json.loads(f["e"])) for i, f in rows]

    # -- locks ------------------------------------------------------------------------
    @asynccontextmanager
    async def lock(
        self, conversation_id: str, *, wait_s: float = 10.0, ttl_ms: int = 30_000
    ) -> AsyncIterator[None]:
        """Hold the conversation's turn lock; one turn at a time across all replicas.

        The lock expires after ``ttl_ms`` so a crashed holder cannot block the
        conversation for longer. Raises :class:`ConversationBusy` after ``wait_s``.
        """
        key = self._key(conversation_id, "lock")
        token = secrets.token_hex(16)
        deadline = time.monotonic() + wait_s
        delay = 0.005
        while True:
            async with _redis_errors():
                acquired = await self.redis.set(key, token, nx=True, px=ttl_ms)
            if acquired:
                break
            if time.monotonic() >= deadline:
                raise ConversationBusy("conversation is busy with another turn")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            try:
                async with _redis_errors():
                    await self._release(keys=[key], args=[token])
            except ServiceUnavailable:
                pass  # The lock expires by itself; the original error matters more.

    # -- housekeeping -------------------------------------------------------------------
    async def delete_conversation(self, conversation_id: str) -> None:
        async with _redis_errors():
            await self.redis.delete(
                *(self._key(conversation_id, k) for k in ("events", "msgids", "session", "lock"))
            )
            await self.redis.zrem(self.index_key, conversation_id)

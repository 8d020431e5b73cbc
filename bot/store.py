"""Conversation state in Redis: the event stream (transcript of record), sessions, locks.

Keys, under a configurable prefix (``kefu:`` by default), per conversation ``C``:

- ``conv:C:events``   stream; one entry per Rasa event, field ``e`` = the event as JSON.
  The entry id is the event id the widget sees (``ack.event_id``, ``bot.event_id``).
- ``conv:C:msgids``   hash; client message id -> event id, so a resent message is one message.
- ``conv:C:session``  the stream id where the current dialogue session starts; expires after
  the session TTL, so an idle conversation starts a fresh session (as Rasa's session_config).
- ``conv:C:lock``     the per-conversation turn lock (SET NX PX + compare-and-delete).
- ``conv:C:appends``  hash; append token -> the ids it wrote, for ten minutes, so a retried
  append (its connection failed after Redis ran it) is not written twice.
- ``feed``            one stream for all conversations, ``{c: C, i: event id}``: what the
  transcript archiver consumes with a consumer group. Written in the same script as the
  event, so an event is never in one stream and missing from the other.
- ``conversations``   sorted set, conversation id scored by last activity (ms).
- ``live:C``          pub/sub channel: every appended event that people see
  (:data:`LIVE_EVENT_KINDS`), as ``<event id>\n<json>``, for the websockets and staff pages
  of any replica that has the conversation open (:mod:`bot.live`).

An append also refreshes the session's TTL (activity keeps a session alive), in the same
script, so a turn costs no extra round trip for it.

Every Redis failure surfaces as :class:`bot.errors.ServiceUnavailable`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, TimeoutError as RedisTimeoutError

from bot.errors import ConversationBusy, ServiceUnavailable

Event = dict[str, Any]

# Redis connections per server process (the live hub's pub/sub connection is one of them).
REDIS_POOL_SIZE = 128
# How long a command waits for a free pooled connection. Only an overloaded process waits
# (an unreachable Redis fails at connect, within the connect timeout), and a slow turn is
# better than a failed one; as long as a turn may wait for its conversation's lock.
REDIS_POOL_WAIT_S = 10.0

# Event kinds published live: what the widget and the staff pages show. The dialogue's own
# bookkeeping (actions, slots, loops) is only read back from the stream, never watched, so
# publishing it would cost every replica a decode per event for nothing.
LIVE_EVENT_KINDS = frozenset({"user", "bot", "handoff", "csat"})

# Lock and append tokens only have to be unique: random per process, counted within it
# (cheaper than asking the OS for random bytes on every turn).
_TOKEN_PREFIX = secrets.token_hex(8)
_tokens = itertools.count()

# How long an append remembers its token, so a retried append returns the first one's ids.
APPEND_TOKEN_TTL_S = 600

# Appends events and their feed pointers atomically; for a user message, first checks the
# client message id so a resend returns the original event id instead of a second copy.
# ARGV[6] holds one '1'/'0' per event: whether to publish it live. The session key's TTL
# is refreshed (EXPIRE on a missing key does nothing, so a new session is not created here).
# ARGV[7] is this append's token: the client retries a command whose connection failed, and
# the first attempt may have run, so a token seen before returns that attempt's ids instead
# of writing the events again.
_APPEND_SCRIPT = """
local msgids, events, feed, index, live, session, appends =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local conversation, client_id, ttl, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local session_ttl, publish, token = tonumber(ARGV[5]), ARGV[6], ARGV[7]
local first = 8
local done = redis.call('HGET', appends, token)
if done then
  local again = {1}
  for id in string.gmatch(done, '[^,]+') do table.insert(again, id) end
  return again
end
if client_id ~= '' then
  local existing = redis.call('HGET', msgids, client_id)
  if existing then return {0, existing} end
end
local result = {1}
for i = first, #ARGV do
  local id = redis.call('XADD', events, '*', 'e', ARGV[i])
  redis.call('XADD', feed, '*', 'c', conversation, 'i', id)
  if string.byte(publish, i - first + 1) == 49 then
    redis.call('PUBLISH', live, id .. string.char(10) .. ARGV[i])
  end
  table.insert(result, id)
  if client_id ~= '' and i == first then redis.call('HSET', msgids, client_id, id) end
end
redis.call('EXPIRE', events, ttl)
if client_id ~= '' then redis.call('EXPIRE', msgids, ttl) end
redis.call('EXPIRE', session, session_ttl)
redis.call('ZADD', index, now, conversation)
redis.call('HSET', appends, token, table.concat(result, ',', 2))
redis.call('EXPIRE', appends, APPEND_TOKEN_TTL_S)
return result
""".replace("APPEND_TOKEN_TTL_S", str(APPEND_TOKEN_TTL_S))

# The live session in one round trip: its start id and its events, or nothing.
_SESSION_SCRIPT = """
local start = redis.call('GET', KEYS[1])
if not start then return false end
return {start, redis.call('XRANGE', KEYS[2], start, '+')}
"""

# Takes the turn lock and, when it got it, reads the live session in the same round trip
# (a turn needs both before anything else). Returns nil when the lock is held elsewhere,
# {1} when there is no live session, {1, start, entries} otherwise.
_LOCK_AND_SESSION_SCRIPT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local start = redis.call('GET', KEYS[2])
if not start then return {1} end
return {1, start, redis.call('XRANGE', KEYS[3], start, '+')}
"""

_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Extends a lock that is still ours (its holder's turn is still running).
_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _stored_events(rows: list[Any]) -> list["StoredEvent"]:
    """Stream entries as a script returns them ([id, [field, value]] pairs)."""
    return [StoredEvent(event_id, json.loads(fields[1])) for event_id, fields in rows]


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
        self._session = client.register_script(_SESSION_SCRIPT)
        self._lock_and_session = client.register_script(_LOCK_AND_SESSION_SCRIPT)
        self._renew = client.register_script(_RENEW_SCRIPT)

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
            timeout=REDIS_POOL_WAIT_S,
            decode_responses=True,
            socket_timeout=3.0,
            socket_connect_timeout=2.0,
            health_check_interval=15,
            # One quick retry on a fresh connection: after a Redis restart or failover every
            # pooled connection is dead, and the first command on each would fail. Appends
            # are safe to retry (see the append token); more retries would only delay the
            # `unavailable` answer during a real outage.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
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
        events = list(events)
        payload = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events]
        publish = "".join("1" if e.get("event") in LIVE_EVENT_KINDS else "0" for e in events)
        keys = [
            self._key(conversation_id, "msgids"),
            self._key(conversation_id, "events"),
            self.feed_key,
            self.index_key,
            f"{self.prefix}live:{conversation_id}",
            self._key(conversation_id, "session"),
            self._key(conversation_id, "appends"),
        ]
        token = f"{_TOKEN_PREFIX}:{next(_tokens)}"
        args = [conversation_id, client_id, self.transcript_ttl_s, int(time.time() * 1000),
                self.session_ttl_s, publish, token, *payload]
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
        ids, is_new = await self.append_message_events(conversation_id, client_message_id, [event])
        return ids[0], is_new

    async def append_message_events(
        self, conversation_id: str, client_message_id: str, events: list[Event]
    ) -> tuple[list[str], bool]:
        """Append a customer message (``events[0]``) and the events it causes at once (the
        slots it fills), once per client message id.

        Returns ``(event ids, is_new)``; a resend of the same id returns ``([first id],
        False)`` and writes nothing.
        """
        if not events:
            raise ValueError("append_message_events needs the message event")
        result = await self._run_append(conversation_id, client_message_id, events)
        return [str(x) for x in result[1:]], bool(result[0])

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
        """Keep the session alive for another TTL after activity (every append does this too)."""
        async with _redis_errors():
            await self.redis.expire(self._key(conversation_id, "session"), self.session_ttl_s)

    async def session_events(self, conversation_id: str) -> tuple[str | None, list[StoredEvent]]:
        """``(session start id, the session's events)``; ``(None, [])`` when no live session."""
        keys = [self._key(conversation_id, "session"), self._key(conversation_id, "events")]
        async with _redis_errors():
            found = await self._session(keys=keys)
        if not found:
            return None, []
        start, rows = found
        return start, _stored_events(rows)

    # -- locks ------------------------------------------------------------------------
    @asynccontextmanager
    async def lock(
        self, conversation_id: str, *, wait_s: float = 10.0, ttl_ms: int = 10_000
    ) -> AsyncIterator[None]:
        """Hold the conversation's turn lock; one turn at a time across all replicas.

        The lock expires ``ttl_ms`` after its holder stops renewing it (every third of the
        TTL while the turn runs), so a turn may take as long as it needs while a crashed
        holder blocks the conversation for at most ``ttl_ms``. Raises
        :class:`ConversationBusy` after ``wait_s``.
        """
        async with self.lock_with_session(conversation_id, wait_s=wait_s, ttl_ms=ttl_ms, read_session=False):
            yield

    @asynccontextmanager
    async def lock_with_session(
        self, conversation_id: str, *, wait_s: float = 10.0, ttl_ms: int = 10_000, read_session: bool = True
    ) -> AsyncIterator[tuple[str | None, list[StoredEvent]]]:
        """:meth:`lock`, yielding what :meth:`session_events` would return right after
        taking it (read in the same round trip: a turn needs both first)."""
        key = self._key(conversation_id, "lock")
        token = f"{_TOKEN_PREFIX}:{next(_tokens)}"
        deadline = time.monotonic() + wait_s
        delay = 0.005
        session: tuple[str | None, list[StoredEvent]] = (None, [])
        while True:
            async with _redis_errors():
                if read_session:
                    keys = [key, self._key(conversation_id, "session"), self._key(conversation_id, "events")]
                    found = await self._lock_and_session(keys=keys, args=[token, ttl_ms])
                    acquired = bool(found)
                    if found and len(found) == 3:
                        session = (found[1], _stored_events(found[2]))
                else:
                    acquired = bool(await self.redis.set(key, token, nx=True, px=ttl_ms))
            if acquired:
                break
            if time.monotonic() >= deadline:
                raise ConversationBusy("conversation is busy with another turn")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        renewal = asyncio.create_task(self._keep_lock(key, token, ttl_ms))
        try:
            yield session
        finally:
            renewal.cancel()
            try:
                async with _redis_errors():
                    await self._release(keys=[key], args=[token])
            except ServiceUnavailable:
                pass  # The lock expires by itself; the original error matters more.

    async def _keep_lock(self, key: str, token: str, ttl_ms: int) -> None:
        """Renew the lock until cancelled; a failed renewal is retried at the next period."""
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            try:
                async with _redis_errors():
                    await self._renew(keys=[key], args=[token, ttl_ms])
            except ServiceUnavailable:
                pass  # the turn itself fails on the same outage

    # -- housekeeping -------------------------------------------------------------------
    async def delete_conversation(self, conversation_id: str) -> None:
        async with _redis_errors():
            await self.redis.delete(
                *(self._key(conversation_id, k) for k in ("events", "msgids", "session", "lock", "appends"))
            )
            await self.redis.zrem(self.index_key, conversation_id)

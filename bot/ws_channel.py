"""The customer websocket (``/ws``): the widget protocol over one connection.

A bad frame gets an ``error`` frame and the conversation goes on; an outage of Redis gets
``error`` with code ``unavailable``; a bug is logged with its traceback and the customer
sees only a generic ``internal`` error. Nothing from the server's internals is echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bot import protocol
from bot.config import Settings
from bot.errors import ClientError, ServiceUnavailable
from bot.live import LiveHub
from bot.metrics import Metrics
from bot.ratelimit import AddressBuckets, ConnectionCounter, TokenBucket
from bot.store import StoredEvent
from bot.tokens import new_conversation_id, sign_conversation, verify_conversation
from bot.turns import ConversationService

log = logging.getLogger(__name__)

# A client message id in an oversized frame that is not parsed as a whole.
_ID_FIELD = re.compile(r'"id"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')

_MESSAGES = {
    "unavailable": "The service is briefly unavailable. Your message was not lost if it was acknowledged; please try again in a moment.",
    "busy": "Still working on your previous message; please try again in a moment.",
    "internal": "Something went wrong on our side. Please try again.",
}


class WidgetConnection:
    """One websocket connection from a widget."""

    # How many sent event ids and own client message ids to remember for de-duplication.
    REMEMBERED = 512

    def __init__(self, websocket: WebSocket, service: ConversationService, settings: Settings,
                 hub: LiveHub | None = None, *, address: str = "unknown",
                 address_buckets: AddressBuckets | None = None) -> None:
        self.ws = websocket
        self.service = service
        self.settings = settings
        self.hub = hub
        self.metrics: Metrics = websocket.app.state.metrics
        self.conversation_id: str | None = None
        self.bucket = TokenBucket(settings.limits.messages_per_second, settings.limits.message_burst)
        # The client address's share of the per-address limit (all its connections together).
        self.address = address
        self.address_buckets = address_buckets
        self._send_lock = asyncio.Lock()
        # An event reaches this socket twice (the turn's own result and the live feed):
        # whichever comes first is sent, the other is dropped.
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._own_messages: OrderedDict[str, None] = OrderedDict()
        self._shown_messages: OrderedDict[str, None] = OrderedDict()
        self._live_queue: asyncio.Queue[StoredEvent] | None = None
        self._live_task: asyncio.Task[None] | None = None
        # A turn that failed still owes its client a `typing off`, sent after the error frame.
        self._turn_open = False

    @staticmethod
    def _remember(memory: OrderedDict[str, None], key: str) -> None:
        memory[key] = None
        while len(memory) > WidgetConnection.REMEMBERED:
            memory.popitem(last=False)

    async def send_event(self, stored: StoredEvent) -> None:
        """Send an event's frame once, however many paths it arrives by."""
        frame = protocol.event_frame(stored)
        if frame is None:
            return
        message_id = stored.event.get("message_id") if stored.event.get("event") == "user" else None
        if message_id in self._own_messages:
            return  # this widget shows its own message already
        async with self._send_lock:
            if stored.event_id in self._sent or self.ws.application_state != WebSocketState.CONNECTED:
                return
            if message_id and message_id in self._shown_messages:
                return  # the two-stage fallback stores a confirmed message again: show it once
            self._remember(self._sent, stored.event_id)
            if message_id:
                self._remember(self._shown_messages, message_id)
            await self.ws.send_json(frame)

    async def _forward_live(self) -> None:
        assert self._live_queue is not None
        while True:
            stored = await self._live_queue.get()
            try:
                await self.send_event(stored)
            except Exception:  # a closed socket ends the connection elsewhere
                log.debug("live frame not delivered", exc_info=True)

    async def close(self) -> None:
        if self._live_task is not None:
            self._live_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._live_task
        if self.hub is not None and self._live_queue is not None and self.conversation_id:
            await self.hub.unsubscribe(self.conversation_id, self._live_queue)

    async def send(self, frame: dict[str, Any]) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self._send_lock:
            await self.ws.send_json(frame)

    async def send_token(self, stream_id: str, text: str) -> None:
        """A piece of a generated answer, as it is written; its `bot` frame follows with the same stream id."""
        await self.send({"type": "token", "stream_id": stream_id, "text": text})

    async def send_error(self, code: str, message: str | None = None) -> None:
        self.metrics.errors.labels(code).inc()
        await self.send(protocol.error_frame(code, message or _MESSAGES.get(code, code)))

    def _error_for(self, raw: str, code: str, message: str) -> dict[str, Any]:
        """The error frame, naming the client message id when the frame had a readable one
        (so the widget can mark that message "not sent")."""
        self.metrics.errors.labels(code).inc()
        frame = protocol.error_frame(code, message)
        if len(raw) > self.settings.limits.max_frame_bytes:
            # Not parsed again: a flood of 1 MiB frames must not cost a JSON parse each.
            found = _ID_FIELD.search(raw)
            if found:
                frame["id"] = found.group(1)
            return frame
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            return frame
        if isinstance(parsed, dict) and isinstance(parsed.get("id"), str) and len(parsed["id"]) <= 64:
            frame["id"] = parsed["id"]
        return frame

    async def run(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                await self.send_error("bad_frame", "binary frames are not supported; send JSON text frames")
                continue
            try:
                frame = protocol.parse_client_frame(
                    raw,
                    max_frame_bytes=self.settings.limits.max_frame_bytes,
                    max_text_chars=self.settings.limits.max_text_chars,
                )
                await self.dispatch(frame)
            except ClientError as exc:
                await self.send(self._error_for(raw, exc.code, exc.message))
            except ServiceUnavailable as exc:
                log.warning("turn failed, service unavailable: %s", exc)
                await self.send(self._error_for(raw, exc.code, _MESSAGES.get(exc.code, exc.code)))
            except WebSocketDisconnect:
                raise
            except Exception:
                log.exception("bug while handling a widget frame")
                await self.send(self._error_for(raw, "internal", _MESSAGES["internal"]))
            finally:
                if self._turn_open:
                    await self._close_turn()

    async def dispatch(self, frame: protocol.ClientFrame) -> None:
        if isinstance(frame, protocol.Ping):
            await self.send({"type": "pong"})
            return
        if isinstance(frame, protocol.Hello):
            await self.on_hello(frame)
            return
        if self.conversation_id is None:
            raise ClientError("send a `hello` frame first", code="not_ready")
        if isinstance(frame, protocol.UserMessage):
            self._take_message_token()
            await self.on_user(frame)
        elif isinstance(frame, protocol.Csat):
            self._take_message_token()
            event = {"event": "csat", "timestamp": time.time(), "score": frame.score}
            await self.service.record_event(self.conversation_id, event)
            await self.send({"type": "csat_ack", "score": frame.score})

    def _take_message_token(self) -> None:
        """Refuse a frame that writes to the transcript beyond the per-connection or the
        per-address rate limit (raises ``rate_limited``)."""
        if not self.bucket.allow():
            raise ClientError("too many messages; please slow down", code="rate_limited")
        if self.address_buckets is not None and not self.address_buckets.allow(self.address):
            raise ClientError("too many messages from your network; please slow down", code="rate_limited")

    async def on_hello(self, hello: protocol.Hello) -> None:
        if self.conversation_id is not None:
            raise ClientError("this connection already said hello", code="bad_frame")
        secret = self.settings.secret
        # A token is hex: anything else cannot match (and hmac.compare_digest refuses to
        # compare non-ASCII text, which a fuzzed token would otherwise turn into a crash).
        token_is_ascii = hello.token is None or hello.token.isascii()
        if hello.conversation_id and token_is_ascii and verify_conversation(secret, hello.conversation_id, hello.token):
            conversation_id = hello.conversation_id
            resumed = True
        else:
            # No id, or an id with a wrong token: a new conversation; the old one stays private.
            conversation_id = new_conversation_id()
            resumed = False
        self.conversation_id = conversation_id
        await self.send(
            {"type": "welcome", "conversation_id": conversation_id, "token": sign_conversation(secret, conversation_id), "resumed": resumed}
        )
        if self.hub is not None:
            # Subscribe before reading the history, so no event falls between the two.
            self._live_queue = await self.hub.subscribe(conversation_id)
            self._live_task = asyncio.create_task(self._forward_live())
        if not resumed:
            return
        for stored in await self.service.history(conversation_id, after=hello.last_event_id):
            await self.send_event(stored)
        # A reply cut short by a crash is produced now, so the customer still gets it.
        for stored in await self.service.resume_pending_turn(conversation_id):
            await self.send_event(stored)

    async def on_user(self, message: protocol.UserMessage) -> None:
        assert self.conversation_id is not None

        async def ack(event_id: str, duplicate: bool) -> None:
            await self.send({"type": "ack", "id": message.id, "event_id": event_id, "duplicate": duplicate})
            if not duplicate:
                await self.send({"type": "typing", "on": True})

        metadata = {"title": message.title} if message.title else None
        self._remember(self._own_messages, message.id)
        started = time.perf_counter()
        try:
            result = await self.service.handle_user_message(
                self.conversation_id, message.id, message.text, on_ack=ack, metadata=metadata, on_token=self.send_token
            )
            if not result.duplicate:
                self.metrics.messages.inc()
                self.metrics.turn_seconds.observe(time.perf_counter() - started)
                self.metrics.observe_turn_events([result.user_event or {}, *(s.event for s in result.events)])
            for stored in result.events:
                await self.send_event(stored)
                if stored.event.get("event") == "action" and stored.event.get("name") == "utter_goodbye":
                    await self.send({"type": "csat_request"})
        except BaseException:
            # run() sends the error frame first, then closes the turn: a client that reads up
            # to `typing off` has then seen why its message was not answered.
            self._turn_open = True
            raise
        await self._close_turn()

    async def _close_turn(self) -> None:
        # `typing off` closes every turn, so a client knows the bot has finished answering.
        self._turn_open = False
        await self.send({"type": "typing", "on": False})


def _address_buckets(state: Any, settings: Settings) -> AddressBuckets:
    """The app's per-address message buckets, made on first use (one per app)."""
    buckets = getattr(state, "address_buckets", None)
    if buckets is None:
        limits = settings.limits
        buckets = state.address_buckets = AddressBuckets(limits.ip_messages_per_second, limits.ip_message_burst)
    return buckets


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Starlette route for ``/ws``."""
    state = websocket.app.state
    settings: Settings = state.settings
    origin = websocket.headers.get("origin")
    if settings.allowed_origins and origin not in settings.allowed_origins:
        await websocket.close(code=1008, reason="origin not allowed")
        return
    address = websocket.client.host if websocket.client else "unknown"
    counter: ConnectionCounter = state.connections
    if not counter.try_open(address):
        await websocket.close(code=1013, reason="too many connections from this address")
        return
    state.metrics.connections.inc()
    try:
        await websocket.accept()
        connection = WidgetConnection(websocket, state.service, settings, state.live, address=address,
                                      address_buckets=_address_buckets(state, settings))
        try:
            await connection.run()
        finally:
            await connection.close()
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("widget connection failed")
        if websocket.application_state == WebSocketState.CONNECTED:
            await websocket.close(code=1011)
    finally:
        counter.close(address)
        state.metrics.connections.dec()


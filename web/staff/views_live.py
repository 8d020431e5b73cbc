"""Live chats: the queue of conversations waiting for a person, and the agent's chat view.

Both pages update by server-sent events fed from Redis, so they work whichever replica the
customer is connected to:

- ``/staff/live/queue/events`` pattern-subscribes to every conversation's live channel and
  forwards handoff changes and new messages; it also re-sends the queue snapshot (from the
  archive) every :data:`SNAPSHOT_EVERY_S`, which heals anything missed while reconnecting.
- ``/staff/live/{id}/events`` subscribes to one conversation (through the server's
  :class:`bot.live.LiveHub`) after sending its history from the Redis stream.

Taking over, replying and handing back use :class:`bot.turns.ConversationService`, whose
events reach the customer's widget through Redis pub/sub. Texts are redacted before they
reach the page when redaction is on, exactly as in the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from bot.archive import audit, schema
from bot.archive.db import ArchiveDatabase
from bot.archive.redaction import redact_event
from bot.archive.writer import fell_back, stream_id_parts
from bot.errors import ServiceUnavailable
from bot.store import StoredEvent
from web.staff.security import archive_of, current_session, staff_page
from web.staff.templating import render, render_error

SNAPSHOT_EVERY_S = 15.0
HEARTBEAT_EVERY_S = 10.0
# An event stream ends after this long; EventSource reconnects by itself (a restart of the
# server is never held up for long by an open page).
STREAM_LIFETIME_S = 300.0
QUEUE_STATES = ("waiting", "human")
MAX_REPLY_CHARS = 2000
EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def queue_snapshot(database: ArchiveDatabase, *, limit: int = 200) -> list[dict[str, Any]]:
    """Conversations waiting for, or with, a person (from the archive), longest waiting first."""
    conv = schema.conversations
    query = (select(conv.c.id, conv.c.handoff_state, conv.c.handoff_at, conv.c.agent, conv.c.last_text,
                    conv.c.last_event_at, conv.c.language, conv.c.handoff_event_id)
             .where(conv.c.handoff_state.in_(QUEUE_STATES))
             .order_by(conv.c.handoff_at).limit(limit))
    with database.read() as connection:
        return [dict(r) for r in connection.execute(query).mappings()]


def display_event(stored: StoredEvent, *, redact: bool, seen_messages: set[str] | None = None) -> dict[str, Any] | None:
    """What a staff page shows of one live event (None for events it does not show).

    ``seen_messages`` collects customer message ids: a second ``user`` event with the same
    id is the dialogue re-reading a message (two-stage fallback), not a new one.
    """
    event = redact_event(stored.event) if redact else stored.event
    kind = event.get("event")
    if kind == "user" and seen_messages is not None and event.get("message_id"):
        if event["message_id"] in seen_messages:
            return None
        seen_messages.add(event["message_id"])
    shown: dict[str, Any] = {"event_id": stored.event_id, "kind": kind, "ts": event.get("timestamp")}
    if kind == "user":
        parse = event.get("parse_data") or {}
        intent = parse.get("fallback_from") or parse.get("intent") or {}
        shown.update(text=event.get("text"), intent=intent.get("name"), confidence=intent.get("confidence"),
                     fell_back=fell_back(event))
    elif kind == "bot":
        metadata = event.get("metadata") or {}
        shown.update(text=event.get("text"), source=metadata.get("source") or "template", agent=metadata.get("agent"))
    elif kind == "handoff":
        shown.update(state=event.get("state"), agent=event.get("agent"))
    elif kind == "csat":
        shown.update(score=event.get("score"))
    else:
        return None
    return shown


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _stream_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@staff_page()
async def queue_page(request: Request) -> Response:
    archive = archive_of(request)
    rows = await run_in_threadpool(queue_snapshot, archive.database)
    return render(request, "live_queue.html", {"rows": rows})


@staff_page()
async def queue_events(request: Request) -> Response:
    archive = archive_of(request)
    store = request.app.state.service.store
    prefix = store.prefix
    redact = archive.settings.redact

    async def stream() -> AsyncIterator[str]:
        pubsub = store.redis.pubsub()
        try:
            await pubsub.psubscribe(f"{prefix}live:*")
            yield "retry: 2000\n\n"
            started = last_beat = time.monotonic()
            next_snapshot = 0.0
            while time.monotonic() - started < STREAM_LIFETIME_S:
                now = time.monotonic()
                if now >= next_snapshot:
                    rows = await run_in_threadpool(queue_snapshot, archive.database)
                    yield _sse("snapshot", rows)
                    next_snapshot = now + SNAPSHOT_EVERY_S
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message.get("type") == "pmessage":
                    update = _queue_update(prefix, message, redact=redact)
                    if update is not None:
                        yield _sse("update", update)
                if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
                    last_beat = time.monotonic()
                    yield ": keep-alive\n\n"
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    return _stream_response(stream())


def _queue_update(prefix: str, message: dict[str, Any], *, redact: bool) -> dict[str, Any] | None:
    channel = str(message.get("channel"))
    conversation_id = channel[len(prefix) + len("live:") :]
    try:
        event_id, payload = str(message["data"]).split("\n", 1)
        shown = display_event(StoredEvent(event_id, json.loads(payload)), redact=redact)
    except (ValueError, KeyError):
        return None
    if shown is None or shown["kind"] not in ("user", "bot", "handoff"):
        return None
    return {"conversation_id": conversation_id, **shown}


async def _live_exists(request: Request, conversation_id: str) -> bool:
    try:
        return await request.app.state.service.store.conversation_exists(conversation_id)
    except ServiceUnavailable:
        return False


@staff_page()
async def live_conversation_page(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not await _live_exists(request, conversation_id):
        return render_error(request, 404, "This conversation is not live in Redis (it may have expired).")
    archive = archive_of(request)
    history = await request.app.state.service.history(conversation_id)
    seen: set[str] = set()
    shown = [d for d in (display_event(s, redact=archive.settings.redact, seen_messages=seen) for s in history) if d]
    state = next((d["state"] for d in reversed(shown) if d["kind"] == "handoff"), "bot")
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "view",
                            conversation_id, {"live": True})
    return render(request, "live_conversation.html", {
        "conversation_id": conversation_id, "events": shown, "state": state,
        "last_event_id": history[-1].event_id if history else "",
    })


@staff_page()
async def live_conversation_events(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not await _live_exists(request, conversation_id):
        return JSONResponse({"error": "not live"}, status_code=404)
    redact = archive_of(request).settings.redact
    hub = request.app.state.live
    service = request.app.state.service
    after = request.headers.get("last-event-id") or request.query_params.get("after") or None
    if after is not None and not EVENT_ID.match(after):
        return JSONResponse({"error": "after must be an event id like 1700000000000-0"}, status_code=400)

    async def stream() -> AsyncIterator[str]:
        # Subscribe before reading the history, so no event falls between the two.
        queue = await hub.subscribe(conversation_id)
        sent: set[str] = set()
        seen_messages: set[str] = set()
        cut = stream_id_parts(after) if after else None
        try:
            yield "retry: 2000\n\n"
            # The whole history is folded (to know which messages were seen), but only what
            # comes after ``after`` is sent: the page rendered the rest.
            for stored in await service.history(conversation_id):
                sent.add(stored.event_id)
                shown = display_event(stored, redact=redact, seen_messages=seen_messages)
                if shown and (cut is None or stream_id_parts(stored.event_id) > cut):
                    yield f"id: {stored.event_id}\n" + _sse("event", shown)
            started = time.monotonic()
            while time.monotonic() - started < STREAM_LIFETIME_S:
                try:
                    stored = await asyncio.wait_for(queue.get(), HEARTBEAT_EVERY_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if stored.event_id in sent:
                    continue
                sent.add(stored.event_id)
                shown = display_event(stored, redact=redact, seen_messages=seen_messages)
                if shown:
                    yield f"id: {stored.event_id}\n" + _sse("event", shown)
        finally:
            await hub.unsubscribe(conversation_id, queue)

    return _stream_response(stream())


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def _staff_action(request: Request, action: str) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not await _live_exists(request, conversation_id):
        return render_error(request, 404, "This conversation is not live in Redis (it may have expired).")
    service = request.app.state.service
    archive = archive_of(request)
    agent = current_session(request).user.name
    detail: dict[str, Any] | None = None
    if action == "take_over":
        await service.take_over(conversation_id, agent=agent)
    elif action == "hand_back":
        await service.hand_back(conversation_id, agent=agent)
    else:
        form = await request.form()
        text = str(form.get("text") or "").strip()
        if not text or len(text) > MAX_REPLY_CHARS:
            message = f"A reply is 1-{MAX_REPLY_CHARS} characters."
            if _wants_json(request):
                return JSONResponse({"error": message}, status_code=400)
            return render_error(request, 400, message)
        await service.staff_reply(conversation_id, text, agent=agent)
        detail = {"chars": len(text)}
    await run_in_threadpool(audit.record, archive.database, agent, action, conversation_id, detail)
    if _wants_json(request):
        return JSONResponse({"ok": True})
    return RedirectResponse(f"/staff/live/{conversation_id}", status_code=303)


@staff_page()
async def take_over(request: Request) -> Response:
    return await _staff_action(request, "take_over")


@staff_page()
async def reply(request: Request) -> Response:
    return await _staff_action(request, "reply")


@staff_page()
async def hand_back(request: Request) -> Response:
    return await _staff_action(request, "hand_back")

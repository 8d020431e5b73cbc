"""A test client that speaks the widget protocol over a real websocket."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class ChatClient:
    """One websocket connection; ``async with ChatClient(url) as chat: ...``."""

    def __init__(self, url: str, *, timeout_s: float = 20.0, **connect_kwargs: Any) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.connect_kwargs = connect_kwargs
        self.ws: ClientConnection | None = None
        self.conversation_id: str | None = None
        self.token: str | None = None
        self.last_turn_frames: list[dict[str, Any]] = []

    async def __aenter__(self) -> "ChatClient":
        self.ws = await connect(self.url, max_size=4 * 1024 * 1024, **self.connect_kwargs)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.ws is not None
        await self.ws.close()

    async def send(self, frame: dict[str, Any] | str) -> None:
        assert self.ws is not None
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        assert self.ws is not None
        return json.loads(await asyncio.wait_for(self.ws.recv(), self.timeout_s))

    async def hello(self, conversation_id: str | None = None, token: str | None = None,
                    last_event_id: str | None = None, lang: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send hello; returns the welcome and the replayed history (until a ping's pong)."""
        frame: dict[str, Any] = {"type": "hello"}
        for key, value in (("conversation_id", conversation_id), ("token", token),
                           ("last_event_id", last_event_id), ("lang", lang)):
            if value is not None:
                frame[key] = value
        await self.send(frame)
        welcome = await self.recv()
        assert welcome["type"] == "welcome", welcome
        self.conversation_id, self.token = welcome["conversation_id"], welcome["token"]
        await self.send({"type": "ping"})
        history = await self.until(lambda f: f["type"] == "pong")
        return welcome, history[:-1]

    async def until(self, done: Any) -> list[dict[str, Any]]:
        """Frames received up to and including the first one for which ``done(frame)``."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if done(frame):
                return frames

    async def say(self, text: str, *, message_id: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a message; returns its ack and the bot frames of the turn."""
        message_id = message_id or uuid.uuid4().hex
        await self.send({"type": "user", "id": message_id, "text": text})
        frames = await self.until(lambda f: f["type"] == "typing" and f["on"] is False or f["type"] == "error")
        self.last_turn_frames = frames  # every frame of the turn, e.g. streamed `token` frames
        errors = [f for f in frames if f["type"] == "error"]
        assert not errors, errors
        ack = next(f for f in frames if f["type"] == "ack")
        assert ack["id"] == message_id
        return ack, [f for f in frames if f["type"] == "bot"]

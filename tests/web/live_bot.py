"""The real Kefu server as the browser tests see it: the `kefu serve` process, its Redis
transcript and a staff member's side of the conversation.

Playwright's sync API owns the main thread's event loop, so everything async (the store, the
staff :class:`ConversationService`) runs on a :class:`LoopThread` of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot import protocol
from bot.dialogue.engine import EngineConfig
from bot.project import load_project
from bot.store import ConversationStore
from bot.turns import ConversationService
from tests.bot.conftest import KefuServer

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running on a daemon thread; :meth:`run` awaits a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="web-tests-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout_s: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class LiveBot:
    """A running server plus direct access to what it stored, for checking the widget against,
    and a staff member's actions on its conversations. :meth:`close` closes the Redis client;
    the server process belongs to whoever started it."""

    def __init__(self, server: KefuServer, *, project: Path, redis_url: str, prefix: str, loop: LoopThread) -> None:
        self.server = server
        self.loop = loop
        # Redis clients bind to the loop that first uses them: create and use them on `loop`.
        self.store = loop.run(self._make_store(redis_url, prefix))
        self.staff = ConversationService(self.store, load_project(project).engine(EngineConfig()), None)

    @staticmethod
    async def _make_store(redis_url: str, prefix: str) -> ConversationStore:
        return ConversationStore.from_url(redis_url, prefix=prefix)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's stored messages (customer and bot) as the frames a widget is sent
        for them, in stream order: what a correct widget shows, one bubble each."""
        stored = self.loop.run(self.store.read_events(conversation_id))
        frames = [protocol.event_frame(event) for event in stored]
        return [frame for frame in frames if frame is not None and frame["type"] in ("user", "bot")]

    def take_over(self, conversation_id: str, agent: str) -> None:
        self.loop.run(self.staff.take_over(conversation_id, agent=agent))

    def staff_reply(self, conversation_id: str, text: str, agent: str) -> None:
        self.loop.run(self.staff.staff_reply(conversation_id, text, agent=agent))

    def hand_back(self, conversation_id: str, agent: str) -> None:
        self.loop.run(self.staff.hand_back(conversation_id, agent=agent))

    def close(self) -> None:
        self.loop.run(self.store.close())

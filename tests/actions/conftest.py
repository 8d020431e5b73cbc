"""Fixtures for the custom-action tests: one real rasa-sdk action server per session.

The server runs ``python -m rasa_sdk --actions actions`` as a child process with its order
database in a temporary folder; tests call it through ``bot.actions_client.ActionClient``
with tracker dicts shaped like the ones Rasa (and Kefu's dialogue manager) send, and read
the same SQLite file to check what changed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actions.local_server import LocalActionServer
from actions.order_store import OrderStore
from bot.actions_client import ActionClient, ActionResult
from tests.actions.shop_conversations import DOMAIN, build_tracker_state


@dataclass(frozen=True)
class ActionOutcome:
    """An ``ActionResult`` plus the views tests check: slots set and texts said."""

    result: ActionResult

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.result.events

    @property
    def slots(self) -> dict[str, Any]:
        """The ``slot`` events as ``{name: value}`` (later events win)."""
        return {e["name"]: e["value"] for e in self.result.events if e.get("event") == "slot"}

    @property
    def texts(self) -> list[str]:
        """The text of every bot message."""
        return [r["text"] for r in self.result.responses if r.get("text")]

    @property
    def text(self) -> str:
        """All bot texts joined, for ``in`` checks."""
        return "\n".join(self.texts)


@pytest.fixture(scope="session")
def orders_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file the session's action server uses (seeded on its first request)."""
    return tmp_path_factory.mktemp("actions") / "orders.sqlite3"


@pytest.fixture(scope="session")
def shop_action_server(orders_db: Path) -> Iterator[LocalActionServer]:
    """The real rasa-sdk action server serving ``actions``, with its database at ``orders_db``."""
    with LocalActionServer(orders_db=orders_db) as server:
        yield server


@pytest.fixture
def order_store(orders_db: Path) -> Iterator[OrderStore]:
    """The action server's order database, opened from the test process."""
    opened = OrderStore(orders_db)
    yield opened
    opened.close()


@pytest.fixture
def make_tracker() -> Callable[..., dict[str, Any]]:
    """``make_tracker(text, intent=..., entities=..., slots=..., ...)``: build_tracker_state."""
    return build_tracker_state


@pytest.fixture
def domain() -> dict[str, Any]:
    """A fresh copy of the test domain."""
    return copy.deepcopy(DOMAIN)


@pytest.fixture
def run_action(shop_action_server: LocalActionServer) -> Callable[..., ActionOutcome]:
    """``run_action(name, tracker, domain=DOMAIN)``: one webhook call through ActionClient."""

    def run(
        name: str, tracker: dict[str, Any], domain: dict[str, Any] | None = None
    ) -> ActionOutcome:
        async def call() -> ActionResult:
            async with ActionClient(shop_action_server.webhook_url, timeout_s=10.0) as client:
                return await client.run(
                    name, sender_id=tracker["sender_id"], tracker_state=tracker,
                    domain=DOMAIN if domain is None else domain,
                )

        return ActionOutcome(asyncio.run(call()))

    return run

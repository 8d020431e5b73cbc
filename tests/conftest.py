"""Shared fixtures: real Redis, real processes, free ports.

Redis is ``REDIS_URL`` when set (each test run uses its own key prefix and deletes its
keys afterwards), else an embedded redis-server started for the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.embedded_redis import EmbeddedRedis, free_port
from tests.processes import ManagedProcess, python_module
from tests.redis_keys import delete_prefix

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as embedded:
        yield embedded.url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    prefix = f"kefu-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator["ConversationStore"]:  # noqa: F821
    from bot.store import ConversationStore

    conversation_store = ConversationStore.from_url(redis_url, prefix=redis_prefix, session_ttl_s=60)
    yield conversation_store
    await conversation_store.close()


@pytest.fixture(scope="session")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real rasa-sdk action server running ``actions/``; yields its webhook URL."""
    workdir = tmp_path_factory.mktemp("actions")
    port = free_port()
    process = ManagedProcess(
        python_module("rasa_sdk", "--actions", "actions", "--port", str(port)),
        health_url=f"http://127.0.0.1:{port}/health",
        env={"KEFU_ORDERS_DB": str(workdir / "orders.sqlite3")},
        log_path=workdir / "actions.log",
    ).start()
    yield f"http://127.0.0.1:{port}/webhook"
    process.stop()


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default bot with ~40 examples per intent and language (see tests/tiny_bot.py)."""
    from tests.tiny_bot import make_tiny_project

    return make_tiny_project(tmp_path_factory.mktemp("tiny-bot"))


@pytest.fixture(scope="session")
def tiny_model(tiny_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained with the ``tiny`` config on :func:`tiny_project`, through the CLI."""
    from bot.cli import main

    out = tmp_path_factory.mktemp("models") / "tiny"
    code = main(["train", "--data", str(tiny_project), "--out", str(out), "--config", "tiny",
                 "--threads", "1", "--seed", "0", "--nlu-only"])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def tiny_generating_model(tiny_model: Path, tiny_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`tiny_model` plus a ``tiny`` answer decoder, trained by ``kefu train --decoder-only``."""
    import shutil

    from bot.cli import main

    out = tmp_path_factory.mktemp("models") / "tiny-generating"
    shutil.copytree(tiny_model, out)
    # A quarter of a minute: enough for fluent-looking answers; the guard judges them anyway.
    code = main(["train", "--decoder-only", "--data", str(tiny_project), "--out", str(out), "--config", "tiny",
                 "--threads", "1", "--seed", "0", "--decoder-minutes", "0.25"])
    assert code == 0
    return out

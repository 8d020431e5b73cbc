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
import redis

from bot.embedded_redis import EmbeddedRedis

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
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator["ConversationStore"]:  # noqa: F821
    from bot.store import ConversationStore

    conversation_store = ConversationStore.from_url(redis_url, prefix=redis_prefix, session_ttl_s=60)
    yield conversation_store
    await conversation_store.close()

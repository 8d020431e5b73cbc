"""Test data in a shared Redis: every test run writes under a key prefix of its own."""

from __future__ import annotations

import redis


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (the clean-up after a test that used it)."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()

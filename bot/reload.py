"""Swapping in a retrained NLU model on every running server, without a restart.

``kefu reload`` (or the admin button) calls :func:`request_reload`, which publishes
``{"model": "/abs/path"}`` on ``<prefix>reload``. Every server runs a
:class:`ModelReloader`: it loads the new model *beside* the old one (in a thread, so turns
keep running), then replaces ``ConversationService.nlu`` in one assignment. A turn that
already started finishes on the model it started with; the old model is closed after a
grace period. A model that fails to load is reported and the old one stays.

Each server keeps ``<prefix>server:<id>:model`` (JSON: model, loaded_at, error) fresh
with a heartbeat, so :func:`server_models` can tell which model each one runs.
The model folder must be readable at the same path on every server (a shared volume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.nlu import NluService
from bot.turns import ConversationService

log = logging.getLogger(__name__)

HEARTBEAT_S = 20
STATUS_TTL_S = 60


def reload_channel(prefix: str) -> str:
    return f"{prefix}reload"


def _status_key(prefix: str, server_id: str) -> str:
    return f"{prefix}server:{server_id}:model"


async def request_reload(client: aioredis.Redis, prefix: str, model_dir: Path, *, requested_by: str = "cli") -> int:
    """Ask every server to load ``model_dir``; returns how many servers are listening.

    Raises ``FileNotFoundError`` when the folder has no ``config.json`` (here, before any
    server tries).
    """
    model_dir = model_dir.resolve()
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a model folder (no config.json)")
    message = json.dumps({"model": str(model_dir), "by": requested_by, "at": time.time()})
    return int(await client.publish(reload_channel(prefix), message))


async def server_models(client: aioredis.Redis, prefix: str) -> dict[str, dict[str, Any]]:
    """``{server id: {"model", "loaded_at", "error"}}`` for every live server."""
    found: dict[str, dict[str, Any]] = {}
    pattern = _status_key(prefix, "*")
    async for key in client.scan_iter(match=pattern, count=200):
        raw = await client.get(key)
        if raw:
            server_id = str(key)[len(prefix) + len("server:") : -len(":model")]
            found[server_id] = json.loads(raw)
    return found


class ModelReloader:
    """Listens for reload messages and swaps the service's NLU. ``start()``, then ``close()``."""

    def __init__(self, service: ConversationService, client: aioredis.Redis, *, prefix: str,
                 loader: Callable[[Path], NluService] = NluService.from_model_dir, grace_s: float = 30.0,
                 server_id: str | None = None,
                 generation_loader: Callable[[NluService], Any] | None = None) -> None:
        self.service = service
        self.client = client
        self.prefix = prefix
        self.loader = loader
        # The answer generator of a model folder (its decoder reads the new encoder), or None.
        self.generation_loader = generation_loader
        self.grace_s = grace_s
        self.server_id = server_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.error: str | None = None
        self.loaded_at = time.time()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._retired: list[NluService] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="kefu-model-reload"),
                       asyncio.create_task(self._heartbeat(), name="kefu-model-heartbeat")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for old in self._retired:
            old.close()
        self._retired.clear()
        with contextlib.suppress(RedisError, OSError):
            await self.client.delete(_status_key(self.prefix, self.server_id))

    @property
    def model_dir(self) -> Path | None:
        nlu = self.service.nlu
        return nlu.model_dir if nlu is not None else None

    async def reload(self, model_dir: Path) -> bool:
        """Load ``model_dir`` and swap it in; returns False (and keeps the old model) on failure."""
        async with self._lock:
            try:
                new = await asyncio.to_thread(self.loader, model_dir)
                generation = await asyncio.to_thread(self.generation_loader, new) if self.generation_loader else None
            except Exception as exc:  # a missing or broken folder: keep serving the old model
                self.error = f"{model_dir}: {type(exc).__name__}: {exc}"[:500]
                log.error("model reload failed, keeping %s: %s", self.model_dir, self.error)
                await self._publish_status()
                return False
            old = self.service.nlu
            if old is not None and new.on_parse is None:
                new.on_parse = old.on_parse  # keep feeding the server's latency metrics
            if old is not None and getattr(new.parser, "on_batch", "absent") is None:
                new.parser.on_batch = getattr(old.parser, "on_batch", None)
            # One assignment: the next turn parses with the new model; a turn already
            # parsing holds a reference to the old one and finishes with it.
            self.service.nlu = new
            if self.generation_loader is not None:
                self.service.generation = generation
            self.error = None
            self.loaded_at = time.time()
            log.info("NLU model swapped: %s -> %s", old.model_dir if old else None, model_dir)
            await self._publish_status()
            if old is not None:
                self._retired.append(old)
                asyncio.get_running_loop().call_later(self.grace_s, self._close_retired, old)
            return True

    def _close_retired(self, old: NluService) -> None:
        if old in self._retired:
            self._retired.remove(old)
            old.close()

    async def _publish_status(self) -> None:
        status = {"model": str(self.model_dir) if self.model_dir else None, "loaded_at": self.loaded_at,
                  "error": self.error}
        with contextlib.suppress(RedisError, OSError):
            await self.client.set(_status_key(self.prefix, self.server_id), json.dumps(status), ex=STATUS_TTL_S)

    async def _heartbeat(self) -> None:
        while True:
            await self._publish_status()
            await asyncio.sleep(HEARTBEAT_S)

    async def _listen(self) -> None:
        """Read the reload channel forever; on a Redis outage, reconnect."""
        delay = 0.2
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(reload_channel(self.prefix))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    delay = 0.2
                    try:
                        model = Path(json.loads(message["data"])["model"])
                    except (ValueError, KeyError, TypeError):
                        log.error("ignoring a malformed reload message")
                        continue
                    await self.reload(model)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("model reload listener lost Redis (%s); reconnecting in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

"""Fixtures for fault tests: every part a real process that a test may kill, stop or restart.

- ``own_redis``: an embedded redis-server of this test's own (append-only file on, data in a
  temporary folder, its own port), never the machine's Redis;
- ``servers``: starts ``kefu serve`` processes (tiny model, default bot) on demand and stops
  whatever is left at the end;
- ``silent_peer``: a TCP port that accepts connections and never answers, to hold a turn in
  flight (a custom action that hangs) while the test kills the server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.embedded_redis import EmbeddedRedis
from tests.bot.conftest import KefuServer


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    redis = EmbeddedRedis(tmp_path / "redis").start()
    yield redis
    redis.kill()


class ServerFactory:
    """Starts `kefu serve` processes sharing one model and project; stops them all on close."""

    def __init__(self, *, model: Path, project: Path, workdir: Path) -> None:
        self.model = model
        self.project = project
        self.workdir = workdir
        self.started: list[KefuServer] = []

    def start(self, *, redis_url: str, prefix: str, action_endpoint: str, port: int | None = None,
              env: dict[str, str] | None = None) -> KefuServer:
        var_dir = self.workdir / f"server-{len(self.started)}"
        var_dir.mkdir(parents=True, exist_ok=True)
        server = KefuServer(model=self.model, project=self.project, redis_url=redis_url, prefix=prefix,
                            action_endpoint=action_endpoint, var_dir=var_dir, port=port,
                            # The archiver is not under test here; without it a server starts faster.
                            extra_env={"KEFU_ARCHIVER": "0", **(env or {})})
        self.started.append(server)
        server.start()
        return server

    def close(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def servers(tiny_model: Path, tiny_project: Path, tmp_path: Path) -> Iterator[ServerFactory]:
    factory = ServerFactory(model=tiny_model, project=tiny_project, workdir=tmp_path)
    yield factory
    factory.close()


class SilentPeer:
    """Listens on a loopback port, accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._accepted.append(connection)

    def close(self) -> None:
        self._listener.close()
        for connection in self._accepted:
            connection.close()


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()

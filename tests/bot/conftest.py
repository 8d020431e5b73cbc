"""Fixtures for server tests: the real `kefu serve` process on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.embedded_redis import free_port
from tests.processes import ManagedProcess, python_module


class KefuServer(ManagedProcess):
    def __init__(self, *, model: Path, project: Path, redis_url: str, prefix: str, action_endpoint: str,
                 var_dir: Path, port: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        super().__init__(
            python_module("bot.cli", "serve", "--model", str(model), "--project", str(project),
                          "--port", str(self.port), "--redis-url", redis_url,
                          "--action-endpoint", action_endpoint, "--log-level", "warning"),
            health_url=f"http://127.0.0.1:{self.port}/healthz",
            env={"KEFU_SECRET": "test-secret", "KEFU_REDIS_PREFIX": prefix, "KEFU_VAR_DIR": str(var_dir),
                 **(extra_env or {})},
            log_path=var_dir / "server.log",
        )

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@pytest.fixture
def server(tiny_model: Path, tiny_project: Path, redis_url: str, redis_prefix: str, action_server: str,
           tmp_path: Path) -> Iterator[KefuServer]:
    process = KefuServer(model=tiny_model, project=tiny_project, redis_url=redis_url, prefix=redis_prefix,
                         action_endpoint=action_server, var_dir=tmp_path).start()
    yield process
    process.stop()



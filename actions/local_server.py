"""Start the real rasa-sdk action server as a child process: for `kefu run`, tests and benchmarks.

    with LocalActionServer(orders_db=tmp_path / "orders.sqlite3") as server:
        client = ActionClient(server.webhook_url)

It runs ``python -m rasa_sdk --actions actions --port <free port>`` on 127.0.0.1 with
``KEFU_ORDERS_DB`` pointing at ``orders_db``, waits until ``GET /health`` answers, and on
exit stops the process it started (and only that one). rasa-sdk imports every module of
this package, so this one imports nothing heavy and defines no actions.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from actions.order_store import ORDERS_DB_ENV

_REPO_ROOT = Path(__file__).resolve().parent.parent


class ActionServerStartError(RuntimeError):
    """The action server process exited or did not become healthy in time."""


def free_tcp_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalActionServer:
    """One rasa-sdk action server process serving ``actions_package`` on 127.0.0.1."""

    def __init__(
        self,
        *,
        orders_db: str | os.PathLike[str],
        port: int | None = None,
        actions_package: str = "actions",
        startup_timeout_s: float = 30.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.orders_db = Path(orders_db)
        self.port = port or free_tcp_port()
        self.actions_package = actions_package
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path else self.orders_db.with_suffix(".log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        """The ``/webhook`` URL to give to ``bot.actions_client.ActionClient``."""
        return f"{self.url}/webhook"

    @property
    def is_running(self) -> bool:
        """True while the process we started is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the process and wait for ``/health``; raises ``ActionServerStartError``."""
        if self.is_running:
            return
        self.orders_db.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env[ORDERS_DB_ENV] = str(self.orders_db)
        env["SANIC_HOST"] = "127.0.0.1"  # rasa-sdk binds 0.0.0.0 unless told otherwise
        # Works from a source checkout as well as from an installed package.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
        command = [
            sys.executable, "-m", "rasa_sdk",
            "--actions", self.actions_package, "--port", str(self.port),
        ]
        with open(self.log_path, "ab") as log:
            # A new session, so stop() can also end any worker process the server spawns.
            self._process = subprocess.Popen(
                command, cwd=self.orders_db.parent, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_until_healthy()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop the server: SIGTERM, a second SIGTERM, then SIGKILL to its process group.

        Sanic's graceful shutdown hangs when the signal arrives while its worker is still
        acknowledging startup; a second signal makes Sanic kill its workers itself.
        """
        process, self._process = self._process, None
        if process is None:
            return
        for grace_s in (1.0, timeout_s):
            if process.poll() is not None:
                break
            process.terminate()
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                continue
        try:
            # Spawned workers may outlive the main process; they share its process group
            # (pgid == our child's pid, as start_new_session made it the group leader).
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait(timeout=timeout_s)

    def __enter__(self) -> LocalActionServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1.0) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        exit_code = self._process.poll() if self._process else None
        self.stop()
        raise ActionServerStartError(
            f"action server on port {self.port} not healthy after {self.startup_timeout_s} s "
            f"(exit code {exit_code}); log: {self.log_path}\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

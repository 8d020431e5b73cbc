"""Real child processes for tests: start, wait until healthy, stop, kill, restart."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


class ManagedProcess:
    """A command run as a child process that is ready when ``health_url`` answers 200."""

    def __init__(self, args: list[str], *, health_url: str, env: dict[str, str] | None = None,
                 log_path: Path | None = None, cwd: Path = REPO_ROOT) -> None:
        self.args = args
        self.health_url = health_url
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 60.0) -> "ManagedProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=log, stderr=log,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args[:4]} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.health_url, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.args[:4]} not healthy at {self.health_url}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to the whole process group (servers that fork workers, like rasa-sdk's
        Sanic, need it), a second SIGTERM if it lingers, then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        for sig, wait in ((signal.SIGTERM, timeout_s / 2), (signal.SIGTERM, timeout_s / 2), (signal.SIGKILL, 5)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # leftover workers of a stopped parent

    def kill(self) -> None:
        """SIGKILL to the process group, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(self.process.pid), signal.SIGKILL)
            self.process.wait()

    def restart(self) -> "ManagedProcess":
        self.stop()
        return self.start()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]

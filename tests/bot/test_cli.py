"""The `kefu` command as a user runs it: a real process, its help and its errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parents[2]


def kefu(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


def test_console_script_is_declared() -> None:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^kefu = "bot\.cli:main"$', text, re.MULTILINE)
    assert 'name = "kefu"' in text and '"torch==2.13.0"' in text


def test_help_lists_every_command() -> None:
    result = kefu("--help")
    assert result.returncode == 0
    for command in ("train", "eval", "serve", "run", "shell"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "command, flags",
    [
        ("train", ["--data", "--out", "--config", "--nlu-only", "--threads", "--seed", "--init-from"]),
        ("eval", ["--model", "--data", "--report", "--threads"]),
        ("serve", ["--model", "--host", "--port", "--redis-url", "--action-endpoint"]),
        ("run", ["--model", "--port", "--actions-port"]),
        ("shell", ["--model"]),
    ],
)
def test_each_command_explains_its_flags(command: str, flags: list[str]) -> None:
    result = kefu(command, "--help")
    assert result.returncode == 0
    for flag in flags:
        assert flag in result.stdout
    # Every flag has a sentence of help, not just a name.
    subparser = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    for action in subparser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 10, action.option_strings


def test_serve_without_a_model_says_what_to_do(tmp_path: Path) -> None:
    result = kefu("serve", "--model", str(tmp_path / "nothing"))
    assert result.returncode != 0
    assert "kefu train" in result.stderr


def test_train_on_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "nlu.yml"
    bad.write_text("nlu:\n- intent: greet\n  examples: [unclosed\n")
    result = kefu("train", "--data", str(bad), "--out", str(tmp_path / "m"), "--config", "tiny")
    assert result.returncode == 2
    assert "nlu.yml" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_shell_chats_through_the_dialogue_manager(tiny_model: Path, tiny_project: Path, tmp_path: Path) -> None:
    # A person at the terminal: a greeting, a button picked by its number, an order number.
    env = {**os.environ, "KEFU_VAR_DIR": str(tmp_path / "var")}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", "--model", str(tiny_model), "--project", str(tiny_project)],
        input="hello\n1\nORD-10003\n/quit\n", capture_output=True, text=True, timeout=180, cwd=REPO_ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    out = " ".join(result.stdout.split())
    assert "[1] Track my order" in out
    assert "what's your order number?" in out
    assert "Order ORD-10003" in out and "being prepared for shipping" in out

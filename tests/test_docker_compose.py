"""docker-compose.yml, Dockerfile and .dockerignore, checked without Docker.

Docker cannot run here, so every command in the compose file is parsed by the argument
parser of the program it starts (rasa-sdk's, Kefu's ``build_parser()``), the references
between services (ports, host names, paths, volumes) are checked against each other, and
the action server's healthcheck command is run for real against a real action server.
"""

from __future__ import annotations

import argparse
import fnmatch
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from rasa_sdk.endpoint import create_argument_parser as rasa_sdk_argument_parser
from rasa_sdk.executor import ActionExecutor

from actions.local_server import LocalActionServer, free_tcp_port
from bot.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE_LINES = [
    line.strip() for line in (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
]
SHELL_OPERATORS = {"&&", "||", ";"}


def without_abbreviations(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` and its sub-commands refuse abbreviated flags.

    argparse accepts ``--thread`` for ``--threads`` by default; a typo in the compose file
    should fail here, not pass because a longer flag happens to start with it.
    """
    parser.allow_abbrev = False
    for action in parser._actions:  # argparse exposes sub-commands only through _actions
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                without_abbreviations(subparser)
    return parser


def kefu_parser() -> argparse.ArgumentParser:
    return without_abbreviations(build_parser())


def rasa_sdk_parser() -> argparse.ArgumentParser:
    return without_abbreviations(rasa_sdk_argument_parser())


def parse_or_fail(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """``parser.parse_args`` that fails the test (instead of exiting) on a bad command."""
    try:
        return parser.parse_args(args)
    except SystemExit:
        pytest.fail(f"{parser.prog} rejects the compose command: {shlex.join(args)}")


def shell_commands(script: str) -> tuple[list[list[str]], list[str]]:
    """Split an ``sh -c`` script into its simple commands and the operators between them."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    operators: list[str] = []
    for token in lexer:
        if token in SHELL_OPERATORS:
            operators.append(token)
            commands.append([])
        else:
            commands[-1].append(token)
    return commands, operators


def bot_script_commands() -> tuple[dict[str, list[str]], list[str]]:
    """The bot's start script as ``{"test": [...], "train": [...], "serve": [...]}``."""
    command = SERVICES["bot"]["command"]
    assert command[:2] == ["sh", "-c"], "the bot starts through `sh -c '<script>'`"
    commands, operators = shell_commands(command[2])
    named: dict[str, list[str]] = {}
    for words in commands:
        if words[0] == "exec":  # `exec` makes the server PID 1's direct child: signals reach it
            words = words[1:]
        key = words[1] if words[0] == "kefu" else words[0]
        named[key] = words
    return named, operators


def volume_target(service: str, volume: str) -> str:
    for entry in SERVICES[service]["volumes"]:
        source, target = entry.split(":")[:2]
        if source == volume:
            return target
    raise AssertionError(f"{service} mounts no volume {volume}")


def workdir() -> str:
    workdirs = [line.split()[1] for line in DOCKERFILE_LINES if line.startswith("WORKDIR ")]
    assert workdirs, "the Dockerfile sets a WORKDIR"
    return workdirs[-1]


# -- every service -----------------------------------------------------------------------

@pytest.mark.parametrize("service", ["redis", "actions", "bot"])
def test_every_service_has_a_healthcheck(service: str) -> None:
    healthcheck = SERVICES[service]["healthcheck"]
    assert healthcheck["test"][0] == "CMD"
    assert healthcheck["interval"] and healthcheck["retries"] >= 3


def test_named_volumes_are_declared() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for entry in service.get("volumes", []):
            source = entry.split(":")[0]
            assert source in declared, f"{name} mounts undeclared volume {source}"


# -- redis -------------------------------------------------------------------------------

def test_redis_persists_with_append_only_file() -> None:
    redis = SERVICES["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert volume_target("redis", "redis-data") == "/data"  # redis:7 writes its AOF there
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


# -- actions -----------------------------------------------------------------------------

def test_action_server_command_parses_with_rasa_sdk() -> None:
    command = SERVICES["actions"]["command"]
    assert command[:3] == ["python", "-m", "rasa_sdk"]

    args = parse_or_fail(rasa_sdk_parser(), command[3:])

    assert args.actions == "actions"
    assert args.port == 5055


def test_actions_package_registers_the_shop_actions() -> None:
    executor = ActionExecutor()
    executor.register_package(rasa_sdk_parser().parse_args(
        SERVICES["actions"]["command"][3:]).actions)

    assert {
        "action_order_status", "action_cancel_order", "action_change_shipping_address",
        "action_refund_status", "action_create_support_ticket", "validate_track_order_form",
    } <= set(executor.actions)


def test_order_database_lives_on_the_actions_volume() -> None:
    orders_db = Path(SERVICES["actions"]["environment"]["KEFU_ORDERS_DB"])
    assert str(orders_db.parent) == volume_target("actions", "actions-data")


def test_actions_healthcheck_passes_against_a_real_server_and_fails_without_one(tmp_path) -> None:
    test = SERVICES["actions"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    command = [sys.executable if word == "python" else word for word in test[1:]]
    assert any(":5055/health" in word for word in command)

    def run_against(port: int) -> int:
        on_port = [word.replace(":5055/", f":{port}/") for word in command]
        return subprocess.run(on_port, capture_output=True, timeout=30).returncode

    with LocalActionServer(orders_db=tmp_path / "orders.sqlite3") as server:
        assert run_against(server.port) == 0
    assert run_against(free_tcp_port()) != 0


# -- bot ---------------------------------------------------------------------------------

def test_bot_commands_parse_with_the_kefu_cli() -> None:
    parser = kefu_parser()
    commands, operators = bot_script_commands()

    assert set(commands) == {"test", "train", "serve"}
    # `test || train && serve`: serve only when a model exists or training succeeded.
    assert operators == ["||", "&&"]
    for name in ("train", "serve"):
        args = parse_or_fail(parser, commands[name][1:])
        assert args.command == name


def test_bot_trains_where_it_serves_from_and_only_if_missing() -> None:
    parser = kefu_parser()
    commands, _ = bot_script_commands()
    train = parser.parse_args(commands["train"][1:])
    serve = parser.parse_args(commands["serve"][1:])

    assert commands["test"] == ["test", "-f", str(train.out / "config.json")]
    assert serve.model == train.out
    assert (REPO_ROOT / train.data / "domain.yml").is_file()
    # Relative model paths resolve in the WORKDIR, where the models volume is mounted.
    assert f"{workdir()}/{train.out.parts[0]}" == volume_target("bot", "models")


def test_bot_reaches_redis_and_actions_by_service_name() -> None:
    commands, _ = bot_script_commands()
    serve = kefu_parser().parse_args(commands["serve"][1:])

    redis_url = urlparse(serve.redis_url)
    assert (redis_url.scheme, redis_url.hostname, redis_url.port) == ("redis", "redis", 6379)

    actions_port = rasa_sdk_parser().parse_args(SERVICES["actions"]["command"][3:]).port
    endpoint = urlparse(serve.action_endpoint)
    assert (endpoint.hostname, endpoint.port, endpoint.path) == ("actions", actions_port, "/webhook")

    depends_on = SERVICES["bot"]["depends_on"]
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["actions"]["condition"] == "service_healthy"


def test_bot_listens_on_the_published_port_and_checks_healthz() -> None:
    commands, _ = bot_script_commands()
    serve = kefu_parser().parse_args(commands["serve"][1:])

    assert serve.host == "0.0.0.0"
    assert f"{serve.port}:{serve.port}" in SERVICES["bot"]["ports"]
    healthcheck = " ".join(SERVICES["bot"]["healthcheck"]["test"])
    assert f"127.0.0.1:{serve.port}/healthz" in healthcheck


# -- image -------------------------------------------------------------------------------

def test_kefu_services_build_the_image_from_the_dockerfile() -> None:
    for name in ("actions", "bot"):
        assert SERVICES[name]["build"] == "."
    assert SERVICES["actions"]["image"] == SERVICES["bot"]["image"]


def test_dockerfile_installs_cpu_torch_before_the_project() -> None:
    assert DOCKERFILE_LINES[[l.startswith("FROM ") for l in DOCKERFILE_LINES].index(True)] \
        == "FROM python:3.11-slim"
    runs = [line for line in DOCKERFILE_LINES if line.startswith("RUN ")]
    torch = runs.index(
        "RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    project = runs.index("RUN pip install .")
    assert torch < project
    pinned = [l for l in (REPO_ROOT / "pyproject.toml").read_text().splitlines() if "torch==" in l]
    assert pinned and all("torch==2.13.0" in l for l in pinned)


def test_dockerignore_keeps_local_state_out_but_the_sources_in() -> None:
    patterns = [
        line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/"))
                   for p in patterns)

    for local_state in (".venv", ".git", "models", "var", "kefu.egg-info"):
        assert ignored(local_state), local_state
    for needed in ("pyproject.toml", "README.md", "actions", "bot", "nlu_model", "web",
                   "dialogues"):
        assert not ignored(needed), needed

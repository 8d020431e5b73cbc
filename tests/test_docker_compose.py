"""docker-compose.yml, Dockerfile and .dockerignore, checked without Docker.

Docker cannot run here, so every command in the compose file is parsed by the argument
parser of the program it starts (rasa-sdk's, Kefu's ``build_parser()``), the references
between services (ports, host names, paths, volumes, environment variables) are checked
against each other and against the code that reads them, the action server's healthcheck
command is run for real against a real action server, and nginx's configuration is checked
by ``nginx -t`` when Debian's nginx is installed. (tests/reliability/test_scale_out.py runs
that configuration for real in front of two replicas.)
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shlex
import shutil
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


def train_script_commands() -> tuple[dict[str, list[str]], list[str]]:
    """The one-shot train service's script as ``{"test": [...], "train": [...]}``."""
    command = SERVICES["train"]["command"]
    assert command[:2] == ["sh", "-c"], "the train service runs `sh -c '<script>'`"
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

@pytest.mark.parametrize("service", ["redis", "postgres", "actions", "bot", "nginx"])
def test_every_long_running_service_has_a_healthcheck(service: str) -> None:
    healthcheck = SERVICES[service]["healthcheck"]
    assert healthcheck["test"][0] == "CMD"
    assert healthcheck["interval"] and healthcheck["retries"] >= 3


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for entry in service.get("volumes", []):
            source = entry.split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).is_file(), f"{name} mounts missing file {source}"
            else:
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_kefu_settings_in_the_environment_are_ones_the_code_reads() -> None:
    """A misspelt variable would be silently ignored: each one must appear in the code (bot/, actions/)."""
    sources = "\n".join(p.read_text(encoding="utf-8") for folder in ("bot", "actions") for p in (REPO_ROOT / folder).rglob("*.py"))
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            if variable.startswith("KEFU_"):
                assert f'"{variable}"' in sources, f"{name} sets {variable}, which nothing reads"


# -- redis and postgres ------------------------------------------------------------------

def test_redis_persists_with_append_only_file() -> None:
    redis = SERVICES["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    assert volume_target("redis", "redis-data") == "/data"  # redis:7 writes its AOF there
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_archive_url_points_at_the_postgres_service() -> None:
    postgres = SERVICES["postgres"]
    assert volume_target("postgres", "postgres-data") == "/var/lib/postgresql/data"
    for service in ("bot", "archiver"):
        url = urlparse(SERVICES[service]["environment"]["KEFU_ARCHIVE_URL"])
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
        assert url.path == "/" + postgres["environment"]["POSTGRES_DB"]
        assert url.username == postgres["environment"]["POSTGRES_USER"]
        assert "${POSTGRES_PASSWORD" in SERVICES[service]["environment"]["KEFU_ARCHIVE_URL"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")


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


# -- training, replicas, archiver ---------------------------------------------------------

def serve_args() -> argparse.Namespace:
    command = SERVICES["bot"]["command"]
    assert command[0] == "kefu"
    return parse_or_fail(kefu_parser(), command[1:])


def test_train_runs_once_and_only_if_the_model_is_missing() -> None:
    commands, operators = train_script_commands()
    assert set(commands) == {"test", "train"} and operators == ["||"]
    train = parse_or_fail(kefu_parser(), commands["train"][1:])
    assert train.command == "train"
    assert commands["test"] == ["test", "-f", str(train.out / "config.json")]
    assert (REPO_ROOT / train.data / "domain.yml").is_file()
    assert SERVICES["train"]["restart"] == "no"
    # Relative model paths resolve in the WORKDIR, where the models volume is mounted.
    assert f"{workdir()}/{train.out.parts[0]}" == volume_target("train", "models")


def test_replicas_serve_the_trained_model_after_training_succeeded() -> None:
    commands, _ = train_script_commands()
    train = kefu_parser().parse_args(commands["train"][1:])
    serve = serve_args()
    assert serve.command == "serve" and serve.model == train.out
    assert volume_target("bot", "models") == volume_target("train", "models")
    assert SERVICES["bot"]["depends_on"]["train"]["condition"] == "service_completed_successfully"


def test_bot_runs_as_several_replicas_reachable_only_through_nginx() -> None:
    bot = SERVICES["bot"]
    assert bot["deploy"]["replicas"] >= 2
    assert "ports" not in bot, "replicas are reached through nginx, never directly"
    serve = serve_args()
    assert serve.host == "0.0.0.0" and str(serve.port) in bot["expose"]
    assert f"127.0.0.1:{serve.port}/healthz" in " ".join(bot["healthcheck"]["test"])
    environment = bot["environment"]
    # One torch thread per replica; the archiver is a service of its own.
    assert environment["OMP_NUM_THREADS"] == "1" and environment["KEFU_ARCHIVER"] == "0"
    # Every replica signs tokens with the same secret, which must be given.
    assert environment["KEFU_SECRET"].startswith("${KEFU_SECRET:?")
    # nginx is the only client, and it overwrites X-Forwarded-For (checked below).
    assert environment["FORWARDED_ALLOW_IPS"] == "*"


def test_bot_reaches_redis_and_actions_by_service_name() -> None:
    serve = serve_args()
    redis_url = urlparse(serve.redis_url)
    assert (redis_url.scheme, redis_url.hostname, redis_url.port) == ("redis", "redis", 6379)
    assert SERVICES["bot"]["environment"]["REDIS_URL"] == serve.redis_url

    actions_port = rasa_sdk_parser().parse_args(SERVICES["actions"]["command"][3:]).port
    endpoint = urlparse(serve.action_endpoint)
    assert (endpoint.hostname, endpoint.port, endpoint.path) == ("actions", actions_port, "/webhook")

    depends_on = SERVICES["bot"]["depends_on"]
    for service in ("redis", "postgres", "actions"):
        assert depends_on[service]["condition"] == "service_healthy"


def test_archiver_shares_redis_and_the_archive_with_the_replicas() -> None:
    archiver = SERVICES["archiver"]
    args = parse_or_fail(kefu_parser(), archiver["command"][1:])
    assert archiver["command"][0] == "kefu" and args.command == "archiver"
    assert args.redis_url == serve_args().redis_url
    for variable in ("KEFU_ARCHIVE_URL", "KEFU_SECRET", "REDIS_URL"):
        assert archiver["environment"][variable] == SERVICES["bot"]["environment"][variable]


# -- nginx -------------------------------------------------------------------------------

NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"


def test_nginx_publishes_the_port_and_balances_the_bot_replicas() -> None:
    nginx = SERVICES["nginx"]
    assert any(entry.endswith(":80") for entry in nginx["ports"])
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert nginx["depends_on"]["bot"]["condition"] == "service_healthy"
    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert re.search(rf"server bot:{serve_args().port}\b", conf), "the upstream is the bot service's port"
    assert "listen 80;" in conf and "/nginx-health" in " ".join(nginx["healthcheck"]["test"])


def test_nginx_upgrades_websockets_and_overwrites_forwarded_for() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    websocket = conf[conf.index("location /ws"):]
    websocket = websocket[:websocket.index("}")]
    assert "proxy_http_version 1.1;" in websocket
    assert "proxy_set_header Upgrade $http_upgrade;" in websocket
    assert "proxy_set_header Connection $connection_upgrade;" in websocket
    # Overwritten with the address nginx saw; $proxy_add_x_forwarded_for would keep the
    # client's own header, and with it a way around the per-address limits.
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2
    assert "$proxy_add_x_forwarded_for" not in conf
    directives = "\n".join(line.split("#")[0] for line in conf.splitlines())
    assert "ip_hash" not in directives and "sticky" not in directives, "no sticky sessions: state is in Redis"


def nginx_conf_for_local_test(directory: Path, *, listen: str, upstreams: list[str]) -> Path:
    """deploy/nginx.conf with the compose network's names replaced by local addresses."""
    conf = NGINX_CONF.read_text(encoding="utf-8")
    server_line = re.search(r"^\s*server bot:\d+[^;]*;$", conf, re.MULTILINE)
    assert server_line and conf.count("listen 80;") == 1
    servers = "\n".join(f"        server {address} max_fails=3 fail_timeout=10s;" for address in upstreams)
    conf = conf.replace(server_line.group(0), servers).replace("listen 80;", f"listen {listen};")
    path = directory / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    return path


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("Debian's nginx is not installed (apt-get install nginx)")
    conf = nginx_conf_for_local_test(tmp_path, listen="127.0.0.1:8080", upstreams=["127.0.0.1:8001"])
    result = subprocess.run([nginx, "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf),
                             "-g", f"pid {tmp_path / 'nginx.pid'};"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


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

"""Starting processes: ``kefu serve`` (the web server) and ``kefu run`` (everything).

``kefu run`` owns its children: the embedded Redis and the rasa-sdk action server are
stopped when the web server stops, whatever the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.panel import Panel

from actions.local_server import ActionServerStartError, LocalActionServer
from actions.order_store import ORDERS_DB_ENV
from bot.config import PROJECT_ROOT, Settings, load_settings, newest_model_dir
from bot.embedded_redis import EmbeddedRedis
from bot.server import create_app

console = Console(stderr=True)
# Above our own frame limit, so an oversized frame gets a clear `too_large` error frame;
# beyond this hard cap the websocket library closes the connection (1009).
WS_HARD_MAX_BYTES = 1024 * 1024


@contextlib.contextmanager
def redis_for(settings: Settings) -> Iterator[Settings]:
    """``settings`` with a Redis URL: the configured one, else an embedded Redis under var/."""
    if settings.redis_url:
        yield settings
        return
    with EmbeddedRedis(settings.var_dir / "redis") as embedded:
        console.print(f"[dim]embedded Redis on {embedded.url} (data in {settings.var_dir / 'redis'})[/]")
        yield settings.with_overrides(redis_url=embedded.local_url)


def _uvicorn_config(settings: Settings, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        ws="websockets-sansio",  # the legacy "websockets" implementation is deprecated in uvicorn
        ws_max_size=WS_HARD_MAX_BYTES,
        # Chat frames are small; per-message compression cost 136 MB of RSS and CPU per
        # turn under load (benchmarks/load.py) for little saved bandwidth.
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level=log_level,
        timeout_graceful_shutdown=5,
        proxy_headers=True,
    )


def serve(settings: Settings, *, host: str, port: int, log_level: str = "info") -> int:
    """Run the web server until interrupted."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with redis_for(settings) as ready:
        uvicorn.Server(_uvicorn_config(ready, host, port, log_level)).run()
    return 0


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Stop a child started with ``start_new_session`` and everything it forked: Sanic (the
    rasa-sdk server) runs worker processes that outlive a SIGTERM to the parent alone."""
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid)
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)
        try:
            process.wait(timeout=timeout_s / 2)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


@contextlib.contextmanager
def action_server(port: int, *, var_dir: Path) -> Iterator[str]:
    """The rasa-sdk action server running ``actions/`` as a child process on 127.0.0.1; yields its webhook URL."""
    orders_db = os.environ.get(ORDERS_DB_ENV) or var_dir / "orders.sqlite3"
    server = LocalActionServer(orders_db=orders_db, port=port, log_path=var_dir / "actions.log", startup_timeout_s=60)
    try:
        server.start()
    except ActionServerStartError as exc:
        raise SystemExit(f"kefu: the action server did not start: {exc}") from None
    try:
        yield server.webhook_url
    finally:
        server.stop()


# Bitext's customer-support answers (CDLA-Sharing-1.0), where this checkout finds them: the
# default bot's answer decoder learns from them when they are there.
BITEXT_RESPONSES_CSV = (PROJECT_ROOT.parent / "shared" / "datasets" / "bitext-customer-support" / "responses_4514"
                        / "Bitext_Sample_Customer_Support_Training_Dataset.csv")


@contextlib.contextmanager
def archiver_process(redis_url: str, *, var_dir: Path, env: dict[str, str] | None = None
                     ) -> Iterator[subprocess.Popen[bytes]]:
    """``kefu archiver`` as a child process: the archive's SQL work stays off the web
    server's event loop (as in the compose deployment)."""
    base = env if env is not None else dict(os.environ)
    env = {**base, "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + base.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "archiver", "--redis-url", redis_url],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(var_dir / "archiver.log", "ab"),
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_process_group(process)


def _train_default_bot(models_root: Path, threads: int | None) -> Path:
    from nlu_model import cli as nlu_cli

    parser = argparse.ArgumentParser()
    nlu_cli.add_train_arguments(parser)
    out = models_root / "default"
    # The understanding model only: the bot answers with templates as soon as it is trained,
    # and the answer decoder (many more minutes) trains in the background afterwards.
    argv = ["--data", str(PROJECT_ROOT / "dialogues"), "--out", str(out), "--nlu-only"]
    if threads:
        argv += ["--threads", str(threads)]
    console.print("[bold]No model yet: training the default bot on this machine…[/]")
    code = nlu_cli.run_train(parser.parse_args(argv))
    if code != 0:
        raise SystemExit(code)
    return out


def wants_decoder_training(model: Path, project_dir: Path) -> bool:
    """Whether ``kefu run`` should train the answer decoder of ``model`` in the background:
    the project generates answers (``answer_mode`` generate or hybrid) and the folder has none."""
    from nlu_model.generation.artefacts import has_decoder

    from bot.project import load_project

    if has_decoder(model):
        return False
    try:
        return load_project(project_dir).domain.answer_mode != "template"
    except Exception:  # the server reports a broken project itself, with file and line
        return False


def start_decoder_training(model: Path, project_dir: Path, *, var_dir: Path) -> subprocess.Popen[bytes]:
    """``kefu train --decoder-only`` for ``model`` as a low-priority child on one thread."""
    argv = [sys.executable, "-m", "bot.cli", "train", "--decoder-only", "--data", str(project_dir),
            "--out", str(model), "--threads", "1"]
    if BITEXT_RESPONSES_CSV.is_file():
        argv += ["--answers-csv", str(BITEXT_RESPONSES_CSV)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=open(var_dir / "decoder-train.log", "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lambda: os.nice(10))


async def reload_when_trained(trainer: subprocess.Popen[bytes], model: Path, settings: Settings) -> None:
    """Once the background decoder training succeeds, have the server load the model again
    (with its decoder): generated answers switch on without a restart."""
    import redis.asyncio as aioredis

    from bot.reload import request_reload

    while trainer.poll() is None:
        await asyncio.sleep(2)
    if trainer.returncode != 0:
        console.print(f"[yellow]answer decoder training failed (exit {trainer.returncode}); templates keep answering. "
                      f"See {settings.var_dir / 'decoder-train.log'}[/]")
        return
    client = aioredis.Redis.from_url(settings.redis_url)  # type: ignore[arg-type]
    try:
        await request_reload(client, settings.redis_prefix, model, requested_by="kefu run")
    finally:
        await client.aclose()
    console.print("[green]answer decoder trained: generated answers are on[/]")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # uvicorn shuts down gracefully on SIGTERM and then re-raises it; without a handler of
    # ours that would kill the process before the embedded Redis and the action server
    # are stopped. Raising SystemExit unwinds through their context managers instead.
    raise SystemExit(0)


def run_everything(args: argparse.Namespace) -> int:
    """``kefu run``: train if needed, then Redis + action server + archiver + web server."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    models_root = PROJECT_ROOT / "models"
    model = args.model or newest_model_dir(models_root) or _train_default_bot(models_root, args.threads)
    settings = load_settings().with_overrides(
        model_dir=model, project_dir=args.project, redis_url=args.redis_url, action_endpoint=args.action_endpoint
    )
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        ready = stack.enter_context(redis_for(settings))
        if not ready.action_endpoint:
            endpoint = stack.enter_context(action_server(args.actions_port, var_dir=settings.var_dir))
            ready = ready.with_overrides(action_endpoint=endpoint)
        if os.environ.get("KEFU_ARCHIVER", "1") != "0":
            stack.enter_context(archiver_process(ready.redis_url, var_dir=settings.var_dir))  # type: ignore[arg-type]
            os.environ["KEFU_ARCHIVER"] = "0"  # the child archives; the web server does not
        server = uvicorn.Server(_uvicorn_config(ready, args.host, args.port, args.log_level))
        trainer = None
        if args.model is None and wants_decoder_training(model, ready.project_dir):
            trainer = start_decoder_training(model, ready.project_dir, var_dir=settings.var_dir)
            stack.callback(stop_process_group, trainer)

        async def main() -> None:
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            if server.started:
                url = f"http://{args.host}:{args.port}/"
                console.print(
                    Panel.fit(
                        f"[bold green]Kefu is running.[/] Chat with it at [link={url}]{url}[/link]\n"
                        f"中文演示页: {url}zh    health: {url}healthz\n"
                        f"model: {model}    Ctrl-C stops everything.",
                        title="Kefu 客服",
                    )
                )
                print(f"Chat URL: {url}", flush=True)
                if trainer is not None:
                    console.print("[dim]Templates answer for now; the answer decoder is training in the background "
                                  f"(log: {settings.var_dir / 'decoder-train.log'}) and switches on when done.[/]")
                    reloading = asyncio.create_task(reload_when_trained(trainer, model, ready))  # referenced: not collected
            await task

        asyncio.run(main())
    return 0

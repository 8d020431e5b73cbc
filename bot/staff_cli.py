"""The staff-side ``kefu`` subcommands: ``staff``, ``archiver``, ``export-training``, ``reload``.

- ``kefu staff add-user NAME --role admin|agent``: the password comes from a prompt (asked
  twice), or from ``KEFU_STAFF_PASSWORD`` for scripts. Also ``list-users``,
  ``set-password NAME``, ``disable NAME`` / ``enable NAME``.
- ``kefu archiver``: a standalone archive worker (same consumer group as the servers);
  ``--drain`` stops once the feed is empty.
- ``kefu export-training``: staff corrections as Rasa NLU YAML, by default into the
  project's ``data/`` so ``kefu train --data <project>`` merges them.
- ``kefu reload``: every running server loads a model (default: the newest under models/).

Redis is ``--redis-url``, else ``REDIS_URL``, else the embedded Redis that ``kefu run``
started under ``var/redis``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings, newest_model_dir

COMMANDS = ("staff", "archiver", "export-training", "reload")


def add_subcommands(commands: argparse._SubParsersAction) -> None:
    """Register the staff-side subcommands on ``kefu``'s parser."""
    staff = commands.add_parser("staff", help="manage staff accounts for the review pages (/staff)",
                                description="Add, list, disable staff users; set passwords.")
    actions = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = actions.add_parser("add-user", help="create a user (password from a prompt or $KEFU_STAFF_PASSWORD)")
    add.add_argument("name", help="login name: letters, digits, . _ @ -")
    add.add_argument("--role", required=True, choices=["admin", "agent"],
                     help="admin: everything; agent: inbox, conversations, corrections, live chats")
    actions.add_parser("list-users", help="list users and their roles")
    password = actions.add_parser("set-password", help="set a new password (signs the user out everywhere)")
    password.add_argument("name")
    for verb in ("disable", "enable"):
        action = actions.add_parser(verb, help=f"{verb} a user" + (" and end their sessions" if verb == "disable" else ""))
        action.add_argument("name")

    archiver = commands.add_parser("archiver", help="run a standalone transcript archiver (Redis feed -> SQL)",
                                   description="Copy every conversation event from Redis into the SQL archive. "
                                   "Shares the consumer group with the archivers inside `kefu serve`.")
    archiver.add_argument("--redis-url", metavar="URL", help="Redis (default: $REDIS_URL, else kefu run's embedded one)")
    archiver.add_argument("--drain", action="store_true", help="exit once every waiting event is archived")

    export = commands.add_parser("export-training", help="write staff corrections as Rasa NLU training data",
                                 description="Write every intent/entity correction made in the staff pages as a "
                                 "Rasa 3.x NLU YAML file that `kefu train --data` reads.")
    export.add_argument("--project", type=Path, metavar="DIR", help="Rasa project (default: $KEFU_PROJECT or dialogues/)")
    export.add_argument("--out", metavar="FILE",
                        help="file to write, or - for stdout (default: <project>/data/kefu_corrections.yml, "
                        "so `kefu train --data <project>` merges it)")

    reload = commands.add_parser("reload", help="make every running server load a model, without a restart",
                                 description="Publish a reload on Redis: each server loads the model beside the old "
                                 "one and swaps it in; no conversation is interrupted.")
    reload.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the newest under models/)")
    reload.add_argument("--redis-url", metavar="URL", help="Redis (default: $REDIS_URL, else kefu run's embedded one)")
    reload.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="wait this long for every server to report the new model (0: do not wait)")


def run(args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS`; returns the exit code."""
    if args.command == "staff":
        return _run_staff(args)
    if args.command == "archiver":
        return asyncio.run(_run_archiver(args))
    if args.command == "export-training":
        return _run_export(args)
    if args.command == "reload":
        return asyncio.run(_run_reload(args))
    raise ValueError(f"not a staff command: {args.command}")


def _error(message: str) -> int:
    print(f"kefu: {message}", file=sys.stderr)
    return 2


def _open_archive():  # type: ignore[no-untyped-def]
    from bot.archive.config import load_archive_settings
    from bot.archive.db import ArchiveDatabase

    settings = load_archive_settings(load_settings().var_dir)
    return settings, ArchiveDatabase.open(settings.database_url)


def _new_password() -> str:
    from_env = os.environ.get("KEFU_STAFF_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise SystemExit("kefu: no terminal to ask for a password; set KEFU_STAFF_PASSWORD")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat it: "):
        raise SystemExit("kefu: the passwords differ; nothing changed")
    return first


def _run_staff(args: argparse.Namespace) -> int:
    from bot.archive import accounts

    _, database = _open_archive()
    try:
        if args.staff_command == "add-user":
            user = accounts.add_user(database, args.name, args.role, _new_password())
            print(f"added {user.role} {user.name!r}; sign in at /staff")
        elif args.staff_command == "list-users":
            for row in accounts.list_users(database):
                state = "disabled" if row["disabled"] else "active"
                print(f"{row['name']:<24} {row['role']:<6} {state}")
        elif args.staff_command == "set-password":
            accounts.set_password(database, args.name, _new_password())
            print(f"password of {args.name!r} changed; their sessions were ended")
        else:
            accounts.set_disabled(database, args.name, args.staff_command == "disable")
            print(f"{args.name!r} {args.staff_command}d")
    except accounts.AccountError as exc:
        return _error(str(exc))
    finally:
        database.close()
    return 0


def _embedded_redis_url(var_dir: Path) -> str | None:
    """The URL of the embedded Redis ``kefu run`` started, when it is up."""
    config = var_dir / "redis" / "redis.conf"
    if not config.is_file():
        return None
    match = re.search(r"^port (\d+)$", config.read_text(), re.MULTILINE)
    if not match:
        return None
    try:
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=0.5):
            return f"redis://127.0.0.1:{match.group(1)}/0"
    except OSError:
        return None


def _redis_url(args: argparse.Namespace) -> str:
    settings = load_settings()
    url = getattr(args, "redis_url", None) or settings.redis_url or _embedded_redis_url(settings.var_dir)
    if not url:
        raise SystemExit("kefu: no Redis: pass --redis-url or set REDIS_URL (or start `kefu run` first)")
    return url


async def _run_archiver(args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis

    from bot.archive.config import load_archive_settings
    from bot.archive.service import ArchiveService

    settings = load_settings()
    archive_settings = load_archive_settings(settings.var_dir)
    client = aioredis.Redis.from_url(_redis_url(args), decode_responses=True, socket_timeout=10.0,
                                     socket_connect_timeout=2.0, health_check_interval=15)
    service = await ArchiveService.open(archive_settings, client, prefix=settings.redis_prefix, run_archiver=False)
    # SIGTERM (docker stop) and Ctrl-C stop cleanly; a kill -9 loses nothing either (an
    # entry is acked only after its commit).
    task = asyncio.current_task()
    assert task is not None
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(stop_signal, task.cancel)
    try:
        if args.drain:
            archiver = service.make_archiver()
            await archiver.ensure_group()
            while await archiver.run_once() or (await archiver.lag()).get("pending"):
                pass
            print(f"archived {archiver.stats.archived} new events ({archiver.stats.duplicates} already there)")
            return 0
        service.start_archiver()
        print(f"archiving into {archive_settings.database_url.split('@')[-1]}; Ctrl-C to stop", file=sys.stderr)
        while True:
            await asyncio.sleep(3600)
    except asyncio.CancelledError:
        return 0
    finally:
        await service.close()
        await client.aclose()


def _run_export(args: argparse.Namespace) -> int:
    from bot.archive import training

    settings = load_settings()
    project = args.project or settings.project_dir
    _, database = _open_archive()
    try:
        if args.out == "-":
            corrections = training.list_corrections(database)
            sys.stdout.write(training.training_yaml(corrections))
            return 0
        out = Path(args.out) if args.out else training.default_training_path(project)
        count = training.export_training(database, out)
    finally:
        database.close()
    print(f"wrote {count} corrections to {out}")
    print(f"retrain: kefu train --data {project if not args.out else out.parent} ... then: kefu reload --model <new model>")
    return 0


async def _run_reload(args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis

    from bot.reload import request_reload, server_models

    model = args.model or newest_model_dir(PROJECT_ROOT / "models")
    if model is None:
        return _error("no model folder: pass --model DIR")
    model = model.resolve()
    settings = load_settings()
    client = aioredis.Redis.from_url(_redis_url(args), decode_responses=True, socket_connect_timeout=2.0)
    try:
        try:
            listeners = await request_reload(client, settings.redis_prefix, model, requested_by="cli")
        except FileNotFoundError as exc:
            return _error(str(exc))
        print(f"reload of {model} sent to {listeners} server(s)")
        deadline = time.monotonic() + args.wait
        while args.wait > 0 and listeners:
            statuses = await server_models(client, settings.redis_prefix)
            done = [s for s in statuses.values() if s.get("model") == str(model) or s.get("error")]
            if len(done) >= len(statuses) or time.monotonic() > deadline:
                for server, status in sorted(statuses.items()):
                    print(f"  {server}: {status.get('model')}" + (f"  ERROR {status['error']}" if status.get("error") else ""))
                failed = any(s.get("error") or s.get("model") != str(model) for s in statuses.values())
                return 1 if failed else 0
            await asyncio.sleep(0.5)
        return 0 if listeners else 1
    finally:
        await client.aclose()

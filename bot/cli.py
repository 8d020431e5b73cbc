"""The ``kefu`` command line: train, eval, serve, run, shell (and the staff-side commands of
:mod:`bot.staff_cli`: staff, archiver, export-training, reload).

``kefu run`` is what ``make run`` calls: it trains the default bot if there is no model,
starts an embedded Redis (unless ``REDIS_URL`` is set), the rasa-sdk action server and the
web server, and prints the chat URL.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings, newest_model_dir

DEFAULT_MODELS = PROJECT_ROOT / "models"


def _add_serve_arguments(parser: argparse.ArgumentParser, *, default_port: int = 8000) -> None:
    parser.add_argument("--model", type=Path, metavar="DIR", help="model folder from `kefu train` (default: the newest under models/)")
    parser.add_argument("--project", type=Path, metavar="DIR", help="Rasa project folder with domain.yml and data/ (default: dialogues/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port, help=f"port to listen on (default: {default_port})")
    parser.add_argument("--redis-url", metavar="URL", help="Redis for sessions (default: $REDIS_URL, else an embedded Redis under var/)")
    parser.add_argument("--action-endpoint", metavar="URL", help="rasa-sdk action server webhook, e.g. http://127.0.0.1:5055/webhook")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="server log level")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``kefu`` argument parser (also used by tests to check docker-compose)."""
    from nlu_model import cli as nlu_cli  # the NLU package's own train/eval flags

    parser = argparse.ArgumentParser(
        prog="kefu",
        description="Kefu (客服): a self-hosted customer-service chatbot. Train the NLU model, "
        "serve the chat widget, test dialogues, or chat in the terminal.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the NLU model (and the answer decoder) from a Rasa project, NLU YAML or CSV",
                                description="Train Kefu's transformer on this CPU and write a self-contained model folder: "
                                            "the NLU model, then (for a project with responses, or --answers-csv) the "
                                            "answer decoder.")
    nlu_cli.add_train_arguments(train)

    evaluate = commands.add_parser("eval", help="measure a trained model on labelled data (or its answer decoder)",
                                   description="Intent accuracy, macro-F1, per-intent scores, confusions and latency; "
                                               "with --generation, the answer decoder's held-out benchmark.")
    nlu_cli.add_eval_arguments(evaluate)

    serve = commands.add_parser("serve", help="run the web server (widget, /ws chat socket, /healthz)",
                                description="Serve the demo page, the widget and the chat websocket.")
    _add_serve_arguments(serve)

    run = commands.add_parser("run", help="train if needed, then start Redis, the action server and the web server",
                              description="Everything on embedded defaults: what `make run` calls.")
    _add_serve_arguments(run)
    run.add_argument("--actions-port", type=int, default=5055, help="port of the rasa-sdk action server (default: 5055)")
    run.add_argument("--threads", type=int, default=None, help="CPU threads for training the default bot")

    test = commands.add_parser("test", help="run Rasa end-to-end test stories and report each as passed or failed",
                               description="Check the dialogue engine and the NLU model against Rasa test stories "
                               "(user text, intent, entities, action, slot_was_set, active_loop).")
    test.add_argument("--model", type=Path, metavar="DIR", help="model folder for parsing the stories' user text "
                      "(default: the newest under models/; without any model only the dialogue is tested)")
    test.add_argument("--project", type=Path, metavar="DIR", help="Rasa project folder (default: dialogues/)")
    test.add_argument("--stories", type=Path, metavar="FILE_OR_DIR",
                      help="test stories file or folder (default: the project's tests/ folder)")
    test.add_argument("--report", type=Path, metavar="FILE.json", help="also write the results as JSON to this file")

    shell = commands.add_parser("shell", help="chat with the bot in the terminal",
                                description="Chat in the terminal through the same dialogue manager as the widget.")
    shell.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the newest under models/)")
    shell.add_argument("--project", type=Path, metavar="DIR", help="Rasa project folder (default: dialogues/)")
    shell.add_argument("--redis-url", metavar="URL", help="Redis (default: $REDIS_URL, else a temporary embedded Redis)")
    shell.add_argument("--action-endpoint", metavar="URL", help="rasa-sdk action server webhook URL")

    from bot import staff_cli  # staff accounts, archiver, export-training, reload

    staff_cli.add_subcommands(commands)
    return parser


def _resolve_model(model: Path | None) -> Path:
    resolved = model or newest_model_dir(DEFAULT_MODELS)
    if resolved is None or not (resolved / "config.json").is_file():
        where = model or DEFAULT_MODELS
        raise SystemExit(f"kefu: no trained model in {where}; run `kefu train` first (or `make run`)")
    return resolved


def _settings_from(args: argparse.Namespace):
    settings = load_settings()
    return settings.with_overrides(
        model_dir=_resolve_model(getattr(args, "model", None)),
        project_dir=getattr(args, "project", None),
        redis_url=getattr(args, "redis_url", None),
        action_endpoint=getattr(args, "action_endpoint", None),
    )


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        from nlu_model import cli as nlu_cli

        return nlu_cli.run_train(args)
    if args.command == "eval":
        from nlu_model import cli as nlu_cli

        return nlu_cli.run_eval(args)
    if args.command == "serve":
        from bot.launcher import serve

        _configure_logging(args.log_level)
        return serve(_settings_from(args), host=args.host, port=args.port, log_level=args.log_level)
    if args.command == "run":
        from bot.launcher import run_everything

        _configure_logging(args.log_level)
        return run_everything(args)
    if args.command == "test":
        from bot.story_test_cli import run_story_tests

        return run_story_tests(args)
    from bot import staff_cli

    if args.command in staff_cli.COMMANDS:
        _configure_logging("warning")
        return staff_cli.run(args)
    if args.command == "shell":
        from bot.shell import run_shell

        return run_shell(_settings_from(args))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

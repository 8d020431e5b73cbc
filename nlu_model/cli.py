"""`kefu train` and `kefu eval`: flags and runners, mounted by the `kefu` console script.

`bot/cli.py` calls `add_train_arguments(parser)` / `run_train(args)` and
`add_eval_arguments(parser)` / `run_eval(args)`; each runner returns a process exit code
(0 ok, 2 bad input) and prints errors without a traceback.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .configs import CONFIGS

console = Console(stderr=False)
error_console = Console(stderr=True)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `kefu train`."""
    parser.add_argument(
        "--data", type=Path, default=Path("dialogues"), metavar="PATH",
        help="training data: a Rasa project folder (every .yml under data/ is merged), one Rasa NLU "
        "YAML file, or a CSV with a text column and an intent/label/category column (default: dialogues)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("models/default"), metavar="DIR",
        help="model folder to write: config.json, model.safetensors, tokenizer.json, labels.json, "
        "report.json (default: models/default)",
    )
    parser.add_argument(
        "--config", default="default", choices=sorted(CONFIGS), metavar="NAME",
        help=f"named model/training configuration: {', '.join(sorted(CONFIGS))} (default: default; "
        "tiny trains in seconds for tests and trials)",
    )
    parser.add_argument(
        "--nlu-only", action="store_true",
        help="train only the understanding model (intent, entities, sentiment) and skip the answer decoder",
    )
    parser.add_argument(
        "--decoder-only", action="store_true",
        help="train only the answer decoder, for the model already in --out (e.g. after --nlu-only)",
    )
    parser.add_argument(
        "--answers-csv", type=Path, default=None, metavar="FILE",
        help="more answer-decoder training pairs: a CSV with instruction (customer text), intent and response "
        "columns, in the format of Bitext's customer-support dataset (the default bot uses it)",
    )
    parser.add_argument(
        "--decoder-minutes", type=float, default=None, metavar="M",
        help="time budget for training the answer decoder (default: the configuration's)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="CPU threads torch may use (default: torch's choice, usually all cores)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N",
        help="random seed; the same seed, data and thread count give the same model (default: 0)",
    )
    parser.add_argument(
        "--init-from", type=Path, default=None, metavar="DIR",
        help="start from an earlier Kefu model folder (reuses its tokenizer and weights where they fit) "
        "instead of from scratch",
    )


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `kefu eval`."""
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="model folder written by `kefu train`")
    parser.add_argument(
        "--data", type=Path, default=None, metavar="FILE",
        help="labelled test data in any format `kefu train --data` reads (Rasa YAML, project folder, CSV); "
        "examples labelled out_of_scope or oos are scored as out-of-scope (required unless --generation)",
    )
    parser.add_argument(
        "--generation", action="store_true",
        help="evaluate the answer decoder instead, on the held-out 10%% of Bitext's responses: ROUGE-L against "
        "a retrieval baseline, intent consistency, ungrounded specifics before/after the guard, fallback rate, "
        "latency",
    )
    parser.add_argument(
        "--project", type=Path, default=Path("dialogues"), metavar="DIR",
        help="with --generation: the Rasa project whose templates, knowledge/ and settings.yml the bot uses "
        "(default: dialogues)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N",
        help="with --generation: only the first N held-out pairs (stratified over intents; default: all)",
    )
    parser.add_argument(
        "--report", type=Path, default=None, metavar="FILE.json",
        help="also write the full report as JSON to this file (with a confusion-matrix PNG beside it)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="CPU threads torch may use; latency is measured with this setting (default: torch's choice)",
    )


def run_train(args: argparse.Namespace) -> int:
    """Train the NLU model, then its answer decoder; returns the exit code.

    The decoder is trained when the data is a Rasa project folder (its responses) or
    `--answers-csv` is given, unless `--nlu-only`; `--decoder-only` skips the NLU model.
    """
    if args.nlu_only and args.decoder_only:
        error_console.print("kefu train: --nlu-only and --decoder-only exclude each other", style="red")
        return 2
    if not args.decoder_only:
        code = _train_nlu(args)
        if code != 0 or args.nlu_only:
            return code
    if not args.data.is_dir() and args.answers_csv is None:
        if args.decoder_only:
            error_console.print("kefu train: the answer decoder learns from a Rasa project folder's responses "
                                "or --answers-csv; neither was given", style="red", markup=False)
            return 2
        return 0  # plain NLU data (a CSV or one YAML file) has no answers to learn
    if args.answers_csv is not None and not args.answers_csv.is_file():
        error_console.print(f"kefu train: --answers-csv {args.answers_csv} is not a file", style="red", markup=False)
        return 2
    from .generation.cli import train_decoder_after_nlu
    from .generation.train import GENERATOR_CONFIGS

    return train_decoder_after_nlu(
        args.out, args.data, seed=args.seed, threads=args.threads, bitext_csv=args.answers_csv,
        config_name=args.config if args.config in GENERATOR_CONFIGS else "default",
        max_minutes=args.decoder_minutes, required=args.decoder_only,
    )


def _train_nlu(args: argparse.Namespace) -> int:
    from .data import TrainingDataError, load_training_data
    from .train import TrainingError, train

    try:
        data = load_training_data(args.data)
        report = train(
            data, args.out, config_name=args.config, seed=args.seed, threads=args.threads,
            init_from=args.init_from, progress=True,
        )
    except (TrainingDataError, TrainingError, KeyError) as exc:
        error_console.print(f"kefu train: {exc}", style="red", markup=False, soft_wrap=True)
        return 2
    table = Table(title=f"Trained model in {args.out}", show_header=False)
    table.add_row("examples (train / validation)", f"{report['data']['train_examples']} / {report['data']['validation_examples']}")
    table.add_row("intents", str(report["data"]["intents"]))
    table.add_row("entity labels", ", ".join(report["data"]["entity_labels"]) or "-")
    table.add_row("parameters", f"{report['parameters']:,}")
    table.add_row("epochs", str(report["epochs"]))
    table.add_row("train seconds", f"{report['train_seconds']:.1f}")
    for key, value in report.get("validation", {}).items():
        table.add_row(f"validation {key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    return 0


def _print_eval(report: dict[str, Any]) -> None:
    summary = Table(title="Evaluation", show_header=False)
    for key in ("examples", "accuracy", "macro_f1", "accuracy_with_fallback", "fallback_rate",
                "in_scope_accuracy", "oos_recall", "oos_precision", "sentiment_accuracy"):
        if key in report:
            summary.add_row(key, str(report[key]))
    if "entities" in report:
        summary.add_row("entity F1 (micro)", f"{report['entities']['f1']:.4f}")
    latency = report["latency_ms"]
    summary.add_row("latency p50 / p99 (ms, batch 1)", f"{latency['p50']:.2f} / {latency['p99']:.2f}")
    console.print(summary)

    intents = Table(title="Per intent (worst F1 first)")
    for column in ("intent", "precision", "recall", "f1", "support"):
        intents.add_column(column, justify="left" if column == "intent" else "right")
    for name, scores in sorted(report["per_intent"].items(), key=lambda item: item[1]["f1"]):
        intents.add_row(name, f"{scores['precision']:.3f}", f"{scores['recall']:.3f}", f"{scores['f1']:.3f}", str(int(scores["support"])))
    console.print(intents)

    if "entities" in report:
        entities = Table(title="Entities (exact span)")
        for column in ("entity", "precision", "recall", "f1", "support"):
            entities.add_column(column, justify="left" if column == "entity" else "right")
        for name, scores in report["entities"]["per_type"].items():
            entities.add_row(name, f"{scores['precision']:.3f}", f"{scores['recall']:.3f}", f"{scores['f1']:.3f}", str(int(scores["support"])))
        console.print(entities)

    if report["confused_pairs"]:
        confused = Table(title="Most confused (gold -> predicted)")
        for column in ("gold", "predicted", "count"):
            confused.add_column(column)
        for pair in report["confused_pairs"]:
            confused.add_row(pair["gold"], pair["predicted"], str(pair["count"]))
        console.print(confused)


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate a model folder on labelled data, print tables, optionally write JSON; returns the exit code."""
    from .checkpoint import ModelFolderError
    from .data import TrainingDataError, load_training_data
    from .evaluate import evaluate
    from .inference import Predictor

    if args.generation:
        from .generation.cli import run_generation_eval

        return run_generation_eval(args.model, args.project, limit=args.limit, threads=args.threads, report=args.report)
    if args.data is None:
        error_console.print("kefu eval: --data is required (or --generation for the answer decoder)", style="red")
        return 2
    try:
        predictor = Predictor.load(args.model, threads=args.threads)
        data = load_training_data(args.data)
    except (TrainingDataError, ModelFolderError) as exc:
        error_console.print(f"kefu eval: {exc}", style="red", markup=False, soft_wrap=True)
        return 2
    png = args.report.with_suffix(".png") if args.report is not None else None
    report = evaluate(predictor, data, confusion_png=png)
    _print_eval(report)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"report written to {args.report}")
    return 0

"""`kefu train` / `kefu eval --generation`: the runners `nlu_model/cli.py` calls for the decoder.

- `train_decoder_after_nlu(model_dir, data_path, seed=, threads=, bitext_csv=)`: train and save the decoder
  into a freshly written model folder, print a one-table summary; returns an exit code.
- `run_generation_eval(model_dir, project_dir, limit=, threads=, report=)`: the held-out
  benchmark (`evaluate.evaluate_generation`), printed as a table, optionally written as JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console()
error_console = Console(stderr=True)


def train_decoder_after_nlu(model_dir: Path, data_path: Path, *, seed: int = 0, threads: int | None = None,
                            bitext_csv: Path | None = None, config_name: str = "default",
                            max_minutes: float | None = None, required: bool = True) -> int:
    """Train the answer decoder for the NLU model just written to `model_dir`; 0 ok, 2 no pairs.

    `bitext_csv`: also train on Bitext's responses (the default bot; CDLA-Sharing-1.0).
    `max_minutes`: the training time budget instead of the configuration's. Without
    `required`, a project with nothing to learn answers from is a note, not an error.
    """
    from ..checkpoint import ModelFolderError
    from .train import NoAnswerPairsError, train_generator

    overrides = {"max_minutes": max_minutes} if max_minutes is not None else None
    try:
        report = train_generator(model_dir, data_path if data_path.is_dir() else None, bitext_csv=bitext_csv, seed=seed,
                                 threads=threads, progress=True, config_name=config_name, overrides=overrides)
    except (ValueError, ModelFolderError) as exc:
        if not required and isinstance(exc, NoAnswerPairsError):
            console.print("[dim]no answer decoder: the project has no responses to learn from (templates answer)[/]")
            return 0
        error_console.print(f"kefu train: answer decoder: {exc}", style="red", markup=False, soft_wrap=True)
        return 2
    table = Table(title=f"Answer decoder in {model_dir}", show_header=False)
    table.add_row("pairs", ", ".join(f"{k} {v}" for k, v in report["pairs"].items()))
    table.add_row("parameters", f"{report['parameters']:,}")
    table.add_row("steps (epochs)", f"{report['steps']} ({report['epochs_completed']})")
    table.add_row("final loss", f"{report['final_loss']:.3f}")
    table.add_row("tokens per second", f"{report['tokens_per_second']:,}")
    table.add_row("train seconds", f"{report['train_seconds']:.1f}")
    console.print(table)
    return 0


def run_generation_eval(model_dir: Path, project_dir: Path, *, limit: int | None = None, threads: int | None = None,
                        report: Path | None = None) -> int:
    """Evaluate the decoder on the held-out Bitext split; 0 ok, 2 no decoder / not a model."""
    import torch

    from ..checkpoint import ModelFolderError
    from .artefacts import DecoderFolderError
    from .evaluate import evaluate_generation

    if threads:
        torch.set_num_threads(threads)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("writing held-out answers", total=None)
            result = evaluate_generation(model_dir, project_dir, limit=limit,
                                         progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (ModelFolderError, DecoderFolderError) as exc:
        error_console.print(f"kefu eval: {exc}", style="red", markup=False, soft_wrap=True)
        return 2
    table = Table(title="Answer generation (held-out Bitext)", show_header=False)
    for key, value in result.items():
        table.add_row(key, str(value))
    console.print(table)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"report written to {report}")
    return 0

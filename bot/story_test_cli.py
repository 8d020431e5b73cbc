"""The ``kefu test`` command: load project, model and stories, print and save the report."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.config import PROJECT_ROOT, load_settings, newest_model_dir
from bot.dialogue.engine import EngineConfig
from bot.errors import ProjectError
from bot.nlu import NluService
from bot.project import load_project
from bot.story_test import TestReport, run_test_stories, write_report

console = Console()


def _print(report: TestReport) -> None:
    table = Table(title=f"Test stories: {report.passed}/{report.stories} passed")
    for column in ("story", "result", "first divergence"):
        table.add_column(column)
    for result in report.results:
        where = ""
        if result.divergence:
            d = result.divergence
            where = f"step {d.step} ({d.kind}): expected {d.expected}, predicted {d.predicted}"
        table.add_row(result.story, "[green]passed[/]" if result.passed else "[red]failed[/]", where)
    console.print(table)


async def _run(args: argparse.Namespace) -> TestReport:
    project_dir = args.project or PROJECT_ROOT / "dialogues"
    project = load_project(project_dir)
    settings = load_settings()
    engine = project.engine(EngineConfig(fallback_threshold=settings.fallback_threshold))
    model = args.model or newest_model_dir(PROJECT_ROOT / "models")
    if model is not None and not (Path(model) / "config.json").is_file():
        raise ProjectError(f"{model} is not a model folder (no config.json); train one with `kefu train`")
    nlu = NluService.from_model_dir(model) if model else None
    if nlu is None:
        console.print("[yellow]no model: testing the dialogue only (intents taken from the stories)[/]")
    try:
        return await run_test_stories(engine, nlu, args.stories or project_dir / "tests")
    finally:
        if nlu is not None:
            nlu.close()


def run_story_tests(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(_run(args))
    except ProjectError as exc:
        console.print(f"[red]kefu test: {exc}[/]")
        return 2
    _print(report)
    if args.report:
        write_report(report, Path(args.report))
    return 0 if report.failed == 0 and report.stories > 0 else 1

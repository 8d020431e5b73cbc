"""The layout rules of architecture.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def imported_modules(folder: Path) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def test_nlu_model_never_imports_bot_or_web() -> None:
    for path, names in imported_modules(REPO_ROOT / "nlu_model").items():
        bad = {n for n in names if n.split(".")[0] in ("bot", "web", "actions")}
        assert not bad, f"{path} imports {bad}"


def test_dialogue_core_has_no_io() -> None:
    forbidden = {"redis", "socket", "httpx", "torch", "starlette", "uvicorn", "websockets", "asyncio",
                 "nlu_model", "subprocess", "requests", "sqlite3"}
    for path, names in imported_modules(REPO_ROOT / "bot" / "dialogue").items():
        bad = {n for n in names if n.split(".")[0] in forbidden}
        assert not bad, f"{path} imports {bad}"


def test_bot_reaches_the_model_only_through_its_serving_doors() -> None:
    # Serving: nlu_model.inference (understanding) and nlu_model.generation (answers);
    # commands: nlu_model.cli, mounted by the kefu CLI.
    doors = ("nlu_model.inference", "nlu_model.cli", "nlu_model.generation")
    for path, names in imported_modules(REPO_ROOT / "bot").items():
        bad = {n for n in names if n.startswith("nlu_model") and n != "nlu_model" and not n.startswith(doors)}
        assert not bad, f"{path} imports {bad}"


def test_dialogues_hold_no_python() -> None:
    assert not list((REPO_ROOT / "dialogues").rglob("*.py"))

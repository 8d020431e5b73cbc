"""Loading a Rasa 3.x project from disk: domain, rules and stories, merged as Rasa does.

A project folder holds ``domain.yml`` (or a ``domain/`` folder of YAML files) and ``data/``
with any number of YAML files and sub-folders; each file may carry ``nlu``, ``rules`` and
``stories`` sections. Errors name the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.domain import Domain, DomainError
from bot.dialogue.engine import DialogueEngine, EngineConfig
from bot.dialogue.policy import StepSequence, load_sequences
from bot.errors import ProjectError

_MERGE_LISTS = ("intents", "entities", "actions")
_MERGE_MAPS = ("slots", "responses", "forms")


@dataclass
class Project:
    path: Path
    domain: Domain
    rules: list[StepSequence] = field(default_factory=list)
    stories: list[StepSequence] = field(default_factory=list)

    def engine(self, config: EngineConfig | None = None) -> DialogueEngine:
        return DialogueEngine(self.domain, self.rules, self.stories, config)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path}: not UTF-8 text ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise ProjectError(f"{path}: {where}: {exc.problem or exc}") from None


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_domain(project_dir: Path) -> Domain:
    """Merge ``domain.yml`` or every YAML file in ``domain/`` into one domain."""
    single = next((project_dir / n for n in ("domain.yml", "domain.yaml") if (project_dir / n).is_file()), None)
    files = [single] if single else _yaml_files(project_dir / "domain") if (project_dir / "domain").is_dir() else []
    if not files:
        raise ProjectError(f"{project_dir}: no domain.yml (or domain/ folder) found")
    merged: dict[str, Any] = {}
    for path in files:
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ProjectError(f"{path}: line 1: expected a mapping of domain sections")
        for key, value in data.items():
            if key in _MERGE_LISTS:
                merged.setdefault(key, []).extend(value or [])
            elif key in _MERGE_MAPS:
                merged.setdefault(key, {}).update(value or {})
            else:
                merged[key] = value
    try:
        return Domain.from_dict(merged)
    except DomainError as exc:
        raise ProjectError(f"{files[0] if len(files) == 1 else project_dir / 'domain'}: {exc}") from None


def load_project(project_dir: Path) -> Project:
    """Load domain, rules and stories of a Rasa project folder."""
    project_dir = Path(project_dir)
    domain = load_domain(project_dir)
    rules: list[StepSequence] = []
    stories: list[StepSequence] = []
    data_dir = project_dir / "data"
    for path in _yaml_files(data_dir) if data_dir.is_dir() else []:
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ProjectError(f"{path}: line 1: expected a mapping with nlu/rules/stories sections")
        try:
            rules.extend(load_sequences(data.get("rules") or [], "rule"))
            stories.extend(load_sequences(data.get("stories") or [], "story"))
        except ProjectError as exc:
            raise ProjectError(f"{path}: {exc}") from None
    return Project(project_dir, domain, rules, stories)

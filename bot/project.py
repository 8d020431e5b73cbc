"""Loading a Rasa 3.x project from disk: domain, rules and stories, merged as Rasa does.

A project folder holds ``domain.yml`` (or a ``domain/`` folder of YAML files) and ``data/``
with any number of YAML files and sub-folders; each file may carry ``nlu``, ``rules`` and
``stories`` sections. Errors name the file and the line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue.domain import BUILTIN_ACTIONS, Domain, DomainError
from bot.dialogue.engine import DialogueEngine, EngineConfig
from bot.dialogue.training_data import Conversation, load_rules, load_stories, strip_annotations
from bot.errors import ProjectError

log = logging.getLogger(__name__)

_MERGE_LISTS = ("intents", "entities", "actions")
_MERGE_MAPS = ("slots", "responses", "forms")


@dataclass
class Project:
    path: Path
    domain: Domain
    rules: list[Conversation] = field(default_factory=list)
    stories: list[Conversation] = field(default_factory=list)

    def engine(self, config: EngineConfig | None = None) -> DialogueEngine:
        return DialogueEngine(self.domain, self.rules, self.stories, config)


class LineDict(dict):
    """A YAML mapping that remembers the line of each key (1-based) for error messages."""

    lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        mapping = LineDict(super().construct_mapping(node, deep=deep))
        mapping.lines = {self.construct_object(k, deep=True): k.start_mark.line + 1 for k, _ in node.value}
        return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)


def line_of(data: Any, path: tuple[str, ...]) -> int | None:
    """The line where ``path`` (keys from the top) is written in data from :func:`read_yaml`."""
    line = None
    for key in path:
        if not isinstance(data, LineDict) or key not in data:
            break
        line = data.lines.get(key, line)
        data = data[key]
    return line


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path}: not UTF-8 text ({exc})") from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
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
        return derive_domain(project_dir)
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], tuple[Path, Any]] = {}  # where each section came from
    for path in files:
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ProjectError(f"{path}: line 1: expected a mapping of domain sections")
        for key, value in data.items():
            origin[(key,)] = (path, data)
            if isinstance(value, dict):
                for sub in value:
                    origin[(key, str(sub))] = (path, data)
            if key in _MERGE_LISTS:
                merged.setdefault(key, []).extend(value or [])
            elif key in _MERGE_MAPS:
                merged.setdefault(key, {}).update(value or {})
            else:
                merged[key] = value
    try:
        return Domain.from_dict(merged)
    except DomainError as exc:
        path, data = origin.get(exc.path) or origin.get(exc.path[:1]) or (files[0], {})
        line = line_of(data, exc.path)
        raise ProjectError(f"{path}: line {line}: {exc}" if line else f"{path}: {exc}") from None


def derive_domain(project_dir: Path) -> Domain:
    """The minimum domain a project without ``domain.yml`` implies (e.g. ``rasa init``'s
    moodbot): intents from its NLU data, entities from annotations, and every action its
    rules and stories name. Response texts cannot be guessed, so an ``utter_*`` action
    says its own name until the project adds responses; a warning says so."""
    data_dir = project_dir / "data"
    if not data_dir.is_dir():
        raise ProjectError(f"{project_dir}: no domain.yml (or domain/ folder) and no data/ folder")
    intents: list[str] = []
    entities: list[str] = []
    actions: list[str] = []
    for path in _yaml_files(data_dir):
        data = read_yaml(path) or {}
        for item in data.get("nlu") or []:
            if "intent" in item:
                intents.append(str(item["intent"]))
                examples = item.get("examples") or ""
                texts = examples if isinstance(examples, str) else " ".join(str(e.get("text", "")) for e in examples)
                entities += [e["entity"] for e in strip_annotations(texts)[1] if e.get("entity")]
        for section in ("rules", "stories"):
            for block in data.get(section) or []:
                for step in block.get("steps") or []:
                    if isinstance(step, dict) and "action" in step:
                        actions.append(str(step["action"]))
    responses = {a: [{"text": a}] for a in dict.fromkeys(actions) if a.startswith("utter_")}
    custom = [a for a in dict.fromkeys(actions) if not a.startswith("utter_") and a not in BUILTIN_ACTIONS]
    log.warning("%s has no domain.yml: derived %d intents and %d actions; utter_* responses say their own "
                "name until you add texts to a domain.yml", project_dir, len(set(intents)), len(set(actions)))
    return Domain.from_dict({"intents": list(dict.fromkeys(intents)), "entities": list(dict.fromkeys(entities)),
                             "responses": responses, "actions": custom})


def load_project(project_dir: Path) -> Project:
    """Load domain, rules and stories of a Rasa project folder."""
    project_dir = Path(project_dir)
    domain = load_domain(project_dir)
    rules: list[Conversation] = []
    story_items: list[dict[str, Any]] = []
    data_dir = project_dir / "data"
    for path in _yaml_files(data_dir) if data_dir.is_dir() else []:
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise ProjectError(f"{path}: line 1: expected a mapping with nlu/rules/stories sections")
        rules.extend(load_rules(data.get("rules") or [], str(path)))
        load_stories(data.get("stories") or [], str(path))  # validates this file's steps
        story_items.extend(data.get("stories") or [])
    # Stories are joined through checkpoints across files, so they are expanded together.
    stories = load_stories(story_items, str(data_dir))
    return Project(project_dir, domain, rules, stories)

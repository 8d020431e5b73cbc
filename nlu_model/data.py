"""Training data for the NLU: Rasa 3.x NLU YAML, Rasa project folders and CSV files.

Call `load_training_data(path)` and get an `NluData`. A file that cannot be read as training
data raises `TrainingDataError` (a `ValueError`) whose message names the file and the problem.

Supported Rasa NLU YAML (https://rasa.com/docs/rasa/training-data-format):
- `nlu:` items with `intent` and `examples` (a string of `- ` lines, or a list of
  `{text, metadata}` dicts); an optional `metadata` on the item applies to all its examples;
- entity annotations `[value](entity)`, the legacy `[value](entity:canonical)` and
  `[value]{"entity": "x", "role": "y", "group": "z", "value": "canonical"}`;
- `synonym`, `regex` and `lookup` items (with inline `examples`);
- a `metadata: {sentiment: negative}` (negative / neutral / positive) on an example or intent.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SENTIMENTS = ("negative", "neutral", "positive")
OUT_OF_SCOPE_INTENTS = frozenset({"out_of_scope", "oos"})


class TrainingDataError(ValueError):
    """Training data that cannot be used; the message names the file and what was wrong."""


@dataclass(frozen=True)
class EntitySpan:
    """An entity in an example's text: `text[start:end]` is the surface form, `value` the canonical one."""

    start: int
    end: int
    value: str
    entity: str
    role: str | None = None


@dataclass
class Example:
    """One labelled utterance; `sentiment` is one of `SENTIMENTS` or None when unlabelled."""

    text: str
    intent: str
    entities: list[EntitySpan] = field(default_factory=list)
    sentiment: str | None = None


@dataclass
class NluData:
    """Everything the NLU trains on. `synonyms` maps a surface value (lower-cased) to its canonical value."""

    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        """Intent names, sorted."""
        return sorted({example.intent for example in self.examples})

    @property
    def entity_types(self) -> list[str]:
        """Entity types annotated in the examples, sorted."""
        return sorted({span.entity for example in self.examples for span in example.entities})

    def merge(self, other: NluData) -> None:
        """Add another file's data to this one (used for the files of a project folder)."""
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        for name, patterns in other.regexes.items():
            self.regexes.setdefault(name, []).extend(patterns)
        for name, values in other.lookups.items():
            self.lookups.setdefault(name, []).extend(values)


def load_training_data(path: str | Path) -> NluData:
    """Load a Rasa project folder, one Rasa NLU YAML file or a CSV file.

    A folder merges every `*.yml` / `*.yaml` under its `data/` (or the folder itself when it
    has no `data/`); files without an `nlu` key (stories, rules, domain) are skipped.
    Raises `TrainingDataError` for a missing path, malformed content or no examples at all.
    """
    path = Path(path)
    if not path.exists():
        raise TrainingDataError(f"{path}: no such file or folder")
    if path.is_dir():
        data = _load_folder(path)
    elif path.suffix.lower() == ".csv":
        data = _load_csv(path)
    elif path.suffix.lower() in (".yml", ".yaml"):
        data = _load_yaml_file(path)
    else:
        raise TrainingDataError(f"{path}: expected a .yml/.yaml/.csv file or a Rasa project folder")
    if not data.examples:
        raise TrainingDataError(f"{path}: no training examples found")
    return data


def _load_folder(folder: Path) -> NluData:
    data_dir = folder / "data" if (folder / "data").is_dir() else folder
    files = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in (".yml", ".yaml") and p.is_file())
    merged = NluData()
    for file in files:
        if file.name in ("domain.yml", "domain.yaml", "config.yml", "config.yaml", "endpoints.yml", "credentials.yml"):
            continue
        merged.merge(_load_yaml_file(file, allow_no_nlu=True))
    return merged


def _load_yaml_file(path: Path, *, allow_no_nlu: bool = False) -> NluData:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TrainingDataError(f"{path}: invalid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise TrainingDataError(f"{path}: not UTF-8 text: {exc}") from exc
    if document is None and allow_no_nlu:
        return NluData()
    if not isinstance(document, dict):
        raise TrainingDataError(f"{path}: expected a mapping with an `nlu` key at the top level")
    _check_version(path, document.get("version"))
    if "nlu" not in document:
        if allow_no_nlu:
            return NluData()
        raise TrainingDataError(f"{path}: no `nlu` section")
    items = document["nlu"]
    if items is None:
        return NluData()
    if not isinstance(items, list):
        raise TrainingDataError(f"{path}: `nlu` must be a list of items, got {type(items).__name__}")
    data = NluData()
    for index, item in enumerate(items):
        _parse_nlu_item(path, index, item, data)
    return data


def _check_version(path: Path, version: Any) -> None:
    if version is None:
        return
    if not isinstance(version, str):
        raise TrainingDataError(f'{path}: `version` must be a quoted string such as "3.1", got {version!r}')
    if not re.fullmatch(r"[23](\.\d+)?", version.strip()):
        raise TrainingDataError(f"{path}: unsupported training data format version {version!r} (expected 2.x or 3.x)")


_ITEM_KINDS = ("intent", "synonym", "regex", "lookup")


def _parse_nlu_item(path: Path, index: int, item: Any, data: NluData) -> None:
    where = f"{path}: nlu item {index + 1}"
    if not isinstance(item, dict):
        raise TrainingDataError(f"{where}: expected a mapping, got {type(item).__name__}")
    kinds = [kind for kind in _ITEM_KINDS if kind in item]
    if len(kinds) != 1:
        raise TrainingDataError(f"{where}: needs exactly one of {', '.join(_ITEM_KINDS)}; has keys {sorted(item)}")
    kind = kinds[0]
    name = item[kind]
    if not isinstance(name, str) or not name.strip():
        raise TrainingDataError(f"{where}: `{kind}` must be a non-empty string, got {name!r}")
    name = name.strip()
    where = f"{path}: {kind} {name!r}"
    if "examples" not in item:
        raise TrainingDataError(f"{where}: missing `examples`")
    entries = _example_entries(where, item["examples"])
    if kind == "intent":
        default_sentiment = _sentiment_from(where, item.get("metadata"))
        for text, metadata in entries:
            sentiment = _sentiment_from(where, metadata) or default_sentiment
            data.examples.append(_parse_annotated_example(where, text, name, sentiment, data.synonyms))
    elif kind == "synonym":
        for text, _ in entries:
            data.synonyms[text.lower()] = name
    elif kind == "regex":
        for pattern, _ in entries:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise TrainingDataError(f"{where}: invalid regular expression {pattern!r}: {exc}") from exc
        data.regexes.setdefault(name, []).extend(pattern for pattern, _ in entries)
    else:
        data.lookups.setdefault(name, []).extend(text for text, _ in entries)


def _example_entries(where: str, examples: Any) -> list[tuple[str, Any]]:
    """The (text, metadata) pairs of an `examples` value: a `- ` list in a string, or a list of dicts."""
    if isinstance(examples, str):
        entries = []
        for line_number, line in enumerate(examples.splitlines(), start=1):
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("-"):
                raise TrainingDataError(f"{where}: example line {line_number} does not start with '- ': {stripped!r}")
            text = stripped[1:].strip()
            if text:
                entries.append((text, None))
        return entries
    if isinstance(examples, list):
        entries = []
        for position, entry in enumerate(examples, start=1):
            if isinstance(entry, dict) and isinstance(entry.get("text"), str):
                entries.append((entry["text"].strip(), entry.get("metadata")))
            else:
                raise TrainingDataError(f"{where}: example {position} must be a mapping with a `text` string")
        return entries
    raise TrainingDataError(f"{where}: `examples` must be a string of '- ' lines or a list, got {type(examples).__name__}")


def _sentiment_from(where: str, metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise TrainingDataError(f"{where}: `metadata` must be a mapping, got {type(metadata).__name__}")
    sentiment = metadata.get("sentiment")
    if sentiment is None:
        return None
    if sentiment not in SENTIMENTS:
        raise TrainingDataError(f"{where}: metadata sentiment must be one of {', '.join(SENTIMENTS)}, got {sentiment!r}")
    return sentiment


# `[surface](entity)`, `[surface](entity:value)` or `[surface]{json}`.
_ANNOTATION = re.compile(r"\[(?P<surface>[^\]]+)\](?:\((?P<short>[^)]+)\)|(?P<json>\{[^}]*\}))")


def _parse_annotated_example(
    where: str, annotated: str, intent: str, sentiment: str | None, synonyms: dict[str, str]
) -> Example:
    """Strip annotations from `annotated`, returning the plain text with its entity spans.

    An annotation with an explicit canonical value adds a synonym, as Rasa does.
    """
    text_parts: list[str] = []
    entities: list[EntitySpan] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(annotated):
        before = annotated[cursor : match.start()]
        text_parts.append(before)
        length += len(before)
        surface = match.group("surface")
        entity, role, value = _annotation_fields(where, annotated, match)
        start = length
        text_parts.append(surface)
        length += len(surface)
        entities.append(EntitySpan(start, length, value or surface, entity, role))
        if value and value != surface:
            synonyms[surface.lower()] = value
        cursor = match.end()
    text_parts.append(annotated[cursor:])
    text = "".join(text_parts)
    if "](" in text or "]{" in text:
        raise TrainingDataError(f"{where}: malformed entity annotation in {annotated!r}")
    return Example(text=text, intent=intent, entities=entities, sentiment=sentiment)


def _annotation_fields(where: str, annotated: str, match: re.Match[str]) -> tuple[str, str | None, str | None]:
    if match.group("short") is not None:
        entity, _, value = match.group("short").partition(":")
        if not entity.strip():
            raise TrainingDataError(f"{where}: empty entity name in {annotated!r}")
        return entity.strip(), None, (value.strip() or None)
    try:
        fields = json.loads(match.group("json"))
    except json.JSONDecodeError as exc:
        raise TrainingDataError(f"{where}: entity annotation is not valid JSON in {annotated!r}: {exc}") from exc
    if not isinstance(fields, dict) or not isinstance(fields.get("entity"), str) or not fields["entity"]:
        raise TrainingDataError(f"{where}: entity annotation needs an \"entity\" string in {annotated!r}")
    role = fields.get("role")
    value = fields.get("value")
    return fields["entity"], (str(role) if role is not None else None), (str(value) if value is not None else None)


_TEXT_COLUMNS = ("text", "utterance", "instruction")
_LABEL_COLUMNS = ("intent", "label", "category")
_ENTITY_COLUMNS = ("entity_type", "start_offset", "end_offset")


def _load_csv(path: Path) -> NluData:
    """A CSV with a text column and an intent column; optional `sentiment` and one entity per row
    (`entity_type`, `entity_value`, `start_offset`, `end_offset`, as in Bitext's data)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TrainingDataError(f"{path}: unreadable CSV: {exc}") from exc
    text_column = next((c for c in _TEXT_COLUMNS if c in columns), None)
    label_column = next((c for c in _LABEL_COLUMNS if c in columns), None)
    if text_column is None:
        raise TrainingDataError(f"{path}: needs a `text` column; has {columns}")
    if label_column is None:
        raise TrainingDataError(f"{path}: needs an `intent`, `label` or `category` column; has {columns}")
    has_entities = all(c in columns for c in _ENTITY_COLUMNS)
    data = NluData()
    for line, row in enumerate(rows, start=1):
        row = {(k or "").strip(): v for k, v in row.items()}
        text = (row.get(text_column) or "").strip()
        intent = (row.get(label_column) or "").strip()
        if not text or not intent:
            raise TrainingDataError(f"{path}: row {line}: empty `{text_column}` or `{label_column}`")
        raw = row[text_column]
        entities = _csv_entity(path, line, row, raw, len(raw) - len(raw.lstrip())) if has_entities else []
        sentiment = (row.get("sentiment") or "").strip() or None
        if sentiment is not None and sentiment not in SENTIMENTS:
            raise TrainingDataError(f"{path}: row {line}: sentiment must be one of {', '.join(SENTIMENTS)}")
        data.examples.append(Example(text=text, intent=intent, entities=entities, sentiment=sentiment))
    return data


def _csv_entity(path: Path, line: int, row: dict[str, str], raw_text: str, shift: int) -> list[EntitySpan]:
    entity = (row.get("entity_type") or "").strip()
    if not entity:
        return []
    try:
        start, end = int(row["start_offset"]), int(row["end_offset"])
    except (TypeError, ValueError) as exc:
        raise TrainingDataError(f"{path}: row {line}: entity offsets must be integers") from exc
    value = (row.get("entity_value") or "").strip()
    if not 0 <= start < end <= len(raw_text):
        # Some published data sets kept offsets computed before the text was edited; the value
        # itself is still in the text, so find it there rather than drop the row.
        found = raw_text.lower().find(value.lower()) if value else -1
        if found < 0:
            raise TrainingDataError(f"{path}: row {line}: entity offsets {start}..{end} lie outside the text")
        start, end = found, found + len(value)
    value = value or raw_text[start:end]
    return [EntitySpan(start - shift, end - shift, value, entity)]

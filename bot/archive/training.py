"""Corrections of customer messages, and their export as Rasa NLU training data.

A correction says "this archived customer message is intent X with these entities". Staff
write entities in Rasa's own markup, ``where is order [12345](order_id)``;
:func:`parse_annotated` reads it and :func:`annotate` writes it. One correction per
message: correcting again replaces it.

:func:`training_yaml` renders every correction as a Rasa 3.x NLU file (``version: "3.1"``,
one ``intent`` item per intent, ``examples`` as ``- `` lines) that ``kefu train --data``
reads on its own or merged with a project: write it into the project's ``data/`` folder
(:func:`default_training_path`) and ``kefu train --data dialogues`` picks it up.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, insert, select, update

from bot.archive import schema
from bot.archive.db import ArchiveDatabase
from bot.errors import KefuError

INTENT_PATTERN = re.compile(r"^[\w.-]{1,128}$")
ENTITY_PATTERN = re.compile(r"^[\w.-]{1,64}$")
_ANNOTATION = re.compile(r"\[(?P<surface>[^\]\[]+)\]\((?P<entity>[^)(:]+)(?::(?P<value>[^)(]+))?\)")
TRAINING_FILE_NAME = "kefu_corrections.yml"


class CorrectionError(KefuError):
    """A correction that cannot be stored; the message is safe to show to staff."""


def parse_annotated(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """``"order [12](order_id)"`` -> ``("order 12", [{entity, value, start, end}])``.

    Raises :class:`CorrectionError` for an entity name that is not a plain identifier.
    """
    parts: list[str] = []
    entities: list[dict[str, Any]] = []
    cursor = length = 0
    for match in _ANNOTATION.finditer(markup):
        before = markup[cursor : match.start()]
        parts.append(before)
        length += len(before)
        surface = match.group("surface")
        entity = match.group("entity").strip()
        if not ENTITY_PATTERN.match(entity):
            raise CorrectionError(f"entity name {entity!r} must be letters, digits, _ . or -")
        value = (match.group("value") or "").strip() or surface
        entities.append({"entity": entity, "value": value, "start": length, "end": length + len(surface)})
        parts.append(surface)
        length += len(surface)
        cursor = match.end()
    parts.append(markup[cursor:])
    return "".join(parts), entities


def _plain(segment: str) -> str:
    # Square brackets outside an annotation would be read as one; round ones read the same.
    return segment.replace("[", "(").replace("]", ")").replace("\n", " ")


def annotate(text: str, entities: list[dict[str, Any]]) -> str:
    """Rasa markup for ``text`` with ``entities`` (spans that overlap or fall outside are skipped)."""
    spans = sorted(
        (e for e in entities if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)
         and 0 <= e["start"] < e["end"] <= len(text) and e.get("entity")),
        key=lambda e: e["start"],
    )
    parts: list[str] = []
    cursor = 0
    for entity in spans:
        if entity["start"] < cursor:
            continue
        surface = text[entity["start"] : entity["end"]]
        parts.append(_plain(text[cursor : entity["start"]]))
        value = str(entity.get("value") if entity.get("value") is not None else surface)
        suffix = f":{value}" if value != surface and not re.search(r"[()\[\]\n]", value) else ""
        parts.append(f"[{_plain(surface)}]({entity['entity']}{suffix})")
        cursor = entity["end"]
    parts.append(_plain(text[cursor:]))
    return "".join(parts).strip()


def correct_message(database: ArchiveDatabase, conversation_id: str, event_id: str, *, intent: str,
                    markup: str | None, author: str) -> dict[str, Any]:
    """Store (or replace) the correction of one archived customer message.

    ``markup`` is the message text with entity annotations; it must read as the archived
    text once the annotations are removed (None or empty keeps the model's entities).
    Raises :class:`CorrectionError`.
    """
    intent = intent.strip()
    if not INTENT_PATTERN.match(intent):
        raise CorrectionError("an intent name is letters, digits, _ . or -")
    events = schema.events
    with database.write() as connection:
        row = connection.execute(select(events).where(
            events.c.conversation_id == conversation_id, events.c.event_id == event_id, events.c.kind == "user",
        )).mappings().first()
        if row is None or row["text"] is None:
            raise CorrectionError("no customer message with this id in the archive")
        text = row["text"]
        if markup and markup.strip():
            plain, entities = parse_annotated(markup.strip())
            if plain != text.strip() and plain != _plain(text).strip():
                raise CorrectionError("the annotated text must be the message text with [value](entity) marks only")
            if plain != text:  # re-base the spans on the archived text
                shift = len(text) - len(text.lstrip())
                for entity in entities:
                    entity["start"] += shift
                    entity["end"] += shift
        else:
            parse = json.loads(row["payload"]).get("parse_data") or {}
            entities = [
                {k: e.get(k) for k in ("entity", "value", "start", "end")}
                for e in parse.get("entities") or [] if isinstance(e, dict) and e.get("extractor") != "payload"
            ]
        values = {"text": text, "original_intent": row["intent"], "intent": intent,
                  "entities": json.dumps(entities, ensure_ascii=False), "author": author,
                  "created_at": time.time(), "exported_at": None}
        corrections = schema.corrections
        existing = connection.scalar(select(corrections.c.id).where(
            corrections.c.conversation_id == conversation_id, corrections.c.event_id == event_id))
        if existing is None:
            connection.execute(insert(corrections).values(conversation_id=conversation_id, event_id=event_id, **values))
        else:
            connection.execute(update(corrections).where(corrections.c.id == existing).values(**values))
    return {"conversation_id": conversation_id, "event_id": event_id, **values, "entities": entities}


def delete_correction(database: ArchiveDatabase, correction_id: int) -> None:
    with database.write() as connection:
        connection.execute(delete(schema.corrections).where(schema.corrections.c.id == correction_id))


def list_corrections(database: ArchiveDatabase, *, only_new: bool = False) -> list[dict[str, Any]]:
    """Every correction, newest first (``only_new``: not exported yet)."""
    query = select(schema.corrections).order_by(schema.corrections.c.created_at.desc(), schema.corrections.c.id.desc())
    if only_new:
        query = query.where(schema.corrections.c.exported_at.is_(None))
    with database.read() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings()]
    for row in rows:
        row["entities"] = json.loads(row["entities"])
        row["markup"] = annotate(row["text"], row["entities"])
    return rows


class _BlockDumper(yaml.SafeDumper):
    pass


def _block_strings(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _block_strings)


def training_yaml(corrections: list[dict[str, Any]]) -> str:
    """A Rasa 3.x NLU YAML document with one example per corrected message.

    The same text corrected in two conversations is one example (the newest correction
    wins); intents and examples are sorted, so the file only changes when the data does.
    """
    newest: dict[str, dict[str, Any]] = {}
    for correction in sorted(corrections, key=lambda c: (c["created_at"], c.get("id") or 0)):
        markup = correction.get("markup") or annotate(correction["text"], correction["entities"])
        if markup:
            newest[markup.casefold()] = {"intent": correction["intent"], "markup": markup}
    by_intent: dict[str, set[str]] = defaultdict(set)
    for item in newest.values():
        by_intent[item["intent"]].add(item["markup"])
    document = {
        "version": "3.1",
        "nlu": [
            {"intent": intent, "examples": "".join(f"- {example}\n" for example in sorted(examples))}
            for intent, examples in sorted(by_intent.items())
        ],
    }
    header = ("# Written by Kefu from staff corrections (kefu export-training). Rasa 3.x NLU format;\n"
              "# train with it: kefu train --data <project folder holding this file in data/>\n")
    return header + yaml.dump(document, Dumper=_BlockDumper, allow_unicode=True, sort_keys=False, width=10_000)


def default_training_path(project_dir: Path) -> Path:
    """Where the export goes by default: inside the project's ``data/``, which the trainer merges."""
    return project_dir / "data" / TRAINING_FILE_NAME


def export_training(database: ArchiveDatabase, out: Path) -> int:
    """Write every correction to ``out`` (replacing it) and mark them exported; returns the count."""
    corrections = list_corrections(database)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    temporary.write_text(training_yaml(corrections), encoding="utf-8")
    temporary.replace(out)  # atomic: a trainer never reads half a file
    mark_exported(database, [c["id"] for c in corrections])
    return len(corrections)


def mark_exported(database: ArchiveDatabase, ids: list[int]) -> None:
    if not ids:
        return
    with database.write() as connection:
        connection.execute(update(schema.corrections).where(schema.corrections.c.id.in_(ids))
                           .values(exported_at=time.time()))

"""Corrections become Rasa NLU training data that `kefu train --data` reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.archive import training
from bot.archive.db import ArchiveDatabase
from bot.archive.training import CorrectionError, annotate, parse_annotated
from bot.archive.writer import ArchivedEvent, ArchiveWriter
from nlu_model.data import load_training_data
from tests.staff import builders as b


def test_markup_round_trip() -> None:
    text, entities = parse_annotated("cancel order [00123842](order_id) to [Berlin](city:berlin)")
    assert text == "cancel order 00123842 to Berlin"
    assert entities == [{"entity": "order_id", "value": "00123842", "start": 13, "end": 21},
                        {"entity": "city", "value": "berlin", "start": 25, "end": 31}]
    assert annotate(text, entities) == "cancel order [00123842](order_id) to [Berlin](city:berlin)"
    # Brackets a customer typed cannot be read as an annotation.
    assert annotate("see [this](link) and <EMAIL>", []) == "see (this)(link) and <EMAIL>"


@pytest.fixture
def corrected(archive_db: ArchiveDatabase) -> ArchiveDatabase:
    ArchiveWriter(archive_db).write([
        ArchivedEvent("c1", "1-0", b.user("where is order 00123842 sent to a@b.com", "greet", 0.3)),
        ArchivedEvent("c1", "1-1", b.bot("hello")),
        ArchivedEvent("c2", "2-0", b.user("我要退款", "greet", 0.4, language="zh")),
    ])
    return archive_db


def test_corrections_validate_and_replace(corrected: ArchiveDatabase) -> None:
    with pytest.raises(CorrectionError, match="text"):
        training.correct_message(corrected, "c1", "1-0", intent="track_order", markup="where is [it](order_id)",
                                 author="alice")
    with pytest.raises(CorrectionError, match="customer message"):
        training.correct_message(corrected, "c1", "1-1", intent="track_order", markup=None, author="alice")
    with pytest.raises(CorrectionError, match="intent"):
        training.correct_message(corrected, "c1", "1-0", intent="bad intent!", markup=None, author="alice")
    training.correct_message(corrected, "c1", "1-0", intent="check_order", markup=None, author="alice")
    saved = training.correct_message(corrected, "c1", "1-0", intent="track_order",
                                     markup="where is order [00123842](order_id) sent to <EMAIL>", author="bob")
    assert saved["original_intent"] == "greet"
    (row,) = [c for c in training.list_corrections(corrected) if c["conversation_id"] == "c1"]
    assert (row["intent"], row["author"], row["markup"]) == (
        "track_order", "bob", "where is order [00123842](order_id) sent to <EMAIL>")


def test_exported_yaml_trains_alone_and_merged_with_a_project(corrected: ArchiveDatabase, tiny_project: Path,
                                                              tmp_path: Path) -> None:
    training.correct_message(corrected, "c1", "1-0", intent="track_order",
                             markup="where is order [00123842](order_id) sent to <EMAIL>", author="alice")
    training.correct_message(corrected, "c2", "2-0", intent="get_refund", markup="", author="alice")
    out = tmp_path / "corrections.yml"
    assert training.export_training(corrected, out) == 2
    alone = load_training_data(out)
    assert {(e.text, e.intent) for e in alone.examples} == {
        ("where is order 00123842 sent to <EMAIL>", "track_order"), ("我要退款", "get_refund")}
    (tracked,) = [e for e in alone.examples if e.intent == "track_order"]
    assert [(s.entity, s.value) for s in tracked.entities] == [("order_id", "00123842")]
    assert all(c["exported_at"] for c in training.list_corrections(corrected))

    project = tmp_path / "project"
    shutil.copytree(tiny_project, project)
    target = training.default_training_path(project)
    training.export_training(corrected, target)
    merged = load_training_data(project)
    base = load_training_data(tiny_project)
    assert len(merged.examples) == len(base.examples) + 2


def test_export_training_command(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.processes import REPO_ROOT

    url = f"sqlite:///{tmp_path / 'archive.sqlite3'}"
    database = ArchiveDatabase.open(url)
    ArchiveWriter(database).write([ArchivedEvent("c1", "1-0", b.user("my parcel is late", "greet", 0.2))])
    training.correct_message(database, "c1", "1-0", intent="track_order", markup=None, author="alice")
    database.close()
    project = tmp_path / "project"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KEFU_ARCHIVE_URL": url, "KEFU_VAR_DIR": str(tmp_path)}

    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", "export-training", *args], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)

    to_stdout = export("--out", "-")
    assert to_stdout.returncode == 0 and "- my parcel is late" in to_stdout.stdout
    into_project = export("--project", str(project))
    assert into_project.returncode == 0, into_project.stderr
    written = project / "data" / "kefu_corrections.yml"
    assert "wrote 1 corrections" in into_project.stdout
    assert [e.intent for e in load_training_data(written).examples] == ["track_order"]

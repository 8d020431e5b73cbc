from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from nlu_model.data import Example, NluData, load_training_data
from nlu_model.inference import Predictor
from nlu_model.train import TrainingError, train

PICKLE_PROTOCOL_MARKER = b"\x80"  # every pickle protocol >= 2 stream starts with this opcode


def test_training_writes_every_artefact_and_no_pickle(trained_model: tuple[Path, dict]) -> None:
    model_dir, report = trained_model
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "labels.json", "report.json"} <= names
    for path in model_dir.iterdir():
        assert path.suffix in (".json", ".safetensors"), path
        assert not path.read_bytes().startswith(PICKLE_PROTOCOL_MARKER), path
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    assert load_file(str(model_dir / "model.safetensors"))  # plain tensors, no code
    config = json.loads((model_dir / "config.json").read_text())
    assert config["kefu_version"] and config["n_intents"] == 14
    labels = json.loads((model_dir / "labels.json").read_text())
    assert "track_order" in labels["intents"] and "cuisine" in labels["entities"]
    assert labels["sentiments"] == ["negative", "neutral", "positive"]
    saved_report = json.loads((model_dir / "report.json").read_text())
    assert saved_report == json.loads(json.dumps(report))
    assert saved_report["data"]["examples"] == 332
    assert saved_report["data"]["train_examples"] + saved_report["data"]["validation_examples"] == 332
    assert saved_report["train_seconds"] > 0
    assert 0.0 <= saved_report["validation"]["accuracy"] <= 1.0


def test_tiny_model_classifies_its_training_examples(trained_model: tuple[Path, dict], project_data: NluData) -> None:
    predictor = Predictor.load(trained_model[0])
    results = predictor.parse_batch([e.text for e in project_data.examples])
    correct = sum(r["intent_ranking"][0]["name"] == e.intent for r, e in zip(results, project_data.examples))
    assert correct / len(project_data.examples) >= 0.9
    assert trained_model[1]["validation"]["accuracy"] >= 0.6


def test_same_seed_same_model_other_seed_other_model(datasets: Path, tmp_path: Path) -> None:
    data = load_training_data(datasets / "rasa-moodbot-init")
    first = train(data, tmp_path / "a", config_name="tiny", seed=7, threads=1, progress=False)
    second = train(data, tmp_path / "b", config_name="tiny", seed=7, threads=1, progress=False)
    other = train(data, tmp_path / "c", config_name="tiny", seed=8, threads=1, progress=False)
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in "abc"]
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]
    assert first["history"] == second["history"]
    assert other["seed"] == 8


def test_warm_start_from_a_previous_model_keeps_its_tokenizer(trained_model: tuple[Path, dict], project_data: NluData, tmp_path: Path) -> None:
    more = NluData(
        examples=project_data.examples + [Example(f"opening hours on day {i}", "opening_hours") for i in range(6)],
        synonyms=project_data.synonyms, regexes=project_data.regexes, lookups=project_data.lookups,
    )
    report = train(more, tmp_path / "next", config_name="tiny", threads=1, init_from=trained_model[0], progress=False)
    assert report["init_from"] == str(trained_model[0])
    assert (tmp_path / "next" / "tokenizer.json").read_text() == (trained_model[0] / "tokenizer.json").read_text()
    predictor = Predictor.load(tmp_path / "next")
    assert "opening_hours" in predictor.labels
    assert predictor.parse("where is my order 12345")["intent_ranking"][0]["name"] == "track_order"


def test_training_refuses_one_intent_and_a_foreign_init_folder(tmp_path: Path) -> None:
    one_intent = NluData(examples=[Example("hi", "greet"), Example("hello", "greet")])
    with pytest.raises(TrainingError, match="at least two intents"):
        train(one_intent, tmp_path / "x", config_name="tiny", progress=False)
    two = NluData(examples=[Example("hi", "greet"), Example("bye", "goodbye")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="neither a Kefu model folder nor a HuggingFace checkpoint"):
        train(two, tmp_path / "y", config_name="tiny", init_from=tmp_path / "empty", progress=False)
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "hf" / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(TrainingError, match="needs model.safetensors"):
        train(two, tmp_path / "y", config_name="tiny", init_from=tmp_path / "hf", progress=False)


def test_a_model_without_the_ngram_path_still_learns_intents(project_data: NluData, tmp_path: Path) -> None:
    from dataclasses import replace

    from nlu_model import configs

    configs.CONFIGS["tiny-dense-only"] = replace(configs.CONFIGS["tiny"], sparse_max_features=0)
    try:
        report = train(project_data, tmp_path / "dense", config_name="tiny-dense-only", threads=1, progress=False)
    finally:
        del configs.CONFIGS["tiny-dense-only"]
    assert not (tmp_path / "dense" / "features.json").exists()
    assert report["validation"]["accuracy"] >= 0.6
    assert Predictor.load(tmp_path / "dense").parse("hello there")["intent_ranking"][0]["name"] == "greet"


def test_refit_on_all_data_trains_again_for_the_best_epoch_count(datasets: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from nlu_model import configs

    configs.CONFIGS["tiny-refit"] = replace(configs.CONFIGS["tiny"], refit_on_all_data=True, max_epochs=6)
    try:
        report = train(load_training_data(datasets / "rasa-formbot"), tmp_path / "m", config_name="tiny-refit", threads=1, progress=False)
    finally:
        del configs.CONFIGS["tiny-refit"]
    held_out = [h for h in report["history"] if not h.get("refit")]
    refit = [h for h in report["history"] if h.get("refit")]
    best_epoch = max(h["epoch"] for h in held_out if h.get("best"))
    assert all("validation_tag_f1" in h for h in held_out)  # formbot has entities: they count in the choice
    assert len(refit) == best_epoch
    # The calibration fitted on the held-out run travels with the refitted model.
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["inference"] == report["inference"] and config["inference"]["temperature"] > 0


def test_small_data_gets_enough_steps(datasets: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from nlu_model import configs

    # 61 training examples in batches of 16 = 4 steps an epoch: 2 epochs would be 8 steps.
    configs.CONFIGS["tiny-short"] = replace(configs.CONFIGS["tiny"], max_epochs=2, min_train_steps=120, patience=1)
    try:
        report = train(load_training_data(datasets / "rasa-moodbot-init"), tmp_path / "m", config_name="tiny-short", threads=1, progress=False)
    finally:
        del configs.CONFIGS["tiny-short"]
    assert len(report["history"]) >= 10  # stretched to 30 epochs, with patience stretched to 15
    assert report["validation"]["accuracy"] >= 0.5

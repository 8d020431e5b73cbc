from __future__ import annotations

from pathlib import Path

import pytest

from nlu_model.data import EntitySpan, NluData, TrainingDataError, load_training_data



def test_formbot_nlu_file_loads_intents_and_entity_spans(datasets: Path) -> None:
    data = load_training_data(datasets / "rasa-formbot" / "data" / "nlu.yml")
    assert len(data.examples) == 289
    assert len(data.intents) == 9
    assert "cuisine" in data.entity_types
    example = next(e for e in data.examples if e.text == "can i get swedish food in any area")
    assert example.intent == "request_restaurant"
    assert example.entities == [EntitySpan(10, 17, "swedish", "cuisine")]
    assert example.text[10:17] == "swedish"


def test_project_folder_merges_data_files_and_skips_rules_and_domain(project_dir: Path, project_data: NluData) -> None:
    assert len(project_data.examples) == 289 + 43
    assert {"greet", "track_order", "refund", "fly"} <= set(project_data.intents)
    # rules.yml has no nlu section and domain.yml is not under data/: neither adds anything nor fails.
    assert (project_dir / "data" / "rules.yml").exists()


def test_moodbot_folder_without_domain_loads(datasets: Path) -> None:
    data = load_training_data(datasets / "rasa-moodbot-init")
    assert len(data.examples) == 68
    assert set(data.intents) == {"greet", "goodbye", "affirm", "deny", "mood_great", "mood_unhappy", "bot_challenge"}


def test_banking77_csv_uses_category_column(datasets: Path) -> None:
    data = load_training_data(datasets / "banking77" / "test.csv")
    assert len(data.examples) == 3080
    assert len(data.intents) == 77
    assert all(e.entities == [] for e in data.examples)


def test_json_annotations_with_roles_and_values_become_spans_and_synonyms(project_data: NluData) -> None:
    flight = next(e for e in project_data.examples if e.text.startswith("fly from"))
    assert flight.text == "fly from berlin to london"
    assert flight.entities == [
        EntitySpan(9, 15, "berlin", "city", "departure"),
        EntitySpan(19, 25, "london", "city", "destination"),
    ]
    assert flight.sentiment == "neutral"
    visa = next(e for e in project_data.examples if "visa card" in e.text)
    assert visa.entities[0].value == "credit card"
    # The annotation's explicit value and the synonym section both map to the canonical value.
    assert project_data.synonyms["visa card"] == "credit card"
    assert project_data.synonyms["cc"] == "credit card"


def test_regex_lookup_and_intent_metadata_sentiment(project_data: NluData) -> None:
    assert project_data.regexes == {"order_id": [r"\b\d{5}\b"]}
    assert project_data.lookups == {"country": ["Germany", "New Zealand", "NZ", "France"]}
    assert project_data.synonyms["nz"] == "New Zealand"
    complaints = [e for e in project_data.examples if e.intent == "complain"]
    assert complaints and all(e.sentiment == "negative" for e in complaints)
    assert all(e.sentiment is None for e in project_data.examples if e.intent == "track_order")


def test_legacy_entity_value_shorthand(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: pay\n  examples: |\n    - pay with [amex](card:american express)\n')
    example = load_training_data(path).examples[0]
    assert example.text == "pay with amex"
    assert example.entities == [EntitySpan(9, 13, "american express", "card")]


def test_csv_with_entity_columns_and_stale_offsets(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "instruction,intent,entity_type,entity_value,start_offset,end_offset\n"
        "cancel order 12345,cancel_order,order_id,12345,13,18\n"
        # offsets from before the text was shortened: the value is found in the text instead
        "cancel 777,cancel_order,order_id,777,30,33\n"
        "hello,greet,,,,\n",
        encoding="utf-8",
    )
    data = load_training_data(path)
    assert data.examples[0].entities == [EntitySpan(13, 18, "12345", "order_id")]
    assert data.examples[1].entities == [EntitySpan(7, 10, "777", "order_id")]
    assert data.examples[2].entities == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nlu: [unclosed", "invalid YAML"),
        ("- just a list", "mapping with an `nlu` key"),
        ('version: "3.1"\nnlu:\n- intent: greet\n', "missing `examples`"),
        ('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    hello\n', "does not start with '- '"),
        ('version: "3.1"\nnlu:\n- intent: greet\n  examples: 5\n', "must be a string"),
        ('version: 3.1\nnlu:\n- intent: greet\n  examples: |\n    - hi\n', "quoted string"),
        ('version: "1.0"\nnlu: []\n', "unsupported"),
        ('nlu:\n- intent: a\n  examples: |\n    - [x]{"entity": }\n', "not valid JSON"),
        ('nlu:\n- intent: a\n  examples: |\n    - [x]{"role": "r"}\n', 'needs an "entity"'),
        ('nlu:\n- regex: bad\n  examples: |\n    - "[unclosed"\n', "invalid regular expression"),
        ('nlu:\n- intent: a\n  metadata:\n    sentiment: furious\n  examples: |\n    - hi\n', "sentiment must be one of"),
        ("nlu:\n- examples: |\n    - hi\n", "needs exactly one of"),
        ("nlu: []\n", "no training examples"),
    ],
)
def test_malformed_yaml_names_file_and_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("words,intent\nhi,greet\n", "needs a `text` column"),
        ("text,topic\nhi,greet\n", "needs an `intent`"),
        ("text,intent\nhi,\n", "row 1: empty"),
    ],
)
def test_malformed_csv_names_file_and_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError, match=message) as caught:
        load_training_data(path)
    assert str(path) in str(caught.value)


def test_missing_path_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no such file"):
        load_training_data(tmp_path / "nope.yml")
    other = tmp_path / "data.txt"
    other.write_text("hello")
    with pytest.raises(TrainingDataError, match="expected a .yml"):
        load_training_data(other)

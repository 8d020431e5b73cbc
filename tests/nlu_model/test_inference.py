from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from nlu_model.checkpoint import ModelFolderError
from nlu_model.inference import FALLBACK_INTENT, Predictor, detect_language


@pytest.fixture(scope="module")
def predictor(trained_model: tuple[Path, dict]) -> Predictor:
    return Predictor.load(trained_model[0], threads=1)


def test_load_is_fast_and_parse_has_rasa_shape(trained_model: tuple[Path, dict]) -> None:
    started = time.perf_counter()
    predictor = Predictor.load(trained_model[0])
    assert time.perf_counter() - started < 1.0
    result = predictor.parse("where is my order 12345")
    assert set(result) == {"text", "language", "intent", "intent_ranking", "entities", "sentiment"}
    assert result["text"] == "where is my order 12345" and result["language"] == "en"
    ranking = result["intent_ranking"]
    assert len(ranking) == 10
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    assert ranking[0]["name"] == "track_order"
    assert result["intent"]["name"] in ("track_order", FALLBACK_INTENT)
    assert result["sentiment"]["label"] in ("negative", "neutral", "positive")
    assert 0.0 <= result["sentiment"]["score"] <= 1.0
    json.dumps(result)  # goes into a user event as is


def test_regex_lookup_tagger_and_synonyms(predictor: Predictor) -> None:
    entities = predictor.parse("track order 54321 to New Zealand")["entities"]
    found = {(e["entity"], e["value"], e["start"], e["end"], e["extractor"]) for e in entities}
    assert ("order_id", "54321", 12, 17, "RegexEntityExtractor") in found
    assert ("country", "New Zealand", 21, 32, "LookupEntityExtractor") in found
    assert len(entities) == 2  # rule matches win over anything the tagger found in the same place
    cuisine = [e for e in predictor.parse("i want italian food")["entities"] if e["entity"] == "cuisine"]
    assert cuisine and cuisine[0]["value"] == "italian" and cuisine[0]["extractor"] == "KefuEntityTagger"
    country = [e for e in predictor.parse("ship it to NZ")["entities"] if e["entity"] == "country"]
    assert country and country[0]["value"] == "New Zealand"  # synonym applied, span kept
    assert (country[0]["start"], country[0]["end"]) == (11, 13)


def test_sentiment_head_learns_the_labelled_intents(predictor: Predictor) -> None:
    assert predictor.parse("this is terrible service")["sentiment"]["label"] == "negative"
    assert predictor.parse("thank you so much, great service")["sentiment"]["label"] == "positive"
    # Unlabelled examples count as neutral once the data labels some sentiment.
    assert predictor.parse("i want italian food")["sentiment"]["label"] == "neutral"


def test_low_confidence_falls_back_and_keeps_the_ranking(trained_model: tuple[Path, dict], tmp_path: Path) -> None:
    strict = tmp_path / "strict"
    strict.mkdir()
    for path in trained_model[0].iterdir():
        (strict / path.name).write_bytes(path.read_bytes())
    config = json.loads((strict / "config.json").read_text())
    config["inference"]["confidence_threshold"] = 1.01  # nothing is ever that sure
    (strict / "config.json").write_text(json.dumps(config))
    result = Predictor.load(strict).parse("hello there")
    assert result["intent"] == {"name": FALLBACK_INTENT, "confidence": 1.01}
    assert result["intent_ranking"][0]["name"] == "greet"


def test_language_detection() -> None:
    assert detect_language("我的订单在哪里") == "zh"
    assert detect_language("where is my order 订单") == "en"
    assert detect_language("hello") == "en" and detect_language("12345") == "en"
    assert detect_language("订单 order 123") == "zh"


def test_batch_and_single_parses_agree(predictor: Predictor) -> None:
    texts = ["hi", "a restaurant that serves chinese food", "i want my money back", "我想退款"]
    batch = predictor.parse_batch(texts)
    for text, batched in zip(texts, batch):
        single = predictor.parse(text)
        assert single["intent_ranking"][0]["name"] == batched["intent_ranking"][0]["name"]
        assert single["intent_ranking"][0]["confidence"] == pytest.approx(batched["intent_ranking"][0]["confidence"], abs=1e-3)
    assert predictor.parse_batch([]) == []


def test_embed_returns_unit_vectors_that_separate_topics(predictor: Predictor) -> None:
    vectors = predictor.embed(["where is my order", "track my parcel", "hi there"])
    assert vectors.shape == (3, predictor.model.config.n_embd)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)


def test_int8_quantised_predictor_agrees_mostly(trained_model: tuple[Path, dict], project_data) -> None:
    fp32 = Predictor.load(trained_model[0])
    int8 = Predictor.load(trained_model[0], quantize=True)
    texts = [e.text for e in project_data.examples[:120]]
    same = sum(
        a["intent_ranking"][0]["name"] == b["intent_ranking"][0]["name"]
        for a, b in zip(fp32.parse_batch(texts), int8.parse_batch(texts))
    )
    assert same / len(texts) >= 0.9
    assert "DynamicQuantizedLinear" in repr(int8.model)


def test_loading_something_else_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="missing config.json"):
        Predictor.load(tmp_path)

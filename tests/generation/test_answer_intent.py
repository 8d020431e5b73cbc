"""The answer-intent classifier: trained with the decoder, stored without pickle, asked by the guard."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import safe_open

from nlu_model.generation.answer_intent import AnswerIntentClassifier, AnswerIntentHead, answer_features
from nlu_model.generation.artefacts import has_decoder, load_decoder
from nlu_model.generation.decoding import AnswerGenerator, AnswerRequest
from nlu_model.generation.knowledge import load_passages


def test_it_is_saved_as_safetensors_and_json(generation_model: Path) -> None:
    with safe_open(str(generation_model / "answer_intent.safetensors"), framework="pt") as weights:
        assert any(key.startswith("net.") for key in weights.keys())
    document = json.loads((generation_model / "answer_intent.json").read_text(encoding="utf-8"))
    assert {"track_order", "check_invoice", "contact_customer_service", "delivery_period"} <= set(document["config"]["intents"])
    assert document["report"]["rare_examples"] > 0  # the project's responses and passages
    decoder_report = json.loads((generation_model / "decoder.json").read_text(encoding="utf-8"))["report"]
    assert decoder_report["answer_intent"] == document["report"]


def test_a_folder_without_it_has_no_usable_decoder(generation_model: Path, tmp_path: Path) -> None:
    for path in generation_model.iterdir():
        if path.name != "answer_intent.safetensors":
            (tmp_path / path.name).write_bytes(path.read_bytes())
    assert has_decoder(generation_model) and not has_decoder(tmp_path)


def test_it_classifies_the_answers_it_was_trained_on(generator: AnswerGenerator, generation_project: Path) -> None:
    passages = {p.title: p for p in load_passages(generation_project / "knowledge")}
    answers = {
        "Your order is on its way. Questions? Call +1 555 0100.": "track_order",  # as trained: no order_id slot
        "You can reach us at +1 555 0100 or help@test.example.com.": "contact_customer_service",
        passages["Shipping times"].text: "delivery_period",
        passages["配送时间"].text: "delivery_period",
        passages["Payment methods"].text: "check_payment_methods",
    }
    assert generator.answer_intent.classify(list(answers)) == list(answers.values())


def test_long_answers_are_read_whole_in_windows(generator: AnswerGenerator) -> None:
    window = generator.predictor.max_len - 1
    short = "Your order is on its way."
    padded = "word " * (3 * window) + short
    first, second = answer_features(generator.predictor, [short, padded])
    assert first.shape == second.shape == (2 * generator.predictor.model.config.n_embd,)
    # The end of a long answer still counts: its max-pooled half sees the last window.
    truncated = answer_features(generator.predictor, ["word " * (3 * window)])[0]
    assert not torch.equal(second, truncated)


def test_the_guard_asks_it_not_the_customer_intent_model(generator: AnswerGenerator) -> None:
    # A head that calls every answer "track_order": the guard must follow it.
    head = AnswerIntentHead(generator.loaded.answer_intent.config)
    head.load_state_dict(generator.loaded.answer_intent.state_dict())
    with torch.no_grad():
        head.net[-1].bias.fill_(-1e4)
        head.net[-1].bias[head.config.intents.index("track_order")] = 1e4
    always_track = AnswerGenerator(generator.predictor, replace(generator.loaded, answer_intent=head),
                                   knowledge=generator.knowledge, settings=generator.settings)
    assert isinstance(always_track.answer_intent, AnswerIntentClassifier)
    answer = always_track.generate(AnswerRequest("how long does delivery take?", "delivery_period"))
    assert answer.verdict.answer_intent == "track_order" and not answer.verdict.intent_consistent
    assert answer.verdict.decision == "fallback_to_template" and answer.text == ""
    passes_before = generator.predictor.forward_passes
    honest = generator.generate(AnswerRequest("how long does delivery take?", "delivery_period"))
    assert honest.verdict.answer_intent == generator.answer_intent.classify([honest.generated_text])[0]
    assert generator.predictor.forward_passes == passes_before  # the NLU intent head was never asked


def test_it_loads_back_identical(generation_model: Path, generator: AnswerGenerator) -> None:
    loaded = load_decoder(generation_model).answer_intent
    for name, tensor in generator.loaded.answer_intent.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)

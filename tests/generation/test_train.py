"""Training: pairs as served, the padding-free loss, the report."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.nn import functional as F

from nlu_model.decoder import AnswerDecoder, DecoderConfig, GenerationMemory
from nlu_model.generation.decoding import AnswerGenerator
from nlu_model.generation.knowledge import Passage, load_passages
from nlu_model.generation.pairs import GenerationPair, grounded_answer
from nlu_model.generation.settings import load_settings
from nlu_model.generation.train import as_served


def test_pairs_get_the_passage_and_placeholders_they_meet_when_served(generator: AnswerGenerator, generation_project: Path) -> None:
    passages = load_passages(generation_project / "knowledge")
    shipping_times = next(p for p in passages if p.passage_id == "shipping#0")
    pairs = [
        GenerationPair("how long does delivery take?", "delivery_period",
                       "I understand you want to know when it arrives. It takes a few days with our couriers.\n\nLet us know if you need more help."),
        GenerationPair("where is my order ORD-10004", "track_order", "Order ORD-10004 left our warehouse."),
        GenerationPair("how long does delivery take?", "delivery_period", shipping_times.text, shipping_times.passage_id, source="knowledge"),
        GenerationPair("cancel order 3707955617", "cancel_order", "I cancelled order 370795561790 for $350."),  # Bitext's mangling
    ]
    utterances = [p.utterance for p in pairs]
    vectors = dict(zip(utterances, generator.predictor.embed(utterances)))
    served, left_out = as_served(pairs, passages, generator.predictor, load_settings(generation_project), vectors)
    assert left_out == 1 and len(served) == 3  # an answer inventing facts would teach inventing them
    # The knowledge base covers this question: the answer keeps Bitext's opening and closing
    # around our passage, which is in memory as retrieval gives it at serving time.
    assert served[0].passage_id == "shipping#0" and served[0].source == "grounded"
    assert served[0].answer == ("I understand you want to know when it arrives. " + shipping_times.text
                                + " Let us know if you need more help.")
    # The order number the customer wrote is the slot's placeholder: the decoder cannot copy it.
    assert served[1].answer == "Order {{Order Number}} left our warehouse."
    assert served[2] == pairs[2]  # knowledge pairs keep their passage and text

    # Where Bitext's answer is kept instead (a shop without the passage), the passage is not in memory.
    kept, _ = as_served(pairs[:1], passages, generator.predictor, load_settings(generation_project), vectors, grounded_share=0.0)
    assert kept[0].passage_id is None and kept[0].answer == pairs[0].answer and kept[0].source == "bitext"


def test_a_grounded_answer_keeps_only_an_opening_and_closing_that_state_nothing() -> None:
    passage = Passage("payment#0", "Payment methods", "We accept Visa and PayPal.", "en", ["check_payment_methods"])
    bitext = ("Certainly! To check our methods, please provide your order number.\n\n"
              "1. Visa\n2. Amex\n\nReach us at {{Customer Support Phone Number}} if you need anything.")
    assert grounded_answer(bitext, passage) == "Certainly! We accept Visa and PayPal. Reach us at {{Customer Support Phone Number}} if you need anything."
    asks = "Could you provide your order number? Our methods vary.\n\nThey will be happy to help."
    assert grounded_answer(asks, passage) == "We accept Visa and PayPal."  # a question and a dangling closing go
    numbers = "We accept 12 methods including Amex.\n\nCall {{Order Number}} now."
    assert grounded_answer(numbers, passage) == "We accept Visa and PayPal."  # digits and slot placeholders go


def test_the_loss_skips_padding_and_matches_the_full_projection() -> None:
    torch.manual_seed(0)
    decoder = AnswerDecoder(DecoderConfig(vocab_size=50, memory_dim=8, n_intents=3, n_layer=1, n_head=2, n_embd=16, max_len=12, dropout=0.0))
    ids = torch.tensor([[1, 5, 6, 7, 2], [1, 9, 2, 0, 0]])  # [BOS] ... [EOS] [PAD]
    memory = GenerationMemory(torch.randn(2, 4, 8), torch.ones(2, 4, dtype=torch.bool), torch.tensor([0, 2]))
    logits = decoder(ids[:, :-1], memory)
    expected = F.cross_entropy(logits.reshape(-1, 50), ids[:, 1:].masked_fill(ids[:, 1:] == 0, -100).reshape(-1), ignore_index=-100)
    assert torch.allclose(decoder.loss(ids, memory, pad_id=0), expected, atol=1e-6)


def test_the_report_says_how_fast_and_how_the_classifier_fitted(generation_model: Path) -> None:
    report = json.loads((generation_model / "decoder.json").read_text(encoding="utf-8"))["report"]
    assert report["tokens_per_second"] > 0 and isinstance(report["bf16_autocast"], bool)
    assert report["answer_intent"]["train_accuracy"] > 0.9


def test_training_without_a_terminal_logs_plain_progress_lines(tiny_model: Path, generation_project: Path, tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    # kefu run trains the decoder in the background into var/decoder-train.log: no bar is drawn there.
    import shutil

    from nlu_model.generation import train

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model, model_dir)
    monkeypatch.setattr(train, "LOG_LINE_SECONDS", 0.0)
    train.train_generator(model_dir, generation_project, config_name="tiny", overrides={"epochs": 2}, threads=1, progress=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("decoder: step")]
    assert lines and "tok/s" in lines[-1] and "of at most 1 min" in lines[-1]

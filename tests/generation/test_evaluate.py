from __future__ import annotations

from nlu_model.generation.evaluate import passage_recall, rouge_l
from nlu_model.generation.pairs import GenerationPair, bitext_splits, stratified_split


def test_rouge_l_is_lcs_f1_over_words() -> None:
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("", "anything") == 0.0
    # LCS "the sat" = 2 of 3 words each side.
    assert abs(rouge_l("the cat sat", "the dog sat") - 2 / 3) < 1e-9
    assert rouge_l("退款到账", "退款已到账") > 0.8


def test_split_is_stratified_and_fixed_by_seed() -> None:
    pairs = [GenerationPair(f"q{i}", intent, "a") for intent in ("a", "b") for i in range(20)]
    train, held = stratified_split(pairs, 0.1, seed=3)
    assert sorted(p.intent for p in held) == ["a", "a", "b", "b"]
    assert stratified_split(pairs, 0.1, seed=3) == (train, held)
    assert not {p.utterance + p.intent for p in held} & {p.utterance + p.intent for p in train}


def test_the_tuning_split_leaves_the_held_out_split_unchanged() -> None:
    pairs = [GenerationPair(f"q{i}", intent, "a") for intent in ("a", "b") for i in range(40)]
    train, tuning, held = bitext_splits(pairs, held_out_fraction=0.1, tuning_fraction=0.05, seed=3)
    assert held == stratified_split(pairs, 0.1, seed=3)[1]
    assert sorted(p.intent for p in tuning) == ["a", "a", "b", "b"]
    assert len(train) + len(tuning) + len(held) == len(pairs)
    assert not {p.utterance + p.intent for p in tuning} & {p.utterance + p.intent for p in train + held}
    assert bitext_splits(pairs, held_out_fraction=0.1, tuning_fraction=0.0, seed=3)[1] == []


def test_passage_recall_counts_the_passage_words_an_answer_repeats_in_order() -> None:
    passage = "We accept Visa and PayPal."
    assert passage_recall("Sure! We accept Visa and PayPal. Anything else?", passage) == 1.0
    assert passage_recall("PayPal and Visa", passage) == 1 / 5  # in order: only one of them
    assert passage_recall("Please give us your order number.", passage) == 0.0

from __future__ import annotations

import torch

from nlu_model.calibration import fit_fallback_thresholds, fit_path_weight, fit_temperature


def _labels_and_good_logits(n: int = 600, k: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=generator)
    logits = torch.randn(n, k, generator=generator)
    logits[torch.arange(n), labels] += 2.0
    return labels, logits


def test_temperature_softens_overconfident_logits() -> None:
    labels, logits = _labels_and_good_logits()
    plain = fit_temperature(logits, labels)
    assert 0.2 < plain < 2.0
    assert abs(fit_temperature(logits * 10, labels) / plain - 10.0) < 0.1  # 10x too sharp: 10x the temperature


def test_path_weight_follows_the_informative_path() -> None:
    labels, informative = _labels_and_good_logits()
    noise = torch.randn(informative.shape, generator=torch.Generator().manual_seed(1))
    assert fit_path_weight(informative, noise, labels) >= 0.8
    assert fit_path_weight(noise, informative, labels) <= 0.2


def test_fallback_thresholds_keep_the_fallback_rate_on_correct_examples() -> None:
    labels, logits = _labels_and_good_logits(n=2000)
    probabilities = torch.softmax(logits, dim=1)
    thresholds = fit_fallback_thresholds(probabilities, labels, fallback_rate=0.1)
    top = probabilities.topk(2, dim=1).values
    correct = probabilities.argmax(1) == labels
    falls_back = (top[:, 0] < thresholds["confidence_threshold"]) | (top[:, 0] - top[:, 1] < thresholds["ambiguity_threshold"])
    rate = float(falls_back[correct].float().mean())
    assert 0.04 < rate <= 0.11
    # Wrong answers are less confident, so they fall back more often than right ones.
    assert float(falls_back[~correct].float().mean()) > rate


def test_out_of_scope_examples_set_the_confidence_threshold() -> None:
    labels, logits = _labels_and_good_logits(n=1000, k=6)
    out_of_scope = labels == 5
    logits[out_of_scope] = torch.randn(int(out_of_scope.sum()), 6) * 0.1  # flat: the model has no idea
    probabilities = torch.softmax(logits, dim=1)
    thresholds = fit_fallback_thresholds(probabilities, labels, out_of_scope_ids=frozenset({5}))
    caught = probabilities[out_of_scope].max(1).values < thresholds["confidence_threshold"]
    assert float(caught.float().mean()) > 0.9


def test_out_of_scope_threshold_never_costs_more_than_the_fallback_budget() -> None:
    labels, logits = _labels_and_good_logits(n=1000, k=6, seed=3)
    out_of_scope = labels == 5
    # Out-of-scope examples as confident as the rest: only a ruinous threshold would catch them.
    probabilities = torch.softmax(logits, dim=1)
    thresholds = fit_fallback_thresholds(probabilities, labels, fallback_rate=0.02, out_of_scope_ids=frozenset({5}))
    correct_in_scope = (probabilities.argmax(1) == labels) & ~out_of_scope
    lost = probabilities[correct_in_scope].max(1).values < thresholds["confidence_threshold"]
    assert float(lost.float().mean()) <= 0.025  # the budget, give or take the threshold rounding

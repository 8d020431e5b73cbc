"""Confidence calibration and out-of-scope thresholds, fitted on the validation split.

- `fit_path_weight`: how to mix the encoder and n-gram paths' intent predictions.
- `fit_temperature`: one scalar T so that `softmax(logits / T)` matches how often the model is
  right (Guo et al. 2017); it changes confidences, never the ranking.
- `fit_fallback_thresholds`: the confidence and top-1/top-2 gap below which the Predictor
  answers `nlu_fallback`, chosen so that a set share of correctly classified held-out examples
  would fall back. When the held-out data has out-of-scope examples (`out_of_scope` / `oos`
  intents) the confidence threshold instead maximises in-scope accuracy + out-of-scope recall,
  capped so that no more than the set share of correct in-scope answers fall back.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def _log_loss(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return float(F.cross_entropy(logits / temperature, labels))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature in [0.05, 20] minimising the log-loss of `labels`: a coarse grid in log
    space, then golden-section search between the best point's neighbours (the loss is convex
    in 1/T, so this finds the optimum without gradients)."""
    if len(labels) == 0:
        return 1.0
    with torch.no_grad():
        grid = torch.linspace(math.log(0.05), math.log(20.0), 41).exp().tolist()
        losses = [_log_loss(logits, labels, t) for t in grid]
        best = min(range(len(grid)), key=losses.__getitem__)
        low, high = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
        ratio = (math.sqrt(5) - 1) / 2
        for _ in range(30):
            a, b = high - ratio * (high - low), low + ratio * (high - low)
            if _log_loss(logits, labels, a) < _log_loss(logits, labels, b):
                high = b
            else:
                low = a
    return (low + high) / 2


def fit_path_weight(dense_logits: torch.Tensor, sparse_logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The weight w in [0, 1] of `model.mix_paths` with the lowest held-out log-loss (after
    temperature scaling), searched on a grid: stacking the two paths on data neither saw."""
    with torch.no_grad():
        dense, sparse = F.log_softmax(dense_logits, dim=-1), F.log_softmax(sparse_logits, dim=-1)
        best_weight, best_loss = 0.5, math.inf
        for step in range(21):
            weight = step / 20
            logits = weight * dense + (1 - weight) * sparse  # = mix_paths(dense_logits, sparse_logits, weight)
            loss = _log_loss(logits, labels, fit_temperature(logits, labels))
            if loss < best_loss - 1e-9:
                best_weight, best_loss = weight, loss
    return best_weight


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered))))]


def fit_fallback_thresholds(
    probabilities: torch.Tensor,
    labels: torch.Tensor,
    *,
    fallback_rate: float = 0.02,
    out_of_scope_ids: frozenset[int] = frozenset(),
) -> dict[str, float]:
    """`{"confidence_threshold", "ambiguity_threshold"}` from calibrated held-out probabilities (N, K)."""
    top2 = probabilities.topk(min(2, probabilities.shape[1]), dim=1)
    confidence = top2.values[:, 0]
    gap = top2.values[:, 0] - top2.values[:, 1] if top2.values.shape[1] > 1 else confidence
    predicted = top2.indices[:, 0]
    in_scope = torch.tensor([int(label) not in out_of_scope_ids for label in labels], dtype=torch.bool)
    correct = (predicted == labels) & in_scope
    if not bool(correct.any()):
        return {"confidence_threshold": 0.0, "ambiguity_threshold": 0.0}
    # Half the fallback budget to each rule, so together they stay near `fallback_rate`.
    confidence_threshold = _quantile(confidence[correct].tolist(), fallback_rate / 2)
    ambiguity_threshold = _quantile(gap[correct].tolist(), fallback_rate / 2)
    if bool((~in_scope).any()):
        predicted_oos = torch.tensor([int(p) in out_of_scope_ids for p in predicted], dtype=torch.bool)
        # Capped so that at most `fallback_rate` of correct in-scope answers fall back: a handful
        # of held-out out-of-scope examples should not push every hesitant answer (say, in the
        # bot's smaller second language) to the fallback.
        confidence_threshold = min(
            _best_out_of_scope_threshold(confidence, correct, in_scope, predicted_oos),
            _quantile(confidence[correct].tolist(), fallback_rate),
        )
    return {"confidence_threshold": round(confidence_threshold, 4), "ambiguity_threshold": round(ambiguity_threshold, 4)}


def _best_out_of_scope_threshold(
    confidence: torch.Tensor, correct: torch.Tensor, in_scope: torch.Tensor, predicted_oos: torch.Tensor
) -> float:
    """The lowest threshold maximising in-scope accuracy + out-of-scope recall. An
    out-of-scope example counts as caught when it falls below the threshold *or* the model
    already names the out-of-scope intent (the explicit class does half the work)."""
    best_threshold, best_score = 0.0, -1.0
    in_scope_count = max(1, int(in_scope.sum()))
    out_of_scope_count = max(1, int((~in_scope).sum()))
    for threshold in sorted(set(confidence.tolist())):
        accepted = confidence >= threshold
        caught = ~in_scope & (~accepted | predicted_oos)
        score = float((correct & accepted).sum()) / in_scope_count + float(caught.sum()) / out_of_scope_count
        if score > best_score:
            best_threshold, best_score = threshold, score
    return best_threshold

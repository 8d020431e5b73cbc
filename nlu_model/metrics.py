"""Classification and entity scores, shared by training (validation) and `kefu eval`."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def classification_report(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the gold labels, per-label P/R/F1/support and confused pairs."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    labels = sorted(set(gold))
    true_positive: Counter[str] = Counter()
    false_positive: Counter[str] = Counter()
    false_negative: Counter[str] = Counter()
    confused: Counter[tuple[str, str]] = Counter()
    for g, p in zip(gold, predicted):
        if g == p:
            true_positive[g] += 1
        else:
            false_positive[p] += 1
            false_negative[g] += 1
            confused[(g, p)] += 1
    per_label = {}
    for label in labels:
        scores = _prf(true_positive[label], false_positive[label], false_negative[label])
        scores["support"] = true_positive[label] + false_negative[label]
        per_label[label] = scores
    correct = sum(true_positive.values())
    return {
        "accuracy": correct / len(gold) if gold else 0.0,
        "macro_f1": sum(s["f1"] for s in per_label.values()) / len(per_label) if per_label else 0.0,
        "per_label": per_label,
        "confused_pairs": [
            {"gold": g, "predicted": p, "count": n} for (g, p), n in confused.most_common(10)
        ],
    }


Span = tuple[int, int, str]  # (start, end, entity type)


def entity_report(gold: Iterable[Iterable[Span]], predicted: Iterable[Iterable[Span]]) -> dict[str, Any]:
    """Exact-span entity P/R/F1, micro over all types and per type: a hit needs start, end and type to match."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for gold_spans, predicted_spans in zip(gold, predicted):
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        for span in gold_set & predicted_set:
            tp[span[2]] += 1
        for span in predicted_set - gold_set:
            fp[span[2]] += 1
        for span in gold_set - predicted_set:
            fn[span[2]] += 1
    types = sorted(set(tp) | set(fp) | set(fn))
    report = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    report["per_type"] = {t: {**_prf(tp[t], fp[t], fn[t]), "support": tp[t] + fn[t]} for t in types}
    return report

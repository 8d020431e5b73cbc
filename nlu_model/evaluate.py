"""Evaluate a model on labelled data: `evaluate(predictor, load_training_data(path))` -> report dict.

The report has `accuracy` and `macro_f1` (of the top-ranked intent), `per_intent` P/R/F1,
`confused_pairs`, `latency_ms` (`p50`, `p99` of single-text `parse` calls), `fallback_rate`,
and when the data has them: `in_scope_accuracy`, `oos_recall`, `oos_precision` (out-of-scope
examples are labelled `out_of_scope` or `oos`; predicting `nlu_fallback` counts as out of
scope), `entities` (exact-span P/R/F1, per type) and `sentiment_accuracy`.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from .checkpoint import FALLBACK_INTENT
from .data import OUT_OF_SCOPE_INTENTS, NluData
from .inference import Predictor
from .metrics import classification_report, entity_report
from .plots import save_confusion_matrix

BATCH_SIZE = 64


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[position]


def measure_latency(predictor: Predictor, texts: list[str], *, warmup: int = 10) -> dict[str, float]:
    """Milliseconds of `predictor.parse(text)` at batch size 1: wall clock (p50, p99, mean) and
    this thread's CPU time (`cpu_p50`, `cpu_p99`), which other processes on the machine do not inflate."""
    for text in texts[:warmup]:
        predictor.parse(text)
    wall, cpu = [], []
    for text in texts:
        started, cpu_started = time.perf_counter(), time.thread_time()
        predictor.parse(text)
        wall.append((time.perf_counter() - started) * 1000.0)
        cpu.append((time.thread_time() - cpu_started) * 1000.0)
    return {
        "p50": round(_percentile(wall, 0.50), 3),
        "p99": round(_percentile(wall, 0.99), 3),
        "mean": round(sum(wall) / max(1, len(wall)), 3),
        "cpu_p50": round(_percentile(cpu, 0.50), 3),
        "cpu_p99": round(_percentile(cpu, 0.99), 3),
        "samples": len(wall),
    }


def evaluate(
    predictor: Predictor, data: NluData, *, latency_samples: int = 300, seed: int = 0, confusion_png: Path | None = None
) -> dict[str, Any]:
    """Score `predictor` on every example of `data` (see the module docstring for the keys).

    With `confusion_png`, also draws the intent confusion matrix there (its path is in the report).
    """
    examples = data.examples
    texts = [example.text for example in examples]
    results = []
    for start in range(0, len(texts), BATCH_SIZE):
        results.extend(predictor.parse_batch(texts[start : start + BATCH_SIZE]))
    gold = [example.intent for example in examples]
    top_ranked = [result["intent_ranking"][0]["name"] for result in results]
    final = [result["intent"]["name"] for result in results]

    scores = classification_report(gold, top_ranked)
    report: dict[str, Any] = {
        "examples": len(examples),
        "accuracy": round(scores["accuracy"], 4),
        "macro_f1": round(scores["macro_f1"], 4),
        "accuracy_with_fallback": round(sum(g == f for g, f in zip(gold, final)) / max(1, len(gold)), 4),
        "fallback_rate": round(sum(f == FALLBACK_INTENT for f in final) / max(1, len(final)), 4),
        "per_intent": {name: {k: round(v, 4) for k, v in s.items()} for name, s in scores["per_label"].items()},
        "confused_pairs": scores["confused_pairs"],
    }
    report.update(_out_of_scope_scores(gold, final))
    if confusion_png is not None:
        report["confusion_matrix_png"] = str(save_confusion_matrix(gold, top_ranked, confusion_png))
    if any(example.entities for example in examples):
        report["entities"] = entity_report(
            [[(s.start, s.end, s.entity) for s in example.entities] for example in examples],
            [[(e["start"], e["end"], e["entity"]) for e in result.get("entities", [])] for result in results],
        )
    labelled = [(example.sentiment, result.get("sentiment")) for example, result in zip(examples, results) if example.sentiment]
    if labelled and all(predicted is not None for _, predicted in labelled):
        report["sentiment_accuracy"] = round(sum(g == p["label"] for g, p in labelled) / len(labelled), 4)
    sample = texts[:]
    random.Random(seed).shuffle(sample)
    report["latency_ms"] = measure_latency(predictor, sample[:latency_samples])
    return report


def _out_of_scope_scores(gold: list[str], final: list[str]) -> dict[str, float]:
    def is_out_of_scope(name: str) -> bool:
        return name in OUT_OF_SCOPE_INTENTS or name == FALLBACK_INTENT

    gold_oos = [is_out_of_scope(g) for g in gold]
    if not any(gold_oos):
        return {}
    predicted_oos = [is_out_of_scope(f) for f in final]
    in_scope = [(g, f) for g, f, o in zip(gold, final, gold_oos) if not o]
    caught = sum(g and p for g, p in zip(gold_oos, predicted_oos))
    return {
        "in_scope_accuracy": round(sum(g == f for g, f in in_scope) / max(1, len(in_scope)), 4),
        "oos_recall": round(caught / sum(gold_oos), 4),
        "oos_precision": round(caught / max(1, sum(predicted_oos)), 4),
    }

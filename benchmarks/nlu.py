"""NLU benchmark: train from scratch (or from a pretrained checkpoint) and print one JSON line.

    python benchmarks/nlu.py                              # BANKING77, default config, 1 thread
    python benchmarks/nlu.py --init-from DIR              # start from a local pretrained checkpoint
    python benchmarks/nlu.py --task bitext-entities       # entity F1 on a held-out 20% of Bitext

BANKING77 (`train.csv` / `test.csv`, columns text,category) reports test accuracy and macro-F1,
training wall time, latency p50/p99 of one text at a time (fp32 and int8), the int8 accuracy,
peak RSS and the parameter count. The Bitext task trains on 80% of the annotated rows of
`responses_4514` (split by a fixed seed) and reports exact-span entity P/R/F1 on the rest.
Not part of the test suite: it takes minutes.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from nlu_model.data import NluData, load_training_data  # noqa: E402
from nlu_model.evaluate import measure_latency  # noqa: E402
from nlu_model.inference import Predictor  # noqa: E402
from nlu_model.metrics import classification_report, entity_report  # noqa: E402
from nlu_model.train import train  # noqa: E402

DATASETS = Path("/work/shared/datasets")
BITEXT_CSV = "bitext-customer-support/responses_4514/Bitext_Sample_Customer_Support_Training_Dataset.csv"


def _predict(predictor: Predictor, texts: list[str]) -> list[dict]:
    results: list[dict] = []
    for start in range(0, len(texts), 128):
        results.extend(predictor.parse_batch(texts[start : start + 128]))
    return results


def _latency_keys(latency: dict) -> dict:
    """Wall-clock p50/p99, plus the CPU-time percentiles that a busy machine does not inflate."""
    return {key: latency[key] for key in ("p50", "p99", "cpu_p50", "cpu_p99")}


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux reports KiB


def banking77(args: argparse.Namespace, model_dir: Path) -> dict:
    train_data = load_training_data(args.datasets / "banking77" / "train.csv")
    test_data = load_training_data(args.datasets / "banking77" / "test.csv")
    started = time.perf_counter()
    report = train(train_data, model_dir, config_name=args.config, seed=args.seed, threads=args.threads,
                   init_from=args.init_from, progress=False)
    train_seconds = time.perf_counter() - started
    texts = [example.text for example in test_data.examples]
    gold = [example.intent for example in test_data.examples]
    sample = texts[:]
    random.Random(0).shuffle(sample)
    sample = sample[: args.latency_samples]

    fp32 = Predictor.load(model_dir, threads=args.threads)
    scores = classification_report(gold, [r["intent_ranking"][0]["name"] for r in _predict(fp32, texts)])
    latency = measure_latency(fp32, sample)
    int8 = Predictor.load(model_dir, quantize=True, threads=args.threads)
    int8_scores = classification_report(gold, [r["intent_ranking"][0]["name"] for r in _predict(int8, texts)])
    int8_latency = measure_latency(int8, sample)
    return {
        "task": "banking77",
        "config": args.config,
        "init_from": str(args.init_from) if args.init_from else None,
        "accuracy": round(scores["accuracy"], 4),
        "macro_f1": round(scores["macro_f1"], 4),
        "train_seconds": round(train_seconds, 1),
        "epochs": report["epochs"],
        "train_cpu_seconds": report["train_cpu_seconds"],
        "latency_ms": _latency_keys(latency),
        "int8": {
            "accuracy": round(int8_scores["accuracy"], 4),
            "accuracy_change": round(int8_scores["accuracy"] - scores["accuracy"], 4),
            "latency_ms": _latency_keys(int8_latency),
        },
        "peak_rss_mb": _peak_rss_mb(),
        "parameters": report["parameters"],
        "threads": args.threads,
    }


def bitext_entities(args: argparse.Namespace, model_dir: Path) -> dict:
    data = load_training_data(args.datasets / BITEXT_CSV)
    annotated = [example for example in data.examples if example.entities]
    plain = [example for example in data.examples if not example.entities]
    rng = random.Random(args.seed)
    rng.shuffle(annotated)
    held_out_count = len(annotated) // 5
    test, train_annotated = annotated[:held_out_count], annotated[held_out_count:]
    train_data = NluData(examples=train_annotated + plain)
    started = time.perf_counter()
    report = train(train_data, model_dir, config_name=args.config, seed=args.seed, threads=args.threads,
                   init_from=args.init_from, progress=False)
    train_seconds = time.perf_counter() - started
    predictor = Predictor.load(model_dir, threads=args.threads)
    results = _predict(predictor, [example.text for example in test])
    scores = entity_report(
        [[(s.start, s.end, s.entity) for s in example.entities] for example in test],
        [[(e["start"], e["end"], e["entity"]) for e in result["entities"]] for result in results],
    )
    latency = measure_latency(predictor, [example.text for example in test][: args.latency_samples])
    return {
        "task": "bitext-entities",
        "config": args.config,
        "entity_f1": round(scores["f1"], 4),
        "entity_precision": round(scores["precision"], 4),
        "entity_recall": round(scores["recall"], 4),
        "per_type_f1": {name: round(s["f1"], 4) for name, s in scores["per_type"].items()},
        "held_out_rows": len(test),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": report["train_cpu_seconds"],
        "intent_accuracy_on_held_out": round(
            sum(r["intent_ranking"][0]["name"] == e.intent for r, e in zip(results, test)) / len(test), 4
        ),
        "latency_ms": _latency_keys(latency),
        "parameters": report["parameters"],
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["banking77", "bitext-entities"], default="banking77", help="what to measure")
    parser.add_argument("--datasets", type=Path, default=DATASETS, help="folder holding banking77/ and bitext-customer-support/")
    parser.add_argument("--config", default="default", help="named training config (default: default)")
    parser.add_argument("--init-from", type=Path, default=None, metavar="DIR", help="local pretrained checkpoint or Kefu model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training and inference (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument("--latency-samples", type=int, default=500, help="texts timed one at a time (default: 500)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="keep the model here (default: a temporary folder)")
    args = parser.parse_args(argv)
    run = banking77 if args.task == "banking77" else bitext_entities
    if args.out is not None:
        result = run(args, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-") as folder:
            result = run(args, Path(folder))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

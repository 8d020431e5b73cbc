"""Answer-generation benchmark on the held-out 10 % of Bitext's responses; prints one JSON line.

    python benchmarks/generation.py --model models/default                 # an already trained decoder
    python benchmarks/generation.py --model DIR --train                     # (re)train the decoder first
    python benchmarks/generation.py --model DIR --limit 135 --threads 1     # 5 pairs per intent, quicker
    python benchmarks/generation.py --model DIR --split tuning --repetition-penalty 1.0   # choose decoding options

The split is stratified by intent and fixed by the seed the decoder was trained with (read from
`decoder.json`); training never sees it. One run computes the generated answers, the guard's
decisions and the retrieval baseline (the nearest training answer by encoder embedding), so the
ROUGE-L figures are comparable. Keys: see `nlu_model/generation/evaluate.py`. Decoding options
are chosen on the tuning split (`--split tuning`, also never trained on), never on the held-out one.
Not part of the test suite: a full run writes ~450 answers and takes minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from nlu_model.generation.decoding import DecodingOptions  # noqa: E402
from nlu_model.generation.evaluate import evaluate_generation  # noqa: E402
from nlu_model.generation.pairs import DEFAULT_BITEXT_CSV  # noqa: E402
from nlu_model.generation.train import train_generator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a Kefu model folder (NLU model, and decoder unless --train)")
    parser.add_argument("--project", type=Path, default=REPO_ROOT / "dialogues", help="Rasa project: domain, knowledge/, settings.yml")
    parser.add_argument("--train", action="store_true", help="train the decoder into --model first")
    parser.add_argument("--seed", type=int, default=0, help="training seed, which also fixes the held-out split")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only this many held-out pairs (intents taken in turn)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (latency is measured with this)")
    parser.add_argument("--split", choices=("held_out", "tuning"), default="held_out",
                        help="tuning: the split decoding options are chosen on (never the held-out one)")
    parser.add_argument("--repetition-penalty", type=float, default=None, help="decoding option (default: DecodingOptions')")
    parser.add_argument("--no-repeat-ngram", type=int, default=None, help="decoding option (default: DecodingOptions')")
    args = parser.parse_args()
    chosen = {k: v for k, v in (("repetition_penalty", args.repetition_penalty), ("no_repeat_ngram", args.no_repeat_ngram)) if v is not None}
    torch.set_num_threads(args.threads)
    result: dict = {}
    if args.train:
        started = time.monotonic()
        report = train_generator(args.model, args.project, bitext_csv=DEFAULT_BITEXT_CSV, seed=args.seed, threads=args.threads, progress=sys.stderr.isatty())
        result["train_seconds"] = round(time.monotonic() - started, 1)
        result["train_report"] = {k: report[k] for k in ("pairs", "steps", "epochs_completed", "final_loss", "parameters", "tokens_per_second")}
    started = time.monotonic()
    result.update(evaluate_generation(args.model, args.project, limit=args.limit, split=args.split,
                                      options=DecodingOptions(**chosen) if chosen else None))
    if chosen:
        result["decoding_options"] = chosen
    result["eval_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()

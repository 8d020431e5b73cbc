"""The generation benchmark: held-out Bitext answers, the guard, and a retrieval baseline, in one run.

`evaluate_generation(model_dir, project_dir)` takes the stratified held-out split of Bitext's
responses that training left out (same fraction and seed, read from `decoder.json`), writes an
answer for each held-out utterance and reports (keys are the issue's):
- `rouge_l`: ROUGE-L F1 of the generated answers (before the guard) against the reference,
  written as the references were: Bitext wrote for a generic shop, without our knowledge base;
- `retrieval_rouge_l`: the same for the nearest training answer by encoder embedding;
- `rouge_l_with_knowledge`: ROUGE-L of the answers as served, with the project's knowledge
  base. Where a passage covers the question the answer states our facts, not the generic
  shop's, so this is lower by design; the next two keys say whether the passage was used:
- `knowledge_covered_pairs` / `knowledge_use_rate`: held-out questions whose retrieved passage
  is written for their intent, and the share of their answers that use it (most of the
  passage's words, in order: `passage_recall` >= 0.5); `knowledge_use_rate_shipped` likewise
  for what the guard let through (a template shipped instead does not count as using it);
- `intent_consistency_shipped`: share of shipped answers the answer-intent classifier
  (`answer_intent.py`, the guard's) classifies back to the customer's intent (a template
  shipped instead counts as consistent only if it classifies back too);
- `answer_intent_accuracy_references`: that classifier's accuracy on the held-out reference
  answers (placeholders rendered), which it never saw: how far its verdicts can be trusted;
- `ungrounded_before_guard` / `ungrounded_shipped`: share of answers stating a specific that is
  in neither the conversation, the slots, the settings nor the passage retrieved for it;
- `fallback_rate`: share of answers the guard replaced;
(the guard's figures are for the answers as served, with the knowledge base);
- `first_token_ms` (median time to the first streamed piece) and `answer_150_tokens_ms` (median
  time to write 150 tokens, EOS suppressed; scaled per token when the decoder has fewer
  positions, see `answer_timing_tokens_written`), on this machine's threads.
The customer's intent given to the decoder is the gold label (what a correct parse gives);
slots come from the NLU model's entities, as the bot's `from_entity` mappings would set them.
"""
from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from .decoding import AnswerGenerator, AnswerRequest, DecodingOptions
from .guard import find_specifics
from .pairs import DEFAULT_BITEXT_CSV, GenerationPair, bitext_splits, intent_responses, load_bitext_pairs, response_texts
from .placeholders import PlaceholderValues, render

_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> list[str]:
    # CJK has no spaces: every ideograph counts as one word.
    return [w for token in _WORD.findall(text.lower()) for w in (list(token) if re.search(r"[\u3400-\u9fff]", token) else [token])]


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 (longest common subsequence of lower-cased words)."""
    a, b = _words(candidate), _words(reference)
    if not a or not b:
        return 0.0
    lcs = _lcs(a, b)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def english_templates(project_dir: str | Path) -> dict[str, str]:
    """Intent -> its English template text (the guard's fallback), from the project's domain."""
    project_dir = Path(project_dir)
    domain = yaml.safe_load((project_dir / "domain.yml").read_text(encoding="utf-8")) or {}
    texts = response_texts(domain)
    return {intent: texts[name]["en"][0] for intent, name in intent_responses(project_dir, domain).items() if texts.get(name, {}).get("en")}


KNOWLEDGE_USE_MIN_RECALL = 0.5


def passage_recall(answer: str, passage: str) -> float:
    """Share of the passage's words the answer repeats in order (LCS / passage length)."""
    a, b = _words(answer), _words(passage)
    return _lcs(a, b) / len(b) if a and b else 0.0


def _slots(generator: AnswerGenerator, utterance: str) -> dict[str, str]:
    return {e["entity"]: str(e["value"]) for e in generator.predictor.parse(utterance).get("entities", [])}


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def evaluate_generation(
    model_dir: str | Path,
    project_dir: str | Path = "dialogues",
    *,
    bitext_csv: str | Path = DEFAULT_BITEXT_CSV,
    limit: int | None = None,
    timing_runs: int = 5,
    progress: Callable[[int, int], None] | None = None,
    split: str = "held_out",
    options: DecodingOptions | None = None,
) -> dict[str, Any]:
    """Run the benchmark; `limit` keeps the first N held-out pairs per the split's order (stratified).

    `split="tuning"` evaluates the tuning split instead (also never trained on: the place to
    choose decoding `options`, which the held-out split must not influence). Raises
    `ValueError` for an unknown split or a decoder trained without a tuning split.
    """
    project_dir = Path(project_dir)
    generator = AnswerGenerator.load(model_dir, knowledge_dir=project_dir / "knowledge", settings_path=project_dir / "settings.yml")
    # The references' condition: the same decoder and settings, no knowledge base.
    without_knowledge = AnswerGenerator(generator.predictor, generator.loaded, settings=generator.settings)
    passages = {p.passage_id: p for p in generator.knowledge.passages} if generator.knowledge else {}
    held = generator_info_split(generator)
    train, tuning, held_out = bitext_splits(load_bitext_pairs(bitext_csv), held_out_fraction=held["fraction"],
                                            tuning_fraction=held["tuning_fraction"], seed=held["seed"])
    if split == "held_out":
        train = train + tuning  # the retrieval baseline may use every answer not held out
    elif split == "tuning" and tuning:
        held_out = tuning
    else:
        raise ValueError(f"split must be 'held_out' or 'tuning' (and the decoder trained with one), not {split!r}")
    total = len(held_out)
    if limit is not None:
        held_out = _stratified_head(held_out, limit)
    templates = english_templates(project_dir)

    # Retrieval baseline: the answer of the most similar training utterance.
    train_vectors = torch.cat([generator.predictor.embed([p.utterance for p in train[i : i + 256]]) for i in range(0, len(train), 256)])
    held_vectors = generator.predictor.embed([p.utterance for p in held_out])
    nearest = (held_vectors @ train_vectors.T).argmax(dim=1).tolist()

    rows: list[dict[str, Any]] = []
    references: list[str] = []
    for index, pair in enumerate(held_out):
        slots = _slots(generator, pair.utterance)
        values = PlaceholderValues.collect(slots, generator.settings.values, generator.settings.sources)
        request = AnswerRequest(pair.utterance, pair.intent, slots, has_template=pair.intent in templates)
        answer = generator.generate(request, options)
        # Without a passage in memory both decoders read the same: greedy decoding writes the same.
        plain = without_knowledge.generate(request, options) if answer.passage_id else answer
        passage = passages.get(answer.passage_id) if answer.passage_id else None
        covered = passage is not None and pair.intent in passage.intents
        reference = render(pair.answer, values)
        references.append(reference)
        retrieved = render(train[nearest[index]].answer, values)
        shipped_text = answer.text if answer.shipped else templates.get(pair.intent, "")
        facts = generator.known_facts(request, passage)
        shipped_intent = answer.verdict.answer_intent if answer.shipped else (
            generator.answer_intent.classify([shipped_text])[0] if shipped_text else None)
        rows.append({
            "rouge_l": rouge_l(plain.generated_text, reference),
            "rouge_l_with_knowledge": rouge_l(answer.generated_text, reference),
            "covered": covered,
            "uses_knowledge": covered and passage_recall(answer.generated_text, passage.text) >= KNOWLEDGE_USE_MIN_RECALL,
            "uses_knowledge_shipped": covered and passage_recall(shipped_text, passage.text) >= KNOWLEDGE_USE_MIN_RECALL,
            "rouge_l_shipped": rouge_l(shipped_text, reference),
            "retrieval_rouge_l": rouge_l(retrieved, reference),
            "consistent_generated": answer.verdict.intent_consistent,
            "consistent_shipped": shipped_intent == pair.intent,
            "ungrounded_before": bool(answer.verdict.ungrounded),
            "ungrounded_shipped": bool(facts.ungrounded(shipped_text)) if shipped_text else False,
            "specifics_generated": len(find_specifics(answer.generated_text)),
            "fallback": not answer.shipped,
            "first_token_ms": answer.first_piece_ms,
            "confidence": answer.verdict.confidence,
        })
        if progress is not None:
            progress(index + 1, len(held_out))

    # A decoder with fewer than 150 positions cannot write 150 tokens: time the longest answer it
    # can write and scale per token (the KV cache makes each step cost about the same).
    timed_tokens = min(150, generator.decoder.config.max_len - 1)
    timing = [generator.generate(AnswerRequest(p.utterance, p.intent), DecodingOptions(max_new_tokens=timed_tokens, min_new_tokens=timed_tokens))
              for p in held_out[:timing_runs]]
    reference_accuracy = generator.answer_intent.accuracy(references, [p.intent for p in held_out])
    per_token_ms = statistics.median(a.total_ms / max(a.tokens, 1) for a in timing) if timing else None
    count = len(rows)

    def share(key: str) -> float:
        return round(sum(1 for r in rows if r[key]) / count, 4) if count else 0.0

    def mean(key: str) -> float:
        return round(sum(r[key] for r in rows) / count, 4) if count else 0.0

    covered = [r for r in rows if r["covered"]]

    def covered_share(key: str) -> float | None:
        return round(sum(1 for r in covered if r[key]) / len(covered), 4) if covered else None

    return {
        "split": split,
        "held_out_pairs": count,
        "held_out_total": total,
        "rouge_l": mean("rouge_l"),
        "rouge_l_shipped": mean("rouge_l_shipped"),
        "retrieval_rouge_l": mean("retrieval_rouge_l"),
        "rouge_l_with_knowledge": mean("rouge_l_with_knowledge"),
        "knowledge_covered_pairs": len(covered),
        "knowledge_use_rate": covered_share("uses_knowledge"),
        "knowledge_use_rate_shipped": covered_share("uses_knowledge_shipped"),
        "intent_consistency_generated": share("consistent_generated"),
        "intent_consistency_shipped": share("consistent_shipped"),
        "answer_intent_accuracy_references": round(reference_accuracy, 4),
        "ungrounded_before_guard": share("ungrounded_before"),
        "ungrounded_shipped": share("ungrounded_shipped"),
        "fallback_rate": share("fallback"),
        "mean_confidence": mean("confidence"),
        "first_token_ms": _median([r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]),
        "answer_150_tokens_ms": round(per_token_ms * 150, 1) if per_token_ms is not None else None,
        "answer_timing_tokens_written": timed_tokens,  # < 150: answer_150_tokens_ms is scaled from this many
        "answer_timing_measured_ms": _median([a.total_ms for a in timing]),
        "threads": torch.get_num_threads(),
    }


def generator_info_split(generator: AnswerGenerator) -> dict[str, Any]:
    """The held-out and tuning fractions and the seed the decoder was trained with (so the splits are the same)."""
    held = generator.decoder_info.get("held_out", {})
    tuning = generator.decoder_info.get("tuning", {})
    return {"fraction": held.get("bitext_fraction", 0.1), "seed": held.get("seed", 0), "tuning_fraction": tuning.get("bitext_fraction", 0.0)}


def _stratified_head(pairs: Sequence[GenerationPair], limit: int) -> list[GenerationPair]:
    """Up to `limit` pairs taking intents in turn, so a short run still covers every intent."""
    by_intent: dict[str, list[GenerationPair]] = {}
    for pair in pairs:
        by_intent.setdefault(pair.intent, []).append(pair)
    out: list[GenerationPair] = []
    round_index = 0
    while len(out) < limit and any(round_index < len(g) for g in by_intent.values()):
        for intent in sorted(by_intent):
            if round_index < len(by_intent[intent]) and len(out) < limit:
                out.append(by_intent[intent][round_index])
        round_index += 1
    return out

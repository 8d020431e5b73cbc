"""Training the answer decoder on top of a trained (frozen) NLU encoder.

```python
report = train_generator("models/default", "dialogues", bitext_csv=DEFAULT_BITEXT_CSV, seed=0, threads=None, progress=True)
```
Reads the model folder's encoder, gathers pairs (Bitext's responses minus the held-out split,
the project's responses, the knowledge base), trains the answer tokenizer and the decoder with
cross-entropy, and writes `decoder.safetensors`, `decoder.json`, `decoder_tokenizer.json`
beside the NLU model, then the answer-intent classifier the guard uses (`answer_intent.py`).
The encoder stays frozen, so its states are computed once per text.
"""
from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..decoder import AnswerDecoder, DecoderConfig
from ..encoding import pad
from ..inference import Predictor
from .answer_intent import AnswerIntentTraining, train_answer_intent_classifier
from .answer_tokenizer import EOS_ID, PAD_ID, encode_answer, train_answer_tokenizer
from .artefacts import load_decoder, save_answer_intent, save_decoder
from .guard import GuardThresholds, KnownFacts
from .knowledge import KnowledgeBase, Passage, load_passages
from .memory import MemoryEncoder, build_memory
from .pairs import (BITEXT_LICENSE, FROM_BITEXT, READS_PASSAGE, GenerationPair, bitext_splits, grounded_answer,
                    knowledge_pairs, load_bitext_pairs, load_project_pairs, project_answers)
from .placeholders import PLACEHOLDER, PlaceholderValues, placeholders_for_values, render
from .settings import ShopSettings, load_settings


LOG_LINE_SECONDS = 60.0


class NoAnswerPairsError(ValueError):
    """The project has no responses, answer CSV or knowledge passages to learn answers from."""


@dataclass(frozen=True)
class GeneratorConfig:
    # Sized for 2 CPU cores: ~1.8M parameters. Measured on one thread of this 2-core machine with
    # bf16 autocast: ~10,000 tokens/s, about 25 epochs in the 25-minute budget (the budget ends
    # the run, with the schedule's end). A decoder trained with these settings scored ROUGE-L
    # 0.3875 against retrieval's 0.3572 on the held-out split (benchmarks/generation.py).
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 192
    max_len: int = 192  # answer tokens trained on; longer answers are cut (and lose their EOS)
    vocab_size: int = 3000
    dropout: float = 0.1
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    epochs: int = 30
    max_minutes: float = 25.0  # training stops (cleanly, with the schedule's end) after this long
    knowledge_repeats: int = 3  # knowledge pairs are few and must be learnt word for word
    held_out_fraction: float = 0.1  # Bitext pairs held out for `benchmarks/generation.py`
    tuning_fraction: float = 0.03  # of the rest, not trained on either: decoding options are tuned there
    # A passage that retrieval gave a pair (as_served) is left out of memory this share of the
    # time, so the decoder also answers without it (no knowledge base, or one edited since).
    retrieved_passage_dropout: float = 0.25
    # Questions the knowledge base covers (as_served): each is trained both ways, on Bitext's
    # answer rewritten around the passage (pairs.grounded_answer, passage in memory) and on
    # Bitext's own answer (no passage). Chosen on the tuning split, 25-minute runs on one
    # thread: both ways ROUGE-L 0.383 (no knowledge base) with 97 % of covered answers shipped
    # using their passage; 50/50 split 0.366 and 88 %; 75/25 split 0.356. Without `both_ways`,
    # `grounded_share` of them get the rewritten answer and the rest Bitext's.
    covered_both_ways: bool = True
    grounded_share: float = 0.75
    domain_examples_per_intent: int = 12
    autocast_bf16: bool = True  # bfloat16 matmuls where the CPU has them (about twice the tokens/s)
    answer_intent_epochs: int = 30


GENERATOR_CONFIGS: dict[str, GeneratorConfig] = {
    "default": GeneratorConfig(),
    # seconds on a handful of pairs: the tests
    "tiny": GeneratorConfig(n_layer=1, n_head=2, n_embd=64, max_len=48, vocab_size=400, batch_size=8,
                            learning_rate=5e-3, warmup_steps=5, epochs=40, max_minutes=1.0, knowledge_repeats=2),
}


def gather_pairs(data_path: str | Path | None, *, bitext_csv: str | Path | None, knowledge_dir: str | Path | None,
                 config: GeneratorConfig, seed: int) -> tuple[list[GenerationPair], list, dict[str, int]]:
    """Training pairs, the knowledge passages, and how many pairs came from each source."""
    pairs: list[GenerationPair] = []
    counts: dict[str, int] = {}
    if bitext_csv is not None and Path(bitext_csv).is_file():
        train_pairs, tuning, _ = bitext_splits(load_bitext_pairs(bitext_csv), held_out_fraction=config.held_out_fraction,
                                               tuning_fraction=config.tuning_fraction, seed=seed)
        pairs += train_pairs
        counts["bitext"] = len(train_pairs)
        counts["bitext_tuning"] = len(tuning)
    if data_path is not None and Path(data_path).is_dir():
        # Where Bitext answers an intent in English (~150 answers each), the project's one
        # template would be that intent's single most frequent answer, and greedy decoding
        # writes the mode: the template for every question (ROUGE-L 0.13 on `review`). It
        # stays the guard's fallback; its Chinese and the intents Bitext lacks are learnt.
        covered = {(p.intent, "en") for p in pairs if p.source == "bitext"}
        project = load_project_pairs(data_path, per_intent=config.domain_examples_per_intent, seed=seed, skip=covered)
        pairs += project
        counts["domain"] = len(project)
        if knowledge_dir is None:
            knowledge_dir = Path(data_path) / "knowledge"
    passages = load_passages(knowledge_dir) if knowledge_dir is not None else []
    knowledge = knowledge_pairs(passages)
    pairs += knowledge * config.knowledge_repeats
    counts["knowledge"] = len(knowledge)
    return pairs, passages, counts


def as_served(pairs: list[GenerationPair], passages: list[Passage], predictor: Predictor, settings: ShopSettings,
              vectors: dict[str, torch.Tensor], *, grounded_share: float = 1.0, both_ways: bool = False,
              seed: int = 0) -> tuple[list[GenerationPair], int]:
    """The pairs as the decoder meets them when answering, so that training and serving agree.

    - A value the customer stated and the NLU model extracts (an order number, a name) is
      written as its slot's placeholder in the answer: the bot fills it from that slot.
    - A pair without a passage gets the one retrieval gives its utterance and intent (or none):
      at serving time a Bitext-style question often retrieves a passage, and a decoder that
      only ever saw passages with knowledge questions would recite the passage instead.
    - Where that passage is written for the pair's intent, the knowledge base covers the
      question, and the answer must use it: `grounded_share` of those Bitext answers become
      `pairs.grounded_answer` (source "grounded"); the rest keep Bitext's answer and lose the
      passage, so the decoder still answers where a shop has no such passage. `both_ways`
      trains every such question both ways instead (one pair more each).
    - A Bitext answer that still states a specific the guard could not ground (Bitext sometimes
      mangles the customer's number, 3707955617 -> 370795561790, or names a price nobody
      gave; ~3 % of answers) is left out: it would teach the decoder to invent facts.
    `vectors`: the utterances' pooled encoder vectors (as `Predictor.embed`). Returns the
    pairs and how many were left out.
    """
    utterances = sorted({p.utterance for p in pairs if p.source != "knowledge"})
    slots: dict[str, dict[str, str]] = {}
    for start in range(0, len(utterances), 256):
        for parse in predictor.parse_batch(utterances[start : start + 256]):
            slots[parse["text"]] = {e["entity"]: str(e["value"]) for e in parse["entities"]}
    knowledge = KnowledgeBase(passages, predictor.embed) if passages else None
    known = KnownFacts([*settings.values.values(), knowledge.all_text() if knowledge else ""])
    rng = random.Random(seed)
    served: list[GenerationPair] = []
    left_out = 0

    def keep(pair: GenerationPair) -> None:
        nonlocal left_out
        if pair.source in FROM_BITEXT and known.extended([pair.utterance]).ungrounded(PLACEHOLDER.sub("", pair.answer)):
            left_out += 1
        else:
            served.append(pair)

    for pair in pairs:
        if pair.source != "knowledge":
            pair = replace(pair, answer=placeholders_for_values(pair.answer, slots[pair.utterance], settings.sources))
        if pair.passage_id is None and knowledge is not None:
            hit = knowledge.retrieve(pair.utterance, intent=pair.intent, query_vector=vectors[pair.utterance])
            if hit is not None and pair.source == "bitext" and pair.intent in hit.passage.intents:
                if both_ways:
                    keep(pair)  # Bitext's answer, no passage in memory
                if both_ways or rng.random() < grounded_share:
                    pair = replace(pair, answer=grounded_answer(pair.answer, hit.passage), source="grounded")
                else:
                    hit = None
            pair = replace(pair, passage_id=hit.passage.passage_id if hit else None)
        keep(pair)
    return served, left_out


def answer_intent_examples(pairs: list[GenerationPair], data_path: str | Path | None, intents: list[str],
                           values: PlaceholderValues) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(Bitext answers, the project's own answers): `(rendered answer, intent)`, each text once per intent.

    Bitext's come from the decoder's training pairs (the held-out split stays unseen); the
    project's are all its responses that answer an intent, in every language (the templates
    the guard falls back to), and the knowledge passages that name an intent.
    """
    known = set(intents)
    bitext: dict[tuple[str, str], None] = {}
    own: dict[tuple[str, str], None] = {}
    for pair in pairs:
        if pair.intent in known and pair.source != "domain":
            (bitext if pair.source in FROM_BITEXT else own)[(render(pair.answer, values), pair.intent)] = None
    responses = project_answers(data_path) if data_path is not None and Path(data_path).is_dir() else {}
    for (intent, _), texts in sorted(responses.items()):
        for text in texts:
            if intent in known:
                own[(render(text, values), intent)] = None
    return list(bitext), list(own)


def bf16_autocast_available() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# Batches are padded to a multiple of this many positions: oneDNN keeps a kernel per matrix
# shape, and a new shape for every batch length grew a training run to ~6 GB.
SHAPE_MULTIPLE = 16


def _padded(rows: list[list[int]], max_len: int) -> torch.Tensor:
    """(B, T) ids, right-padded; the T-1 positions the decoder reads rounded up to SHAPE_MULTIPLE (at most max_len)."""
    read = min(-(-(max(len(r) for r in rows) - 1) // SHAPE_MULTIPLE) * SHAPE_MULTIPLE, max_len)
    return pad([r + [PAD_ID] * (read + 1 - len(r)) for r in rows], value=PAD_ID)


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar answer lengths (less padding), in random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def train_generator(
    model_dir: str | Path,
    data_path: str | Path | None = None,
    *,
    bitext_csv: str | Path | None = None,
    knowledge_dir: str | Path | None = None,
    config_name: str = "default",
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and save the decoder for the NLU model in `model_dir`; returns the training report.

    `resume=True` continues training the decoder already in `model_dir` (its vocabulary and
    weights) for another run of the schedule, e.g. when a time budget cut the first run short.
    `data_path` is the Rasa project (its responses, NLU examples, `knowledge/` and `settings.yml`);
    `bitext_csv` adds Bitext's responses (the default bot passes `pairs.DEFAULT_BITEXT_CSV`; a
    plain Rasa project trains on its own responses only). The answer-intent classifier is
    trained afterwards on the same answers (`answer_intent.py`). Load the result with
    `decoding.AnswerGenerator.load`. Raises `ValueError` when there are no pairs.
    """
    config = replace(GENERATOR_CONFIGS[config_name], **(overrides or {}))
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    started = time.monotonic()
    model_dir = Path(model_dir)
    predictor = Predictor.load(model_dir)
    pairs, passages, counts = gather_pairs(data_path, bitext_csv=bitext_csv, knowledge_dir=knowledge_dir, config=config, seed=seed)
    if not pairs:
        raise NoAnswerPairsError("no training pairs for the answer decoder: no responses, Bitext file or knowledge passages found")
    settings = load_settings(Path(data_path) if data_path is not None else None)
    memory_encoder = MemoryEncoder(predictor, predictor.labels)
    utterances = sorted({p.utterance for p in pairs})
    encoded = memory_encoder.encode(utterances)
    utterance_states = dict(zip(utterances, encoded.states))
    pairs, counts["bitext_ungrounded_left_out"] = as_served(pairs, passages, predictor, settings, dict(zip(utterances, encoded.pooled)),
                                                            grounded_share=config.grounded_share,
                                                            both_ways=config.covered_both_ways, seed=seed)
    counts["grounded"] = sum(1 for p in pairs if p.source == "grounded")

    previous = load_decoder(model_dir) if resume else None
    if previous is not None:
        tokenizer = previous.tokenizer
    else:
        tokenizer = train_answer_tokenizer([p.answer for p in pairs] + [p.text for p in passages], vocab_size=config.vocab_size)
    passage_states = dict(zip([p.passage_id for p in passages], memory_encoder.encode([p.text for p in passages]).states))
    targets = [encode_answer(tokenizer, p.answer, config.max_len) for p in pairs]

    decoder_config = DecoderConfig(
        vocab_size=tokenizer.get_vocab_size(), memory_dim=predictor.model.config.n_embd, n_intents=memory_encoder.n_intents,
        n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd, max_len=config.max_len, dropout=config.dropout,
    )
    decoder = AnswerDecoder(decoder_config)
    earlier_steps = 0
    if previous is not None:
        if previous.decoder.config != decoder_config:
            raise ValueError(f"cannot resume: the saved decoder's config {previous.decoder.config} differs from {decoder_config}")
        decoder = previous.decoder
        earlier_steps = int(previous.info.get("report", {}).get("total_steps", previous.info.get("report", {}).get("steps", 0)))
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(pairs) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    budget = config.max_minutes * 60
    autocast = config.autocast_bf16 and bf16_autocast_available()

    def learning_rate(step: int, elapsed_share: float) -> float:
        # Cosine decay over whichever ends first, the epochs or the time budget, so a run cut
        # by the budget still ends on a low learning rate.
        share = max(step / max(total_steps, 1), elapsed_share)
        warm = min(1.0, (step + 1) / config.warmup_steps)
        return config.learning_rate * warm * 0.5 * (1 + math.cos(math.pi * min(share, 1.0)))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("decoder"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.3f}"),
               TextColumn("{task.fields[tps]:,.0f} tok/s"), TimeElapsedColumn(), TimeRemainingColumn()]
    step = 0
    losses: list[float] = []
    tokens_seen = 0
    train_started = time.monotonic()
    stopped_by_budget = False
    # Without a terminal (kefu run's background training writes to var/decoder-train.log) the
    # bar is not drawn: a plain line every LOG_LINE_SECONDS says how far it is instead.
    log_lines = progress and not sys.stdout.isatty()
    last_line = time.monotonic()
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("train", total=total_steps, loss=float("nan"), tps=0.0)
        decoder.train()
        for epoch in range(config.epochs):
            for batch_rows in _batches([len(t) for t in targets], config.batch_size, rng):
                elapsed = time.monotonic() - train_started
                if elapsed > budget:
                    stopped_by_budget = True
                    break
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, elapsed / budget)
                ids = _padded([targets[i] for i in batch_rows], config.max_len)  # (B, T)
                memory = build_memory(
                    [utterance_states[pairs[i].utterance] for i in batch_rows],
                    [passage_states.get(pairs[i].passage_id) if pairs[i].passage_id and (
                        pairs[i].source in READS_PASSAGE or rng.random() >= config.retrieved_passage_dropout) else None
                     for i in batch_rows],
                    [memory_encoder.intent_id(pairs[i].intent) for i in batch_rows],
                    width_multiple=SHAPE_MULTIPLE,
                )
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    loss = decoder.loss(ids, memory, pad_id=PAD_ID)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
                optimizer.step()
                step += 1
                tokens_seen += int((ids[:, 1:] != PAD_ID).sum())
                losses.append(float(loss.detach()))
                recent = sum(losses[-50:]) / len(losses[-50:])
                bar.update(task, advance=1, loss=recent, tps=tokens_seen / max(time.monotonic() - train_started, 1e-6))
                if log_lines and time.monotonic() - last_line >= LOG_LINE_SECONDS:
                    last_line = time.monotonic()
                    print(f"decoder: step {step}/{total_steps}, loss {recent:.3f}, "
                          f"{tokens_seen / max(last_line - train_started, 1e-6):,.0f} tok/s, "
                          f"{(last_line - train_started) / 60:.1f} of at most {config.max_minutes:g} min", flush=True)
            if stopped_by_budget:
                break
    decoder.eval()
    train_seconds = time.monotonic() - train_started
    bitext_answers, own_answers = answer_intent_examples(pairs, data_path, predictor.labels,
                                                         PlaceholderValues.collect({}, settings.values, settings.sources))
    answer_intent, answer_intent_report = train_answer_intent_classifier(
        predictor, bitext_answers, rare=own_answers, seed=seed, training=AnswerIntentTraining(epochs=config.answer_intent_epochs))
    report = {
        "pairs": counts,
        "training_pairs_with_repeats": len(pairs),
        "steps": step,
        "total_steps": earlier_steps + step,  # including earlier runs this one resumed
        "epochs_completed": round(step / steps_per_epoch, 2),
        "stopped_by_time_budget": stopped_by_budget,
        "final_loss": round(sum(losses[-50:]) / max(len(losses[-50:]), 1), 4),
        "tokens_per_second": round(tokens_seen / max(train_seconds, 1e-6)),
        "bf16_autocast": autocast,
        "answer_intent": answer_intent_report,
        "parameters": decoder.num_parameters(),
        "train_seconds": round(time.monotonic() - started, 1),
        "seed": seed,
        "config": {"name": config_name, **asdict(config)},
    }
    info = {
        "report": report,
        "guard": asdict(GuardThresholds()),
        "held_out": {"bitext_fraction": config.held_out_fraction, "seed": seed},
        "tuning": {"bitext_fraction": config.tuning_fraction, "seed": seed + 1},  # of the rest (pairs.bitext_splits)
        "data_licence": BITEXT_LICENSE if counts.get("bitext") else None,
        "data_licence_note": "trained on Bitext customer-support responses (CDLA-Sharing-1.0): the decoder and text derived from it keep that licence" if counts.get("bitext") else None,
        "eos_id": EOS_ID,
    }
    save_decoder(model_dir, decoder, tokenizer, predictor.labels, info)
    save_answer_intent(model_dir, answer_intent, answer_intent_report)
    return report

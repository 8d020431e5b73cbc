"""Training the answer decoder on top of a trained (frozen) NLU encoder.

```python
report = train_generator("models/default", "dialogues", bitext_csv=DEFAULT_BITEXT_CSV, seed=0, threads=None, progress=True)
```
Reads the model folder's encoder, gathers pairs (Bitext's responses minus the held-out split,
the project's responses, the knowledge base), trains the answer tokenizer and the decoder with
cross-entropy, and writes `decoder.safetensors`, `decoder.json`, `decoder_tokenizer.json`
beside the NLU model. The encoder stays frozen, so its states are computed once per text.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ..decoder import AnswerDecoder, DecoderConfig
from ..encoding import pad
from ..inference import Predictor
from .answer_tokenizer import EOS_ID, PAD_ID, encode_answer, train_answer_tokenizer
from .artefacts import load_decoder, save_decoder
from .guard import GuardThresholds
from .knowledge import load_passages
from .memory import MemoryEncoder, build_memory
from .pairs import BITEXT_LICENSE, GenerationPair, knowledge_pairs, load_bitext_pairs, load_project_pairs, stratified_split


class NoAnswerPairsError(ValueError):
    """The project has no responses, answer CSV or knowledge passages to learn answers from."""


@dataclass(frozen=True)
class GeneratorConfig:
    # Sized for 2 CPU cores: ~1.8M parameters. Measured on a 2-core machine shared with other jobs
    # (load ~7): ~560 tokens/s, 1.5 epochs in 22 minutes; the time budget cuts such a run short and
    # resume=True continues it.
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 192
    max_len: int = 128  # answer tokens trained on; longer answers are cut (and lose their EOS)
    vocab_size: int = 3000
    dropout: float = 0.1
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    epochs: int = 4
    max_minutes: float = 22.0  # training stops (cleanly, with the schedule's end) after this long
    knowledge_repeats: int = 8  # knowledge pairs are few and must be learnt word for word
    held_out_fraction: float = 0.1  # Bitext pairs held out for `benchmarks/generation.py`
    domain_examples_per_intent: int = 12


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
        train_pairs, _ = stratified_split(load_bitext_pairs(bitext_csv), config.held_out_fraction, seed)
        pairs += train_pairs
        counts["bitext"] = len(train_pairs)
    if data_path is not None and Path(data_path).is_dir():
        project = load_project_pairs(data_path, per_intent=config.domain_examples_per_intent, seed=seed)
        pairs += project
        counts["domain"] = len(project)
        if knowledge_dir is None:
            knowledge_dir = Path(data_path) / "knowledge"
    passages = load_passages(knowledge_dir) if knowledge_dir is not None else []
    knowledge = knowledge_pairs(passages)
    pairs += knowledge * config.knowledge_repeats
    counts["knowledge"] = len(knowledge)
    return pairs, passages, counts


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
    `data_path` is the Rasa project (its responses, NLU examples and `knowledge/`); `bitext_csv`
    adds Bitext's responses (the default bot passes `pairs.DEFAULT_BITEXT_CSV`; a plain Rasa
    project trains on its own responses only). Raises `ValueError` when there are no pairs.
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

    previous = load_decoder(model_dir) if resume else None
    if previous is not None:
        tokenizer = previous.tokenizer
    else:
        tokenizer = train_answer_tokenizer([p.answer for p in pairs] + [p.text for p in passages], vocab_size=config.vocab_size)
    memory_encoder = MemoryEncoder(predictor, predictor.labels)
    utterances = sorted({p.utterance for p in pairs})
    encoded = memory_encoder.encode(utterances)
    utterance_states = dict(zip(utterances, encoded.states))
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
                ids = pad([targets[i] for i in batch_rows], value=PAD_ID)  # (B, T)
                memory = build_memory(
                    [utterance_states[pairs[i].utterance] for i in batch_rows],
                    [passage_states.get(pairs[i].passage_id) if pairs[i].passage_id else None for i in batch_rows],
                    [memory_encoder.intent_id(pairs[i].intent) for i in batch_rows],
                )
                logits = decoder(ids[:, :-1], memory)  # (B, T-1, V)
                labels = ids[:, 1:].masked_fill(ids[:, 1:] == PAD_ID, -100)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
                optimizer.step()
                step += 1
                tokens_seen += int((labels != -100).sum())
                losses.append(float(loss.detach()))
                recent = sum(losses[-50:]) / len(losses[-50:])
                bar.update(task, advance=1, loss=recent, tps=tokens_seen / max(time.monotonic() - train_started, 1e-6))
            if stopped_by_budget:
                break
    decoder.eval()
    report = {
        "pairs": counts,
        "training_pairs_with_repeats": len(pairs),
        "steps": step,
        "total_steps": earlier_steps + step,  # including earlier runs this one resumed
        "epochs_completed": round(step / steps_per_epoch, 2),
        "stopped_by_time_budget": stopped_by_budget,
        "final_loss": round(sum(losses[-50:]) / max(len(losses[-50:]), 1), 4),
        "parameters": decoder.num_parameters(),
        "train_seconds": round(time.monotonic() - started, 1),
        "seed": seed,
        "config": {"name": config_name, **asdict(config)},
    }
    info = {
        "report": report,
        "guard": asdict(GuardThresholds()),
        "held_out": {"bitext_fraction": config.held_out_fraction, "seed": seed},
        "data_licence": BITEXT_LICENSE if counts.get("bitext") else None,
        "data_licence_note": "trained on Bitext customer-support responses (CDLA-Sharing-1.0): the decoder and text derived from it keep that licence" if counts.get("bitext") else None,
        "eos_id": EOS_ID,
    }
    save_decoder(model_dir, decoder, tokenizer, predictor.labels, info)
    return report

"""Train the NLU model on the CPU: `train(load_training_data(path), Path("models/default"))`.

Reads top to bottom: split the data, fit the tokenizer and n-gram vocabulary, build the
model, run the loop with early stopping on validation accuracy, calibrate on the validation
split, write the model folder (see `checkpoint.py`). Same seed + same thread count = same model.
"""
from __future__ import annotations

import copy
import math
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from tokenizers import Tokenizer
from torch.nn import functional as F

from .calibration import fit_fallback_thresholds, fit_path_weight, fit_temperature
from .checkpoint import KEFU_VERSION, Inference, Labels, is_model_folder, load_model, save_model, warm_start
from .configs import TrainConfig, get_config
from .data import OUT_OF_SCOPE_INTENTS, SENTIMENTS, Example, NluData
from .dataset import EncodedSet, add_frozen_states, collate, encode_examples, length_bucketed_batches
from .encoding import IGNORE_INDEX, bio_tags, entity_label
from .features import NgramFeaturizer
from .metrics import classification_report
from .model import ModelConfig, NluModel, mix_paths
from .quantize import quantize_int8
from .pretrained import PretrainedCheckpointError, is_pretrained_checkpoint, load_pretrained
from .tokenizer import train_tokenizer


class TrainingError(ValueError):
    """Data that a model cannot be trained on (e.g. a single intent), or a bad `init_from`."""


def stratified_split(examples: list[Example], config: TrainConfig, rng: random.Random) -> tuple[list[Example], list[Example]]:
    """Hold out `validation_fraction` of each intent (none from intents with fewer than 3 examples)."""
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    fraction = min(config.validation_fraction, config.max_validation_examples / max(1, len(examples)))
    train_part, validation_part = [], []
    for intent in sorted(by_intent):
        group = by_intent[intent][:]
        rng.shuffle(group)
        held_out = 0 if len(group) < 3 else max(1, round(len(group) * fraction))
        validation_part.extend(group[:held_out])
        train_part.extend(group[held_out:])
    return train_part, validation_part


def build_labels(data: NluData, train_examples: list[Example]) -> Labels:
    entity_labels = sorted({entity_label(span) for example in train_examples for span in example.entities})
    has_sentiment = any(example.sentiment for example in train_examples)
    return Labels(
        intents=data.intents,
        entities=entity_labels,
        tags=bio_tags(entity_labels),
        sentiments=list(SENTIMENTS) if has_sentiment else [],
        synonyms=dict(data.synonyms),
        regexes={name: list(patterns) for name, patterns in data.regexes.items()},
        lookups={name: list(values) for name, values in data.lookups.items()},
    )


def compute_loss(model: NluModel, batch: dict[str, Any], config: TrainConfig) -> torch.Tensor:
    """The training objective of one batch: intents (each path on its own), BIO tags, sentiment."""
    out = model(batch["ids"], batch["mask"], batch["sparse"], batch["encoded"])

    def intent_loss(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, batch["intents"], label_smoothing=config.label_smoothing)

    if out.sparse_intent_logits is None:
        loss = intent_loss(out.intent_logits)
    else:
        loss = config.joint_loss_weight * intent_loss(out.intent_logits) + config.path_loss_weight * (
            intent_loss(out.dense_intent_logits) + intent_loss(out.sparse_intent_logits)
        )
    if model.config.n_entity_tags > 1:
        loss = loss + config.tag_loss_weight * F.cross_entropy(
            out.tag_logits.flatten(0, 1), batch["tags"].flatten(), ignore_index=IGNORE_INDEX
        )
    if out.sentiment_logits is not None and bool((batch["sentiments"] != IGNORE_INDEX).any()):
        per_example = F.cross_entropy(out.sentiment_logits, batch["sentiments"], ignore_index=IGNORE_INDEX, reduction="none")
        weights = torch.where(batch["sentiment_labelled"], 1.0, config.unlabelled_sentiment_weight)
        weights = weights * (batch["sentiments"] != IGNORE_INDEX)
        loss = loss + config.sentiment_loss_weight * (per_example * weights).sum() / weights.sum().clamp(min=1e-6)
    return loss


class SplitPredictions(NamedTuple):
    mixed: torch.Tensor  # (N, K) intent logits the model decides with
    dense: torch.Tensor  # (N, K) encoder path alone
    sparse: torch.Tensor | None  # (N, K) n-gram path alone
    tag_f1: float | None  # token-level F1 of the entity tags other than O; None without entities


@torch.no_grad()
def predict_logits(model: NluModel, encoded: EncodedSet, batch_size: int = 256) -> SplitPredictions:
    """Intent logits of a whole encoded set, in its order, and how well its entity tags came out."""
    model.eval()
    mixed, dense, sparse = [], [], []
    hits = predicted_count = gold_count = 0
    for start in range(0, len(encoded), batch_size):
        batch = collate(encoded, list(range(start, min(start + batch_size, len(encoded)))))
        out = model(batch["ids"], batch["mask"], batch["sparse"], batch["encoded"])
        mixed.append(out.intent_logits)
        dense.append(out.dense_intent_logits)
        if out.sparse_intent_logits is not None:
            sparse.append(out.sparse_intent_logits)
        gold, valid = batch["tags"], batch["tags"] != IGNORE_INDEX
        predicted = out.tag_logits.argmax(-1)
        is_entity_gold, is_entity_predicted = valid & (gold > 0), valid & (predicted > 0)  # tag 0 is "O"
        hits += int((is_entity_gold & (predicted == gold)).sum())
        gold_count += int(is_entity_gold.sum())
        predicted_count += int(is_entity_predicted.sum())
    tag_f1 = 2 * hits / (gold_count + predicted_count) if model.config.n_entity_tags > 1 and gold_count + predicted_count else None
    if not mixed:
        empty = torch.zeros(0, model.config.n_intents)
        return SplitPredictions(empty, empty, None, None)
    return SplitPredictions(torch.cat(mixed), torch.cat(dense), torch.cat(sparse) if sparse else None, tag_f1)


def _accuracy(logits: torch.Tensor, labels: list[int]) -> float:
    if not labels:
        return 0.0
    return float((logits.argmax(1) == torch.tensor(labels)).float().mean())


def _learning_rate(step: int, total: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    warmup = max(1, int(total * config.warmup_fraction))
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(
    data: NluData,
    out_dir: Path,
    *,
    config_name: str = "default",
    seed: int = 0,
    threads: int | None = None,
    init_from: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on `data`, write the model folder to `out_dir` and return the report (also in report.json).

    `init_from` is either a previous Kefu model folder (its tokenizer and n-gram vocabulary are
    reused and its weights copied where they fit; new intents start fresh) or a local
    HuggingFace BERT-family checkpoint such as all-MiniLM-L6-v2 (used as a frozen encoder under
    freshly trained heads). Raises `TrainingError` for data with fewer than two intents or an
    unusable `init_from`, `KeyError` for an unknown config name.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    config = get_config(config_name)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    if len(data.intents) < 2:
        raise TrainingError(f"need at least two intents to train a classifier, got {data.intents}")

    train_examples, validation_examples = stratified_split(data.examples, config, rng)
    labels = build_labels(data, train_examples)
    model, tokenizer, featurizer, frozen_encoder = _build_model(config, labels, train_examples, init_from)

    train_set = encode_examples(train_examples, tokenizer, featurizer, labels, config.max_len)
    validation_set = encode_examples(validation_examples, tokenizer, featurizer, labels, config.max_len)
    if frozen_encoder:
        for parameter in model.encoder.parameters():
            parameter.requires_grad_(False)
        add_frozen_states(model, train_set)
        add_frozen_states(model, validation_set)
    model, history, epochs_run = _fit(model, train_set, validation_set, config, rng, progress)
    inference, validation_scores = _calibrate(model, validation_set, labels, config)

    if config.refit_on_all_data and validation_examples:
        fitted_weight = float(model.dense_weight)
        # The held-out run chose the epoch count, temperature and thresholds; now learn from every
        # example with that recipe (the validation split is too valuable to leave out, ~10%).
        best_epoch = max(h["epoch"] for h in history if h.get("best"))
        all_examples = train_examples + validation_examples
        labels = build_labels(data, all_examples)
        torch.manual_seed(seed)
        model, tokenizer, featurizer, frozen_encoder = _build_model(config, labels, all_examples, init_from)
        full_set = encode_examples(all_examples, tokenizer, featurizer, labels, config.max_len)
        if frozen_encoder:
            for parameter in model.encoder.parameters():
                parameter.requires_grad_(False)
            full_set.states = train_set.states + validation_set.states  # same texts, same frozen encoder
        empty = encode_examples([], tokenizer, featurizer, labels, config.max_len)
        model, refit_history, _ = _fit(model, full_set, empty, config, rng, progress, epochs=best_epoch)
        model.dense_weight.fill_(fitted_weight)
        history.extend({"epoch": h["epoch"], "loss": h["loss"], "refit": True} for h in refit_history)
    train_seconds = time.perf_counter() - started
    report = {
        "kefu_version": KEFU_VERSION,
        "config_name": config_name,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "data": {
            "examples": len(data.examples),
            "train_examples": len(train_examples),
            "validation_examples": len(validation_examples),
            "intents": len(labels.intents),
            "entity_labels": labels.entities,
            "sentiment_labelled": sum(1 for e in data.examples if e.sentiment),
            "vocab_size": tokenizer.get_vocab_size(),
            "ngram_features": len(featurizer) if featurizer is not None else 0,
        },
        "parameters": model.num_parameters(),
        "epochs": epochs_run,  # of the held-out run; `history` also lists a refit on all data
        "history": history,
        "train_seconds": round(train_seconds, 2),
        # CPU time of this process: what train_seconds would be with the cores to ourselves
        "train_cpu_seconds": round(time.process_time() - cpu_started, 2),
        "validation": validation_scores,
        "inference": dict(inference.__dict__),
        "init_from": str(init_from) if init_from else None,
    }
    save_model(
        Path(out_dir),
        model=model,
        tokenizer=tokenizer,
        featurizer=featurizer,
        labels=labels,
        inference=inference,
        train_config={"config_name": config_name, "seed": seed, **config.to_dict()},
        report=report,
    )
    return report


def _build_model(
    config: TrainConfig, labels: Labels, train_examples: list[Example], init_from: Path | None
) -> tuple[NluModel, Tokenizer, NgramFeaturizer | None, bool]:
    """(model, tokenizer, featurizer, frozen encoder?) for training from scratch, from an earlier
    Kefu model (warm start) or from a pretrained BERT-family checkpoint (frozen encoder)."""
    train_texts = [example.text for example in train_examples]
    previous = pretrained = None
    if init_from is not None and is_model_folder(Path(init_from)):
        previous = load_model(init_from)
        tokenizer, featurizer = previous.tokenizer, previous.featurizer
    else:
        if init_from is not None:
            if not is_pretrained_checkpoint(Path(init_from)):
                raise TrainingError(f"--init-from {init_from}: neither a Kefu model folder nor a HuggingFace checkpoint")
            try:
                pretrained = load_pretrained(Path(init_from))
            except PretrainedCheckpointError as exc:
                raise TrainingError(f"--init-from {exc}") from exc
            tokenizer = pretrained.tokenizer
        else:
            tokenizer = train_tokenizer(train_texts, vocab_size=config.vocab_size)
        featurizer = None
        if config.sparse_max_features > 0:
            featurizer = NgramFeaturizer(max_features=config.sparse_max_features).fit(train_texts)

    model_config = ModelConfig(
        vocab_size=tokenizer.get_vocab_size(),
        n_intents=len(labels.intents),
        n_entity_tags=len(labels.tags),
        n_sentiments=len(labels.sentiments),
        n_sparse_features=len(featurizer) if featurizer is not None else 0,
        sparse_dim=config.sparse_dim,
        max_len=config.max_len,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_embd=pretrained.hidden_size if pretrained else config.n_embd,
        dropout=config.dropout,
        pretrained=pretrained.config if pretrained else None,
        dense_hidden=config.pretrained_dense_hidden if pretrained else 0,
    )
    if previous is not None:
        # Keep the previous network's shape so its weights fit; only the label counts change.
        keys = ("n_layer", "n_head", "n_embd", "max_len", "sparse_dim", "pretrained", "dense_hidden")
        shape = {k: previous.config[k] for k in keys if k in previous.config}
        model_config = ModelConfig(**{**model_config.to_dict(), **shape})
    model = NluModel(model_config)
    if previous is not None:
        warm_start(model, previous.model, previous.labels, labels)
    if pretrained is not None:
        model.encoder.load_state_dict(pretrained.state_dict)
    frozen = pretrained is not None or bool(model_config.pretrained)
    return model, tokenizer, featurizer, frozen


def _fit(
    model: NluModel,
    train_set: EncodedSet,
    validation_set: EncodedSet,
    config: TrainConfig,
    rng: random.Random,
    progress: bool,
    *,
    epochs: int | None = None,
) -> tuple[NluModel, list[dict[str, Any]], int]:
    """The training loop; returns the model with its best validation weights restored.

    The best epoch is the one with the best validation score: intent accuracy, averaged with
    the entity tags' F1 when the data has entities. Without `epochs`, small data sets get more
    epochs (and patience) so that training runs at least `config.min_train_steps` steps.
    """
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if p.dim() >= 2 and "wpe" not in n]
    no_decay = [p for n, p in trainable if p.dim() < 2 or "wpe" in n]
    # fused: one kernel per step instead of a dozen temporaries the size of the n-gram matrix,
    # which made the optimizer step 5x slower than forward + backward on CPU.
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
        fused=True,
    )
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    patience = config.patience
    if epochs is None:
        epochs = max(config.max_epochs, math.ceil(config.min_train_steps / max(1, steps_per_epoch)))
        patience = math.ceil(config.patience * epochs / config.max_epochs)
    total_steps = steps_per_epoch * epochs
    best_score, best_state, best_epoch = -1.0, copy.deepcopy(model.state_dict()), 0
    history: list[dict[str, Any]] = []
    step = 0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("epoch {task.fields[epoch]}  loss {task.fields[loss]:.3f}  {task.fields[val_acc]}"),
    )
    description = "training" if len(validation_set) else "refit on all data"
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(description, total=total_steps, epoch=0, loss=float("nan"), val_acc="")
        for epoch in range(1, epochs + 1):
            model.train()
            running = 0.0
            for rows in length_bucketed_batches(train_set, config.batch_size, rng):
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(step, total_steps, config)
                batch = collate(train_set, rows, ngram_dropout=config.ngram_dropout, rng=rng)
                loss = compute_loss(model, batch, config)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
                optimizer.step()
                step += 1
                running = 0.9 * running + 0.1 * loss.item() if running else loss.item()
                bar.update(task, advance=1, epoch=epoch, loss=running)
            entry: dict[str, Any] = {"epoch": epoch, "loss": round(running, 4)}
            if len(validation_set):
                predictions = predict_logits(model, validation_set)
                accuracy = _accuracy(predictions.mixed, validation_set.intents)
                score = accuracy if predictions.tag_f1 is None else (accuracy + predictions.tag_f1) / 2
                entry["validation_accuracy"] = round(accuracy, 4)
                if predictions.tag_f1 is not None:
                    entry["validation_tag_f1"] = round(predictions.tag_f1, 4)
                bar.update(task, val_acc=f"val acc {accuracy:.3f}")
                if score > best_score:
                    best_score, best_state, best_epoch = score, copy.deepcopy(model.state_dict()), epoch
                    entry["best"] = True
                elif epoch - best_epoch >= patience:
                    history.append(entry)
                    bar.update(task, total=step)
                    break
            history.append(entry)
    if len(validation_set):
        model.load_state_dict(best_state)
    model.eval()
    return model, history, len(history)


def _calibrate(model: NluModel, validation_set: EncodedSet, labels: Labels, config: TrainConfig) -> tuple[Inference, dict[str, Any]]:
    """Temperature and fallback thresholds from the validation split, and its scores."""
    if not len(validation_set):
        return Inference(), {}
    logits, dense_logits, sparse_logits, tag_f1 = predict_logits(model, validation_set)
    gold = torch.tensor(validation_set.intents)
    dense_weight = None
    if sparse_logits is not None:
        dense_weight = fit_path_weight(dense_logits, sparse_logits, gold)
        model.dense_weight.fill_(dense_weight)
        logits = mix_paths(dense_logits, sparse_logits, dense_weight)
    temperature = fit_temperature(logits, gold)
    probabilities = torch.softmax(logits / temperature, dim=1)
    out_of_scope_ids = frozenset(i for i, name in enumerate(labels.intents) if name in OUT_OF_SCOPE_INTENTS)
    thresholds = fit_fallback_thresholds(probabilities, gold, fallback_rate=config.fallback_rate, out_of_scope_ids=out_of_scope_ids)
    thresholds = {
        "confidence_threshold": min(thresholds["confidence_threshold"], config.max_confidence_threshold),
        "ambiguity_threshold": min(thresholds["ambiguity_threshold"], config.max_ambiguity_threshold),
    }
    inference = Inference(temperature=round(temperature, 4), **thresholds)
    scores = classification_report(
        [labels.intents[i] for i in validation_set.intents], [labels.intents[i] for i in logits.argmax(1).tolist()]
    )
    validation = {"accuracy": round(scores["accuracy"], 4), "macro_f1": round(scores["macro_f1"], 4)}
    # The accuracy int8 serving (Predictor.load(quantize=True)) would have on the same examples.
    validation["int8_accuracy"] = round(_accuracy(predict_logits(quantize_int8(model), validation_set).mixed, validation_set.intents), 4)
    if tag_f1 is not None:
        validation["tag_f1"] = round(tag_f1, 4)
    if dense_weight is not None:
        validation["dense_weight"] = dense_weight
        validation["dense_path_accuracy"] = round(_accuracy(dense_logits, validation_set.intents), 4)
        validation["sparse_path_accuracy"] = round(_accuracy(sparse_logits, validation_set.intents), 4)
    return inference, validation

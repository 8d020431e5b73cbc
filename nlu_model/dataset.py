"""Encoded training sets and their batches: what the training loop iterates over.

`encode_examples` turns examples into token ids, BIO tag ids, label ids and n-gram vectors once;
with a frozen encoder (a pretrained checkpoint) `add_frozen_states` also runs the encoder once,
so each epoch trains only what is trainable. `collate` builds one batch of tensors.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch

from .checkpoint import Labels
from .data import Example
from .encoding import IGNORE_INDEX, encode_texts, pad, tag_ids_for
from .features import NgramFeaturizer
from .model import EncoderOutput, NluModel, SparseFeatures


@dataclass
class EncodedSet:
    """A split of the examples, encoded once before the loop."""

    ids: list[list[int]]
    tags: list[list[int]]
    intents: list[int]
    sentiments: list[int]
    sentiment_labelled: list[bool]
    sparse: list[tuple[list[int], list[float]]]
    states: list[torch.Tensor] = field(default_factory=list)  # (T, C) per example, from a frozen encoder

    def __len__(self) -> int:
        return len(self.ids)


def encode_examples(examples: list[Example], tokenizer: Any, featurizer: NgramFeaturizer | None, labels: Labels, max_len: int) -> EncodedSet:
    texts = [example.text for example in examples]
    ids, offsets = encode_texts(tokenizer, texts, max_len)
    intent_index = {name: i for i, name in enumerate(labels.intents)}
    tag_index = {name: i for i, name in enumerate(labels.tags)}
    sentiment_index = {name: i for i, name in enumerate(labels.sentiments)}
    return EncodedSet(
        ids=ids,
        tags=[tag_ids_for(o, example.entities, tag_index) for o, example in zip(offsets, examples)],
        intents=[intent_index[example.intent] for example in examples],
        # Once a data set labels some sentiment, an unlabelled example counts as neutral: people
        # mark the angry (or happy) utterances and leave the rest (train.compute_loss weighs
        # these guesses less than real labels).
        sentiments=[sentiment_index.get(example.sentiment or "neutral", IGNORE_INDEX) for example in examples],
        sentiment_labelled=[example.sentiment is not None for example in examples],
        sparse=[featurizer.vector(text) for text in texts] if featurizer is not None else [],
    )


def collate(encoded: EncodedSet, rows: list[int], *, ngram_dropout: float = 0.0, rng: random.Random | None = None) -> dict[str, Any]:
    """One batch of tensors: ids/mask (B, T), tags (B, T), intents (B,), sentiments (B,), sparse.

    `ngram_dropout` (training only) drops that share of each text's n-grams, scaling the rest
    up, so the model cannot lean on any single n-gram: dropout for a bag of features.
    """
    ids = pad([encoded.ids[r] for r in rows])
    lengths = torch.tensor([len(encoded.ids[r]) for r in rows])
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    sparse = None
    if encoded.sparse:
        indices, offsets, weights = [], [], []
        keep = 1.0 - ngram_dropout
        for r in rows:
            offsets.append(len(indices))
            if ngram_dropout > 0 and rng is not None:
                kept = [(i, w / keep) for i, w in zip(*encoded.sparse[r]) if rng.random() < keep]
                indices.extend(i for i, _ in kept)
                weights.extend(w for _, w in kept)
            else:
                indices.extend(encoded.sparse[r][0])
                weights.extend(encoded.sparse[r][1])
        sparse = SparseFeatures(torch.tensor(indices, dtype=torch.long), torch.tensor(offsets, dtype=torch.long), torch.tensor(weights))
    encoded_states = None
    if encoded.states:
        width = ids.shape[1]
        states = torch.stack([pad_states(encoded.states[r], width) for r in rows])  # (B, T, C)
        weights = mask.unsqueeze(-1).to(states.dtype)
        encoded_states = EncoderOutput(states, mask, (states * weights).sum(1) / weights.sum(1).clamp(min=1.0))
    return {
        "encoded": encoded_states,
        "ids": ids,
        "mask": mask,
        "tags": pad([encoded.tags[r] for r in rows], value=IGNORE_INDEX),
        "intents": torch.tensor([encoded.intents[r] for r in rows]),
        "sentiments": torch.tensor([encoded.sentiments[r] for r in rows]),
        "sentiment_labelled": torch.tensor([encoded.sentiment_labelled[r] for r in rows], dtype=torch.bool),
        "sparse": sparse,
    }


def length_bucketed_batches(encoded: EncodedSet, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length examples, so little compute is spent on padding."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda r: len(encoded.ids[r]))
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches




def pad_states(states: torch.Tensor, width: int) -> torch.Tensor:
    """(T, C) -> (width, C), zero rows after the real tokens."""
    return torch.nn.functional.pad(states, (0, 0, 0, width - states.shape[0]))


@torch.no_grad()
def add_frozen_states(model: NluModel, encoded: EncodedSet, batch_size: int = 64) -> None:
    """Run the (frozen) encoder over every example once and keep the per-token states."""
    model.eval()
    order = sorted(range(len(encoded)), key=lambda r: len(encoded.ids[r]))  # little padding
    states: list[torch.Tensor | None] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = pad([encoded.ids[r] for r in rows])
        lengths = torch.tensor([len(encoded.ids[r]) for r in rows])
        mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        output = model.encoder(ids, mask)
        for position, row in enumerate(rows):
            states[row] = output.states[position, : len(encoded.ids[row])].clone()
    encoded.states = [s for s in states if s is not None]

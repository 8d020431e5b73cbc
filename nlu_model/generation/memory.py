"""What the decoder reads: encoder states of the customer's message and of a knowledge passage.

`MemoryEncoder(predictor)` runs the NLU model's encoder (frozen) over texts and builds
`GenerationMemory` batches: message states, then passage states, then padding. The message's
mean-pooled vector comes out of the same pass, so retrieval needs no second encoder call.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..decoder import GenerationMemory
from ..encoding import encode_texts, pad
from ..inference import Predictor


class EncodedTexts(NamedTuple):
    states: list[torch.Tensor]  # one (T_i, C) tensor per text, real tokens only
    pooled: torch.Tensor  # (N, C) L2-normalised sentence vectors (as Predictor.embed)


class MemoryEncoder:
    """Encoder states for the decoder; `unknown_intent` is the index used for intents the NLU model lacks."""

    def __init__(self, predictor: Predictor, intents: Sequence[str]) -> None:
        self.predictor = predictor
        self.intent_index = {name: i for i, name in enumerate(intents)}
        self.unknown_intent = len(intents)

    @property
    def n_intents(self) -> int:
        return self.unknown_intent + 1

    def intent_id(self, intent: str | None) -> int:
        return self.intent_index.get(intent or "", self.unknown_intent)

    def encode(self, texts: Sequence[str], *, batch_size: int = 128) -> EncodedTexts:
        """Per-token states (real tokens only) and pooled vectors of `texts`, in batches."""
        states: list[torch.Tensor] = []
        pooled: list[torch.Tensor] = []
        encoder = self.predictor.model.encoder
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start : start + batch_size])
            ids, _ = encode_texts(self.predictor.tokenizer, chunk, self.predictor.max_len)
            lengths = torch.tensor([len(row) for row in ids])
            batch = pad(ids)
            mask = torch.arange(batch.shape[1])[None, :] < lengths[:, None]
            with torch.inference_mode():
                output = encoder(batch, mask)
            states += [output.states[row, : int(length)].clone() for row, length in enumerate(lengths)]
            pooled.append(F.normalize(output.pooled, dim=-1))
        width = self.predictor.model.config.n_embd
        return EncodedTexts(states, torch.cat(pooled) if pooled else torch.zeros(0, width))


def build_memory(message_states: Sequence[torch.Tensor], passage_states: Sequence[torch.Tensor | None], intents: Sequence[int],
                 *, width_multiple: int = 1) -> GenerationMemory:
    """Pad `[message ; passage]` state sequences into one batch with its mask (width rounded up to `width_multiple`)."""
    rows = [m if p is None else torch.cat([m, p]) for m, p in zip(message_states, passage_states)]
    width = -(-max(r.shape[0] for r in rows) // width_multiple) * width_multiple
    dim = rows[0].shape[1]
    states = torch.zeros(len(rows), width, dim)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for index, row in enumerate(rows):
        states[index, : row.shape[0]] = row
        mask[index, : row.shape[0]] = True
    return GenerationMemory(states, mask, torch.tensor(list(intents), dtype=torch.long))

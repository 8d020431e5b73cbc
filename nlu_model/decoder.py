"""The answer decoder: a small causal transformer that cross-attends to the NLU encoder's states.

Read top to bottom: the config, the attention layers (causal self-attention with a KV cache,
cross-attention whose keys and values are computed once per answer), the block, then the
decoder. Its "memory" is what it may look at while writing: the encoder's per-token states of
the customer's message and of a retrieved knowledge passage, plus one learned vector for the
recognised intent (`GenerationMemory`). Output tokens come from the answer tokenizer
(`nlu_model.generation.answer_tokenizer`), cased and with placeholder tokens such as
`{{Order Number}}`, so the decoder never has to spell a fact: it names the slot.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class DecoderConfig:
    """Everything needed to rebuild the decoder; saved as `decoder.json` beside the weights."""

    vocab_size: int  # answer tokenizer's vocabulary, placeholders included
    memory_dim: int  # the encoder's width (its states are projected to n_embd)
    n_intents: int  # intent embeddings: the NLU model's intents plus one "unknown" row
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 256
    max_len: int = 192  # answer tokens the decoder can write (BOS included)
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DecoderConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class GenerationMemory(NamedTuple):
    states: torch.Tensor  # (B, M, memory_dim) encoder states of message + passage
    mask: torch.Tensor  # (B, M) bool, True on real positions
    intent: torch.Tensor  # (B,) intent index (n_intents - 1 = unknown)


class LayerCache:
    """Self-attention keys/values written so far, and the cross-attention keys/values of the memory."""

    def __init__(self) -> None:
        self.self_k: torch.Tensor | None = None  # (B, nh, t, hs)
        self.self_v: torch.Tensor | None = None
        self.cross_k: torch.Tensor | None = None  # (B, nh, M, hs)
        self.cross_v: torch.Tensor | None = None


class CausalSelfAttention(nn.Module):
    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if cache is not None:
            if cache.self_k is not None:
                k = torch.cat([cache.self_k, k], dim=2)
                v = torch.cat([cache.self_v, v], dim=2)
            cache.self_k, cache.self_v = k, v
        # With a cache the new tokens come last and may see everything before them; a single
        # new token needs no mask at all.
        causal = T > 1
        if causal and k.shape[2] != T:
            raise ValueError("feed several tokens at once only on an empty cache")
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class CrossAttention(nn.Module):
    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.q = nn.Linear(config.n_embd, config.n_embd)
        self.kv = nn.Linear(config.n_embd, 2 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        hs = C // self.n_head
        q = self.q(x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None and cache.cross_k is not None:
            k, v = cache.cross_k, cache.cross_v
        else:
            M = memory.shape[1]
            k, v = self.kv(memory).split(C, dim=2)
            k = k.view(B, M, self.n_head, hs).transpose(1, 2)  # (B, nh, M, hs)
            v = v.view(B, M, self.n_head, hs).transpose(1, 2)
            if cache is not None:
                # The memory does not change while an answer is written: project it once.
                cache.cross_k, cache.cross_v = k, v
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=memory_mask[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class DecoderBlock(nn.Module):
    """Pre-LN: self-attention, cross-attention to the memory, MLP."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.self_attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.cross_attn = CrossAttention(config)
        self.ln_3 = nn.LayerNorm(config.n_embd)
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.fc_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        x = x + self.dropout(self.self_attn(self.ln_1(x), cache))
        x = x + self.dropout(self.cross_attn(self.ln_2(x), memory, memory_mask, cache))
        x = x + self.dropout(self.fc_proj(F.gelu(self.fc(self.ln_3(x)))))
        return x


class AnswerDecoder(nn.Module):
    """`decoder(ids, memory)` -> next-token logits (B, T, vocab); `start_cache` + `step` for serving."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.max_len, config.n_embd)
        self.intent_embedding = nn.Embedding(config.n_intents, config.n_embd)
        self.memory_proj = nn.Linear(config.memory_dim, config.n_embd)
        self.memory_ln = nn.LayerNorm(config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: input and output embeddings share one matrix (fewer parameters, better
        # rare-token estimates on a small corpus).
        self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def encode_memory(self, memory: GenerationMemory) -> tuple[torch.Tensor, torch.Tensor]:
        """Project encoder states to the decoder's width and prepend the intent as one more position."""
        projected = self.memory_proj(memory.states)  # (B, M, C)
        intent = self.intent_embedding(memory.intent).unsqueeze(1)  # (B, 1, C)
        states = self.memory_ln(torch.cat([intent, projected], dim=1))  # (B, 1 + M, C)
        mask = torch.cat([torch.ones_like(memory.mask[:, :1]), memory.mask], dim=1)  # (B, 1 + M)
        return states, mask

    def hidden(self, ids: torch.Tensor, memory: GenerationMemory) -> torch.Tensor:
        """Teacher-forced final states: (B, T) ids -> (B, T, C), before the vocabulary projection."""
        B, T = ids.shape
        states, mask = self.encode_memory(memory)
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(T, device=ids.device)))  # (B, T, C)
        for block in self.blocks:
            x = block(x, states, mask)
        return self.ln_f(x)

    def forward(self, ids: torch.Tensor, memory: GenerationMemory) -> torch.Tensor:
        """Teacher-forced logits: (B, T) ids -> (B, T, vocab)."""
        return self.lm_head(self.hidden(ids, memory))

    def loss(self, ids: torch.Tensor, memory: GenerationMemory, *, pad_id: int, row_multiple: int = 256) -> torch.Tensor:
        """Mean cross-entropy of every next token of `[BOS] answer [EOS] [PAD]...` rows (B, T)."""
        x = self.hidden(ids[:, :-1], memory).flatten(0, 1)  # (B*(T-1), C)
        targets = ids[:, 1:].flatten()  # (B*(T-1),)
        # The vocabulary projection is the costliest layer: run it where a token follows, not
        # over padding. The row count is rounded up to `row_multiple` (a few padding rows,
        # ignored) because oneDNN keeps a kernel per matrix shape: one new shape per batch
        # grew a training run by gigabytes. Log-softmax in float32 even under bfloat16 autocast.
        real_first = torch.argsort((targets == pad_id).to(torch.uint8), stable=True)
        rows = real_first[: -(-int((targets != pad_id).sum()) // row_multiple) * row_multiple]
        logits = self.lm_head(x[rows])  # (N, vocab)
        return F.cross_entropy(logits.float(), targets[rows], ignore_index=pad_id)

    def start_cache(self, memory: GenerationMemory) -> tuple[list[LayerCache], torch.Tensor, torch.Tensor]:
        """Fresh per-layer caches plus the projected memory, for `step`."""
        states, mask = self.encode_memory(memory)
        return [LayerCache() for _ in self.blocks], states, mask

    def step(self, ids: torch.Tensor, position: int, caches: list[LayerCache], states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Feed `ids` (B, t) starting at `position`; returns the logits of the last one (B, vocab)."""
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(position, position + T, device=ids.device))
        for block, cache in zip(self.blocks, caches):
            x = block(x, states, mask, cache)
        return self.lm_head(self.ln_f(x[:, -1]))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # parameters() yields the tied matrix once

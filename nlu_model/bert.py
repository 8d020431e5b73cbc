"""A BERT encoder with HuggingFace's parameter names, for pretrained checkpoints such as
all-MiniLM-L6-v2: their `model.safetensors` loads into `PretrainedEncoder` as is, and serving
never imports `transformers`. Post-LN blocks, GELU, absolute positions, as in BERT.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.nn import functional as F

from .model import EncoderOutput


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (layer(x).view(B, T, self.heads, C // self.heads).transpose(1, 2) for layer in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, nh, T, hs)
        return y.transpose(1, 2).contiguous().view(B, T, C)


class BertDenseNorm(nn.Module):
    """Linear, then LayerNorm over the residual sum (BERT is post-LN)."""

    def __init__(self, inputs: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float) -> None:
        super().__init__()
        self.self = BertSelfAttention(hidden, heads)
        self.output = BertDenseNorm(hidden, hidden, eps)


class BertIntermediate(nn.Module):
    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, intermediate)


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.attention = BertAttention(hidden, heads, eps)
        self.intermediate = BertIntermediate(hidden, intermediate)
        self.output = BertDenseNorm(intermediate, hidden, eps)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention.output(self.attention.self(x, attn_mask), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class BertEmbeddings(nn.Module):
    def __init__(self, vocab: int, positions: int, types: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(positions, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class BertLayers(nn.Module):
    def __init__(self, count: int, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(hidden, heads, intermediate, eps) for _ in range(count))


class PretrainedEncoder(nn.Module):
    """A BERT-family encoder (e.g. all-MiniLM-L6-v2) with HuggingFace's parameter names, so a
    checkpoint's safetensors load as they are, without importing `transformers` at serve time.
    Same interface as `Encoder`: per-token states, mask and the mean-pooled sentence vector."""

    def __init__(self, hf: dict[str, Any]) -> None:
        super().__init__()
        if hf.get("model_type") != "bert" or hf.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"only BERT-family checkpoints with gelu are supported, got {hf.get('model_type')!r}")
        eps = hf.get("layer_norm_eps", 1e-12)
        hidden = hf["hidden_size"]
        self.embeddings = BertEmbeddings(hf["vocab_size"], hf["max_position_embeddings"], hf.get("type_vocab_size", 2), hidden, eps)
        self.encoder = BertLayers(hf["num_hidden_layers"], hidden, hf["num_attention_heads"], hf["intermediate_size"], eps)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        x = self.embeddings(ids)  # (B, T, C)
        attn_mask = mask[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, attn_mask)
        weights = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, C), as sentence-transformers pools
        return EncoderOutput(x, mask, pooled)

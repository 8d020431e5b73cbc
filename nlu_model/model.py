"""Kefu's understanding model: one small transformer encoder with task heads on top.

Read top to bottom: the config, the encoder (token + position embeddings, pre-LN blocks),
then the heads that share it:
- intent: a classifier on the sentence vector, fused with a sparse word/char n-gram path
  (DIET-style: the sparse path learns rare words and typos from few examples, the encoder
  learns word order and context);
- entities: BIO tags on every token;
- sentiment: negative / neutral / positive on the sentence vector.

The encoder returns its per-token states and attention mask (`EncoderOutput`), so an answer
decoder can cross-attend to them later without changing anything here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network; saved as `config.json` beside the weights."""

    vocab_size: int
    n_intents: int
    n_entity_tags: int = 1  # BIO tags including "O"; 1 means the data has no entities
    n_sentiments: int = 0  # 0 = no sentiment head (the data has no sentiment labels)
    n_sparse_features: int = 0  # size of the n-gram vocabulary; 0 = no sparse path
    sparse_dim: int = 256  # width the sparse n-gram bag is projected to
    dense_hidden: int = 0  # hidden units between the encoder's sentence vector and the intents; 0 = linear
    max_len: int = 64  # longer inputs are truncated
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.1
    # A HuggingFace BERT-family config (e.g. all-MiniLM-L6-v2's) when the encoder is a
    # pretrained checkpoint instead of Kefu's own; n_embd is then its hidden size.
    pretrained: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from `config.json`, ignoring keys that are not model hyper-parameters."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class EncoderOutput(NamedTuple):
    states: torch.Tensor  # (B, T, C) per-token states, for the tagger and a future decoder
    mask: torch.Tensor  # (B, T) bool, True on real tokens
    pooled: torch.Tensor  # (B, C) sentence vector: mean of the real tokens' states


class NluOutput(NamedTuple):
    encoded: EncoderOutput
    intent_logits: torch.Tensor  # (B, n_intents)
    tag_logits: torch.Tensor  # (B, T, n_entity_tags)
    sentiment_logits: torch.Tensor | None  # (B, n_sentiments)
    dense_intent_logits: torch.Tensor  # (B, n_intents) the encoder path's share of intent_logits
    sparse_intent_logits: torch.Tensor | None  # (B, n_intents) the n-gram path's share


class SelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        # Bidirectional: every token sees every real token; padding is masked out as keys.
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LN transformer block: stable to train from scratch without learning-rate warm-up tricks."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.ln_1(x), attn_mask))
        x = x + self.mlp(self.ln_2(x))
        return x


class Encoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.max_len, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        B, T = ids.shape
        positions = torch.arange(T, device=ids.device)
        x = self.drop(self.wte(ids) + self.wpe(positions))  # (B, T, C)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, T): broadcast over heads and queries
        for block in self.blocks:
            x = block(x, attn_mask)
        states = self.ln_f(x)  # (B, T, C)
        weights = mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, C)
        return EncoderOutput(states, mask, pooled)


class SparseFeatures(NamedTuple):
    """A batch of sparse n-gram vectors in `nn.EmbeddingBag` form."""

    indices: torch.Tensor  # (N,) feature ids of all texts, concatenated
    offsets: torch.Tensor  # (B,) where each text's ids start in `indices`
    weights: torch.Tensor  # (N,) tf-idf weight of each id


def mix_paths(dense_logits: torch.Tensor, sparse_logits: torch.Tensor, dense_weight: torch.Tensor | float) -> torch.Tensor:
    """Weighted sum of the two paths' log-probabilities (a log-linear pool of two experts)."""
    return dense_weight * F.log_softmax(dense_logits, dim=-1) + (1 - dense_weight) * F.log_softmax(sparse_logits, dim=-1)


class NluModel(nn.Module):
    """The encoder plus intent, entity and sentiment heads. Call `model(ids, mask, sparse)`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.pretrained:
            from .bert import PretrainedEncoder  # bert.py builds on this module's types

            self.encoder: nn.Module = PretrainedEncoder(config.pretrained)
        else:
            self.encoder = Encoder(config)
        self.sparse: nn.EmbeddingBag | None = None
        sentence_dim = config.n_embd
        if config.n_sparse_features > 0:
            # A bag of n-grams times a matrix = a sparse linear layer that never builds the dense one-hot.
            self.sparse = nn.EmbeddingBag(config.n_sparse_features, config.sparse_dim, mode="sum")
            self.sparse_bias = nn.Parameter(torch.zeros(config.sparse_dim))
            self.sparse_intent_head = nn.Linear(config.sparse_dim, config.n_intents)
            sentence_dim += config.sparse_dim
        self.sentence_dropout = nn.Dropout(config.dropout)
        # How much the encoder path counts against the n-gram path in the intent decision;
        # fitted on held-out data after training (calibration.fit_path_weight), saved with the weights.
        self.register_buffer("dense_weight", torch.tensor(0.5))
        # A hidden layer between sentence vector and intents, for frozen pretrained encoders:
        # a purely linear read-out of features nobody trained for this task underfits.
        self.dense_hidden: nn.Module | None = None
        if config.dense_hidden:
            self.dense_hidden = nn.Sequential(nn.Linear(config.n_embd, config.dense_hidden), nn.GELU(), nn.Dropout(config.dropout))
        self.intent_head = nn.Linear(config.dense_hidden or config.n_embd, config.n_intents)
        self.tag_head = nn.Linear(config.n_embd, config.n_entity_tags)
        self.sentiment_head = nn.Linear(sentence_dim, config.n_sentiments) if config.n_sentiments else None
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.EmbeddingBag):
            # Inputs are L2-normalised tf-idf vectors, so a wider init keeps the start out of zero.
            nn.init.normal_(module.weight, mean=0.0, std=1.0 / math.sqrt(module.embedding_dim))

    def sparse_vector(self, sparse: SparseFeatures | None) -> torch.Tensor | None:
        """The projected n-gram bag (B, sparse_dim), or None for a model without the sparse path."""
        if self.sparse is None:
            return None
        if sparse is None:
            raise ValueError("this model has a sparse n-gram path: pass the SparseFeatures of the batch")
        bag = self.sparse(sparse.indices, sparse.offsets, per_sample_weights=sparse.weights)  # (B, sparse_dim)
        return F.gelu(bag + self.sparse_bias)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, sparse: SparseFeatures | None = None, encoded: EncoderOutput | None = None
    ) -> NluOutput:
        """`encoded` skips the encoder with states computed earlier (a frozen encoder's, in training)."""
        if encoded is None:
            encoded = self.encoder(ids, mask)
        pooled = self.sentence_dropout(encoded.pooled)
        bag = self.sparse_vector(sparse)
        # Each path has its own intent head, trained on its own loss (train.compute_loss), and
        # the decision mixes their log-probabilities: an ensemble of two models that see the
        # sentence differently, in one forward pass.
        dense_logits = self.intent_head(self.dense_hidden(pooled) if self.dense_hidden is not None else pooled)
        if bag is None:
            sparse_logits = None
            sentence = pooled
            intent_logits = dense_logits
        else:
            bag = self.sentence_dropout(bag)
            sparse_logits = self.sparse_intent_head(bag)
            sentence = torch.cat([pooled, bag], dim=-1)  # (B, C + sparse_dim)
            intent_logits = mix_paths(dense_logits, sparse_logits, self.dense_weight)
        tag_logits = self.tag_head(encoded.states)
        sentiment_logits = self.sentiment_head(sentence) if self.sentiment_head is not None else None
        return NluOutput(encoded, intent_logits, tag_logits, sentiment_logits, dense_logits, sparse_logits)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

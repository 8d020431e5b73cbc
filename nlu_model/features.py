"""Sparse word and character n-gram features (tf-idf), the model's second view of a sentence.

A transformer trained from scratch on a few thousand sentences misses rare words and typos;
n-grams catch them (`refund` ~ `refnd` share `ref`, `fnd`...). `NgramFeaturizer.fit(texts)`
learns the vocabulary and idf weights, `transform(texts)` returns `SparseFeatures` for
`NluModel`, and `to_dict()` / `from_dict()` store it inside `labels.json`-style JSON.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from .model import SparseFeatures

# A word is a run of letters/digits; each CJK character is a word of its own.
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """NFKC + lower case, as the tokenizer does, so both views see the same text."""
    return unicodedata.normalize("NFKC", text).lower()


class NgramFeaturizer:
    """Word 1-2-grams and in-word character 2-5-grams with sublinear tf-idf, each group L2-normalised."""

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        max_features: int = 60000,
        min_df: int = 2,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_features = max_features
        self.min_df = min_df
        self.vocabulary: dict[str, int] = {}
        self.idf: list[float] = []

    def __len__(self) -> int:
        return len(self.vocabulary)

    def _grams(self, text: str) -> tuple[list[str], list[str]]:
        words = _WORD.findall(normalise(text))
        word_grams = []
        low, high = self.word_ngrams
        for n in range(low, high + 1):
            word_grams.extend("w:" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        char_grams = []
        low, high = self.char_ngrams
        for word in words:
            padded = f" {word} "  # the padding marks word starts and ends, like sklearn's char_wb
            for n in range(low, high + 1):
                char_grams.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
        return word_grams, char_grams

    def fit(self, texts: Sequence[str]) -> NgramFeaturizer:
        """Learn the vocabulary (the `max_features` most frequent n-grams seen in >= `min_df` texts)."""
        document_frequency: Counter[str] = Counter()
        for text in texts:
            word_grams, char_grams = self._grams(text)
            document_frequency.update(set(word_grams) | set(char_grams))
        kept = [(gram, df) for gram, df in document_frequency.items() if df >= self.min_df]
        kept.sort(key=lambda item: (-item[1], item[0]))  # deterministic: by frequency, then text
        kept = kept[: self.max_features]
        count = len(texts)
        self.vocabulary = {gram: index for index, (gram, _) in enumerate(kept)}
        self.idf = [math.log((1 + count) / (1 + df)) + 1.0 for _, df in kept]
        return self

    def vector(self, text: str) -> tuple[list[int], list[float]]:
        """One text's feature ids and weights."""
        indices: list[int] = []
        weights: list[float] = []
        for grams in self._grams(text):
            counts = Counter(self.vocabulary[g] for g in grams if g in self.vocabulary)
            values = {i: (1.0 + math.log(c)) * self.idf[i] for i, c in counts.items()}
            norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
            for index, value in values.items():
                indices.append(index)
                weights.append(value / norm)
        return indices, weights

    def transform(self, texts: Sequence[str]) -> SparseFeatures:
        """A batch in `nn.EmbeddingBag` form."""
        indices: list[int] = []
        offsets: list[int] = []
        weights: list[float] = []
        for text in texts:
            offsets.append(len(indices))
            text_indices, text_weights = self.vector(text)
            indices.extend(text_indices)
            weights.extend(text_weights)
        return SparseFeatures(
            torch.tensor(indices, dtype=torch.long),
            torch.tensor(offsets, dtype=torch.long),
            torch.tensor(weights, dtype=torch.float32),
        )

    def to_dict(self) -> dict[str, Any]:
        grams = [""] * len(self.vocabulary)
        for gram, index in self.vocabulary.items():
            grams[index] = gram
        return {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "max_features": self.max_features,
            "min_df": self.min_df,
            "ngrams": grams,
            "idf": self.idf,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NgramFeaturizer:
        featurizer = cls(
            word_ngrams=tuple(values["word_ngrams"]),
            char_ngrams=tuple(values["char_ngrams"]),
            max_features=values["max_features"],
            min_df=values["min_df"],
        )
        featurizer.vocabulary = {gram: index for index, gram in enumerate(values["ngrams"])}
        featurizer.idf = list(values["idf"])
        return featurizer

"""Serving a trained model: `Predictor.load(model_dir).parse(text)` -> Rasa's `parse_data` dict.

```python
predictor = Predictor.load("models/default")          # < 1 s, no network
predictor.parse("where is my order 123")               # {"text", "language", "intent", ...}
batcher = BatchingPredictor(predictor)                 # for many concurrent conversations
await batcher.parse("hello")                           # micro-batched, off the event loop
batcher.close()
in_child = PredictorProcess("models/default")          # the same parse_batch, in a child process
```
Below the fitted confidence / ambiguity thresholds the intent becomes `nlu_fallback` (the
original ranking is kept), as Rasa's FallbackClassifier does. Raises `ModelFolderError`
when the folder is not a Kefu model.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .batching import BatchingPredictor
from .checkpoint import FALLBACK_INTENT, LoadedModel, ModelFolderError, load_model
from .encoding import decode_entities, encode_texts, pad
from .predictor_process import PredictorProcess  # noqa: F401  (the serving door for servers)
from .model import NluOutput
from .quantize import quantize_int8
from .rule_entities import RuleEntityExtractor, merge_entities

__all__ = ["BatchingPredictor", "FALLBACK_INTENT", "ModelFolderError", "Predictor", "detect_language"]

RANKING_SIZE = 10


IDEOGRAPH = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # CJK ideographs (and compatibility ones)


def detect_language(text: str) -> str:
    """`"zh"` when CJK ideographs outweigh Latin letters (one ideograph ~ one word ~ four letters), else `"en"`."""
    cjk = len(IDEOGRAPH.findall(text))
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    return "zh" if cjk and cjk * 4 >= latin else "en"


class Predictor:
    """A loaded model that parses texts. Thread-safe: forward passes are serialised by a lock."""

    def __init__(self, loaded: LoadedModel, *, quantized: bool = False) -> None:
        self._loaded = loaded
        self.model = quantize_int8(loaded.model) if quantized else loaded.model
        self.model.eval()
        self.quantized = quantized
        self.tokenizer = loaded.tokenizer
        self.featurizer = loaded.featurizer
        self.inference = loaded.inference
        self.max_len = loaded.model.config.max_len
        self.rules = RuleEntityExtractor(loaded.labels.regexes, loaded.labels.lookups, loaded.labels.synonyms)
        self.forward_passes = 0  # how many batched forward passes ran (observability, tests)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: str | Path, *, quantize: bool = False, threads: int | None = None) -> Predictor:
        """Read a model folder written by `kefu train`; `threads` sets torch's intra-op threads."""
        if threads:
            torch.set_num_threads(threads)
        return cls(load_model(model_dir), quantized=quantize)

    @property
    def labels(self) -> list[str]:
        """The intent names the model can predict."""
        return list(self._loaded.labels.intents)

    @property
    def entity_types(self) -> list[str]:
        """Entity names the tagger or the regex / lookup rules can produce."""
        tagged = {label.partition("#")[0] for label in self._loaded.labels.entities}
        return sorted(tagged | set(self._loaded.labels.regexes) | set(self._loaded.labels.lookups))

    def _forward(self, texts: Sequence[str]) -> tuple[NluOutput, list[list[tuple[int, int]]]]:
        ids, offsets = encode_texts(self.tokenizer, texts, self.max_len)
        lengths = torch.tensor([len(row) for row in ids])
        batch = pad(ids)
        mask = torch.arange(batch.shape[1])[None, :] < lengths[:, None]
        sparse = self.featurizer.transform(texts) if self.featurizer is not None else None
        with self._lock, torch.inference_mode():
            output = self.model(batch, mask, sparse)
            self.forward_passes += 1
        return output, offsets

    def parse_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Parse many texts in one forward pass; results in the same order."""
        if not texts:
            return []
        output, offsets = self._forward(texts)
        probabilities = torch.softmax(output.intent_logits / self.inference.temperature, dim=-1)
        ranking = probabilities.topk(min(RANKING_SIZE, probabilities.shape[1]), dim=-1)
        tag_probabilities = torch.softmax(output.tag_logits, dim=-1)
        tag_confidences, tag_ids = tag_probabilities.max(dim=-1)
        sentiments = torch.softmax(output.sentiment_logits, dim=-1) if output.sentiment_logits is not None else None
        results = []
        for row, text in enumerate(texts):
            intent_ranking = [
                {"name": self.labels[i], "confidence": round(float(p), 4)}
                for p, i in zip(ranking.values[row].tolist(), ranking.indices[row].tolist())
            ]
            result: dict[str, Any] = {
                "text": text,
                "language": detect_language(text),
                "intent": self._intent(intent_ranking),
                "intent_ranking": intent_ranking,
                "entities": self._entities(text, offsets[row], tag_ids[row].tolist(), tag_confidences[row].tolist()),
            }
            if sentiments is not None:
                score, index = sentiments[row].max(dim=-1)
                result["sentiment"] = {"label": self._loaded.labels.sentiments[int(index)], "score": round(float(score), 4)}
            results.append(result)
        return results

    def parse(self, text: str) -> dict[str, Any]:
        """Parse one text: `{"text", "language", "intent", "intent_ranking", "entities", "sentiment"?}`."""
        return self.parse_batch([text])[0]

    def _intent(self, ranking: list[dict[str, Any]]) -> dict[str, Any]:
        top = ranking[0]
        gap = top["confidence"] - (ranking[1]["confidence"] if len(ranking) > 1 else 0.0)
        if top["confidence"] < self.inference.confidence_threshold or gap < self.inference.ambiguity_threshold:
            # As Rasa's FallbackClassifier: the fallback's confidence is the threshold itself.
            return {"name": FALLBACK_INTENT, "confidence": self.inference.confidence_threshold}
        return dict(top)

    def _entities(self, text: str, offsets: list[tuple[int, int]], tag_ids: list[int], confidences: list[float]) -> list[dict[str, Any]]:
        tagged = decode_entities(text, offsets, tag_ids, confidences, self._loaded.labels.tags) if len(self._loaded.labels.tags) > 1 else []
        entities = merge_entities(tagged, self.rules.extract(text))
        return [self.rules.canonical(entity) for entity in entities]

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence vectors (N, n_embd): the encoder's mean-pooled states, L2-normalised for cosine search."""
        if not texts:
            return torch.zeros(0, self._loaded.model.config.n_embd)
        output, _ = self._forward(texts)
        return torch.nn.functional.normalize(output.encoded.pooled, dim=-1)

"""The answer-intent classifier: the frozen encoder reads an answer and names the intent it answers.

The NLU model's intent head was trained on what customers write ("where is my parcel?"), so
it misreads what the shop writes back ("You can follow your order under My Account ...").
The guard's intent check needs the other direction, so the decoder gets a classifier of its
own: the NLU encoder (frozen) reads the whole answer in windows of its `max_len` tokens, the
mean and the max of its token states make one vector, and a small MLP maps that vector to
the customer intent the answer belongs to. It is trained with the decoder (`train_generator`)
on answer texts: Bitext's training answers, the project's responses (every language) and the
knowledge passages that name an intent, placeholders rendered as the shop would show them.

```python
head, report = train_answer_intent_classifier(predictor, bitext_answers, rare=project_answers)
classifier = AnswerIntentClassifier(predictor, head)   # or load_decoder(model_dir).answer_intent
classifier.classify(["You can follow your order under My Account > Orders."])   # ["track_order"]
```
`artefacts.py` writes and reads it beside the decoder (no pickle): `answer_intent.safetensors`
(the MLP), `answer_intent.json` (config with the intent names, training report).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn as nn
from torch.nn import functional as F

from ..encoding import pad
from ..inference import Predictor

@dataclass
class AnswerIntentConfig:
    """The MLP's shape and its output classes; saved in `answer_intent.json`."""

    intents: list[str]  # the output rows, in order
    n_features: int  # 2 x the encoder's width: mean and max of the answer's token states
    hidden: int = 256
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AnswerIntentConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class AnswerIntentTraining:
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.1
    # The project's responses and knowledge passages are one or two texts per intent among
    # ~150 Bitext answers: repeated so the shop's own wording (and Chinese) is learnt too.
    rare_text_repeats: int = 20


class AnswerIntentHead(nn.Module):
    """(N, n_features) answer vectors -> (N, n_intents) logits."""

    def __init__(self, config: AnswerIntentConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.LayerNorm(config.n_features),
            nn.Linear(config.n_features, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, len(config.intents)),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def answer_features(predictor: Predictor, texts: Sequence[str], *, batch_size: int = 64) -> torch.Tensor:
    """(N, 2C): mean and max of the frozen encoder's token states over the whole of each text.

    An answer is usually longer than the encoder's `max_len`, so it is read in windows of that
    many tokens (each starting with `[CLS]`), all of them in one batch.
    """
    width = predictor.model.config.n_embd
    window = predictor.max_len - 1  # + [CLS]
    encoder = predictor.model.encoder
    out: list[torch.Tensor] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        rows: list[list[int]] = []
        owner: list[int] = []
        for index, encoding in enumerate(predictor.tokenizer.encode_batch(chunk)):
            cls, body = encoding.ids[:1], encoding.ids[1:]
            for offset in range(0, max(len(body), 1), window):
                rows.append(cls + body[offset : offset + window])
                owner.append(index)
        lengths = torch.tensor([len(row) for row in rows])
        batch = pad(rows)
        mask = torch.arange(batch.shape[1])[None, :] < lengths[:, None]  # (W, T)
        with torch.inference_mode():
            states = encoder(batch, mask).states  # (W, T, C)
        owners = torch.tensor(owner)
        for index in range(len(chunk)):
            mine = owners == index
            tokens = states[mine][mask[mine]]  # (n_tokens, C)
            out.append(torch.cat([tokens.mean(0), tokens.max(0).values]))
    return torch.stack(out) if out else torch.zeros(0, 2 * width)


class AnswerIntentClassifier:
    """The head plus the NLU model whose encoder feeds it; `classify(texts)` -> intent names."""

    def __init__(self, predictor: Predictor, head: AnswerIntentHead) -> None:
        self.predictor = predictor
        self.head = head.eval()
        self.intents = head.config.intents

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, n_intents) softmax over `self.intents`."""
        if not texts:
            return torch.zeros(0, len(self.intents))
        with torch.inference_mode():
            return torch.softmax(self.head(answer_features(self.predictor, texts)), dim=-1)

    def classify(self, texts: Sequence[str]) -> list[str]:
        """The intent each text answers (one of `self.intents`)."""
        return [self.intents[int(i)] for i in self.probabilities(texts).argmax(dim=-1)]

    def accuracy(self, texts: Sequence[str], intents: Sequence[str]) -> float:
        predicted = self.classify(texts)
        return sum(p == gold for p, gold in zip(predicted, intents)) / len(intents) if intents else 0.0


def train_answer_intent_classifier(
    predictor: Predictor,
    examples: Sequence[tuple[str, str]],
    *,
    rare: Sequence[tuple[str, str]] = (),
    training: AnswerIntentTraining | None = None,
    seed: int = 0,
) -> tuple[AnswerIntentHead, dict[str, Any]]:
    """Fit a head on `(answer text, intent)` examples; `rare` ones (the project's own texts) are repeated.

    Returns the head (save it with `artefacts.save_answer_intent`) and a training report. The
    encoder is frozen, so every text's vector is computed once. Raises `ValueError` without examples.
    """
    training = training or AnswerIntentTraining()
    data = [*examples, *(list(rare) * training.rare_text_repeats)]
    if not data:
        raise ValueError("no answer texts to train the answer-intent classifier on")
    intents = sorted({intent for _, intent in data})
    index = {name: i for i, name in enumerate(intents)}
    generator = torch.Generator().manual_seed(seed)
    unique = sorted({text for text, _ in data})
    vectors = answer_features(predictor, unique)
    row = {text: i for i, text in enumerate(unique)}
    features = vectors[torch.tensor([row[text] for text, _ in data])]  # (N, 2C)
    labels = torch.tensor([index[intent] for _, intent in data])
    head = AnswerIntentHead(AnswerIntentConfig(intents=intents, n_features=features.shape[1]))
    optimizer = torch.optim.AdamW(head.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay)
    head.train()
    for _ in range(training.epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), training.batch_size):
            batch = order[start : start + training.batch_size]
            loss = F.cross_entropy(head(features[batch]), labels[batch], label_smoothing=training.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    head.eval()
    with torch.inference_mode():
        train_accuracy = float((head(features).argmax(dim=-1) == labels).float().mean())
    report = {"examples": len(examples), "rare_examples": len(rare), "intents": len(intents),
              "train_accuracy": round(train_accuracy, 4), "training": asdict(training)}
    return head, report

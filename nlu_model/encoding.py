"""Between text and tensors: token ids, BIO entity tags, padded batches, and tags back to spans.

Training and inference both go through these functions, so a model sees the same encoding
in both places. Tags are `O`, `B-<type>` and `I-<type>`, where `<type>` is the entity name,
or `entity#role` when the annotation had a role.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tokenizers import Tokenizer

from .data import EntitySpan
from .tokenizer import PAD_ID

IGNORE_INDEX = -100  # positions the loss skips: special tokens and padding
OUTSIDE = "O"


def entity_label(span: EntitySpan) -> str:
    """The tag type of a span: its entity name, plus `#role` when it has a role."""
    return f"{span.entity}#{span.role}" if span.role else span.entity


def bio_tags(entity_labels: Sequence[str]) -> list[str]:
    """`O` followed by `B-x`, `I-x` for each entity label, in the given order."""
    tags = [OUTSIDE]
    for label in entity_labels:
        tags.extend([f"B-{label}", f"I-{label}"])
    return tags


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str], max_len: int) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids and character offsets of each text, truncated to `max_len` tokens."""
    ids, offsets = [], []
    for encoding in tokenizer.encode_batch(list(texts)):
        ids.append(encoding.ids[:max_len])
        offsets.append(encoding.offsets[:max_len])
    return ids, offsets


def tag_ids_for(offsets: Sequence[tuple[int, int]], entities: Sequence[EntitySpan], tag_index: dict[str, int]) -> list[int]:
    """The BIO tag id of every token: a token belongs to a span when their characters overlap."""
    # Special tokens ([CLS], [SEP]) cover no characters; the loss skips them.
    tags = [IGNORE_INDEX if start == end else tag_index[OUTSIDE] for start, end in offsets]
    for span in entities:
        label = entity_label(span)
        if f"B-{label}" not in tag_index:
            continue  # an entity type unseen in training (e.g. only in the validation split)
        first = True
        for position, (start, end) in enumerate(offsets):
            if start == end or end <= span.start or start >= span.end:
                continue
            tags[position] = tag_index[f"B-{label}" if first else f"I-{label}"]
            first = False
    return tags


def pad(sequences: Sequence[Sequence[int]], value: int = PAD_ID) -> torch.Tensor:
    """A (B, T) long tensor, right-padded with `value` to the longest sequence."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        out[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return out


def _extend_to_word(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span that cuts a word in half (a tagged word piece) to the whole word; CJK is left alone."""
    def is_word_char(char: str) -> bool:
        return char.isalnum() and not "\u3400" <= char <= "\u9fff"

    while start > 0 and is_word_char(text[start - 1]) and is_word_char(text[start]):
        start -= 1
    while end < len(text) and is_word_char(text[end]) and is_word_char(text[end - 1]):
        end += 1
    return start, end


def decode_entities(
    text: str,
    offsets: Sequence[tuple[int, int]],
    tag_ids: Sequence[int],
    tag_confidences: Sequence[float],
    tags: Sequence[str],
) -> list[dict[str, Any]]:
    """Turn per-token tags into entity dicts (Rasa's shape) with character spans into `text`.

    An `I-x` after a different label starts a new entity, as if it were `B-x`.
    """
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for position in range(1, len(offsets)):
        start, end = offsets[position]
        tag = tags[tag_ids[position]]
        if tag == OUTSIDE or start == end:
            current = None
            continue
        prefix, label = tag.split("-", 1)
        if current is not None and prefix == "I" and current["label"] == label:
            current["end"] = end
            current["confidences"].append(tag_confidences[position])
            continue
        current = {"label": label, "start": start, "end": end, "confidences": [tag_confidences[position]]}
        entities.append(current)
    results: list[dict[str, Any]] = []
    for found in entities:
        start, end = _extend_to_word(text, found["start"], found["end"])
        entity, _, role = found["label"].partition("#")
        previous = results[-1] if results else None
        if previous is not None and start < previous["end"]:
            # Two tagged pieces of one word widened to the same word: keep one entity.
            previous["end"] = max(previous["end"], end)
            previous["value"] = text[previous["start"] : previous["end"]]
            continue
        results.append(
            {
                "entity": entity,
                "value": text[start:end],
                "start": start,
                "end": end,
                "confidence_entity": round(sum(found["confidences"]) / len(found["confidences"]), 4),
                "role": role or None,
                "extractor": "KefuEntityTagger",
            }
        )
    return results

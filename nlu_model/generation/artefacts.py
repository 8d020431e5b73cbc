"""The decoder's files in the model folder: the one place that writes them and the one that reads them.

```
decoder.safetensors     decoder weights (no pickle)
decoder.json            DecoderConfig, intents, guard thresholds, training report, data licence
decoder_tokenizer.json  the answer vocabulary (byte-level BPE + placeholder tokens)
answer_intent.safetensors, answer_intent.json   the guard's answer-intent classifier (answer_intent.py)
```
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from ..decoder import AnswerDecoder, DecoderConfig
from .answer_intent import AnswerIntentConfig, AnswerIntentHead
from .answer_tokenizer import load_answer_tokenizer

DECODER_WEIGHTS = "decoder.safetensors"
DECODER_CONFIG = "decoder.json"
DECODER_TOKENIZER = "decoder_tokenizer.json"
ANSWER_INTENT_WEIGHTS = "answer_intent.safetensors"
ANSWER_INTENT_CONFIG = "answer_intent.json"
# Every file a model folder needs for generated answers.
DECODER_FILES = (DECODER_WEIGHTS, DECODER_CONFIG, DECODER_TOKENIZER, ANSWER_INTENT_WEIGHTS, ANSWER_INTENT_CONFIG)


class DecoderFolderError(ValueError):
    """The model folder has no (or an incomplete) answer decoder."""


@dataclass
class LoadedDecoder:
    decoder: AnswerDecoder
    tokenizer: Tokenizer
    intents: list[str]  # the intent embedding rows, in order; one more row = unknown
    info: dict[str, Any]  # everything else in decoder.json (guard thresholds, report, licence)
    answer_intent: AnswerIntentHead  # the guard's classifier of answers (reads the NLU encoder's states)


def has_decoder(model_dir: str | Path) -> bool:
    model_dir = Path(model_dir)
    return all((model_dir / name).is_file() for name in DECODER_FILES)


def save_decoder(model_dir: Path, decoder: AnswerDecoder, tokenizer: Tokenizer, intents: list[str], info: dict[str, Any]) -> None:
    """Write the three decoder files into an existing model folder (replacing earlier ones)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    # The tied output matrix is the embedding matrix: store it once.
    state = {k: v.detach().contiguous() for k, v in decoder.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(model_dir / DECODER_WEIGHTS))
    document = {"config": decoder.config.to_dict(), "intents": intents, **info}
    (model_dir / DECODER_CONFIG).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tokenizer.save(str(model_dir / DECODER_TOKENIZER))


def save_answer_intent(model_dir: Path, head: AnswerIntentHead, report: dict[str, Any]) -> None:
    """Write the answer-intent classifier beside the decoder (replacing an earlier one)."""
    save_file({k: v.detach().contiguous() for k, v in head.state_dict().items()}, str(model_dir / ANSWER_INTENT_WEIGHTS))
    document = {"config": asdict(head.config), "report": report}
    (model_dir / ANSWER_INTENT_CONFIG).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load_decoder(model_dir: str | Path) -> LoadedDecoder:
    """Read the decoder files and the answer-intent classifier; raises `DecoderFolderError` when any is missing."""
    model_dir = Path(model_dir)
    if not has_decoder(model_dir):
        raise DecoderFolderError(f"{model_dir}: no answer decoder (train one with `kefu train` without --nlu-only)")
    document = json.loads((model_dir / DECODER_CONFIG).read_text(encoding="utf-8"))
    decoder = AnswerDecoder(DecoderConfig.from_dict(document.pop("config")))
    state = load_file(str(model_dir / DECODER_WEIGHTS))
    state["lm_head.weight"] = state["wte.weight"]
    decoder.load_state_dict(state)
    decoder.eval()
    intents = document.pop("intents")
    head = AnswerIntentHead(AnswerIntentConfig.from_dict(json.loads((model_dir / ANSWER_INTENT_CONFIG).read_text(encoding="utf-8"))["config"]))
    head.load_state_dict(load_file(str(model_dir / ANSWER_INTENT_WEIGHTS)))
    head.eval()
    return LoadedDecoder(decoder, load_answer_tokenizer(model_dir / DECODER_TOKENIZER), intents, document, head)

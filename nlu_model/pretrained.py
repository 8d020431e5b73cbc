"""Local pretrained checkpoints (HuggingFace BERT family, e.g. all-MiniLM-L6-v2) as the encoder.

`train(init_from=DIR)` with such a folder uses its tokenizer and weights as a frozen encoder
and trains only the heads and the n-gram path on top: the encoder's features are computed
once, so training stays within minutes on one core. Only `model.safetensors` weights are
read (never pickled `.bin` files) and nothing is fetched from the network.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from .bert import PretrainedEncoder


class PretrainedCheckpointError(ValueError):
    """A folder that looks like a HuggingFace checkpoint but cannot be used."""


@dataclass
class PretrainedCheckpoint:
    config: dict[str, Any]  # the HuggingFace config, as stored in Kefu's config.json
    state_dict: dict[str, torch.Tensor]  # weights for `PretrainedEncoder`
    tokenizer: Tokenizer
    hidden_size: int


def is_pretrained_checkpoint(path: Path) -> bool:
    """True for a folder with a HuggingFace `config.json` (one that names a `model_type`)."""
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        return False
    try:
        return "model_type" in json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False


def load_pretrained(path: Path) -> PretrainedCheckpoint:
    """Read a local checkpoint folder: config.json, model.safetensors, tokenizer.json.

    Raises `PretrainedCheckpointError` for a missing file, an unsupported architecture or
    weights that do not fit a BERT encoder.
    """
    path = Path(path)
    if not (path / "model.safetensors").is_file():
        raise PretrainedCheckpointError(f"{path}: needs model.safetensors (pickled checkpoints are not loaded)")
    if not (path / "tokenizer.json").is_file():
        raise PretrainedCheckpointError(f"{path}: needs a tokenizer.json (HuggingFace tokenizers format)")
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    config = {k: v for k, v in config.items() if not k.startswith("_") and k not in ("transformers_version", "architectures")}
    try:
        encoder = PretrainedEncoder(config)
    except (KeyError, ValueError) as exc:
        raise PretrainedCheckpointError(f"{path}: unsupported encoder config: {exc}") from exc
    weights = load_file(str(path / "model.safetensors"))
    # Checkpoints saved from a task model prefix the encoder's names with "bert.".
    weights = {name.removeprefix("bert."): tensor for name, tensor in weights.items()}
    wanted = encoder.state_dict()
    missing = sorted(set(wanted) - set(weights))
    if missing:
        raise PretrainedCheckpointError(f"{path}: weights missing for {missing[:3]}...")
    state = {name: weights[name] for name in wanted}
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    # Kefu pads and truncates itself; a checkpoint's own settings would change token counts.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return PretrainedCheckpoint(config, state, tokenizer, int(config["hidden_size"]))

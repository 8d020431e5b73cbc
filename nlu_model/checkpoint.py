"""The model folder: the one place that writes it and the one place that reads it.

```
config.json        model hyper-parameters, kefu_version, temperature, fallback thresholds
model.safetensors  the weights (no pickle anywhere)
tokenizer.json     HuggingFace tokenizers
labels.json        intents, entity labels, BIO tags, sentiments, synonyms, regexes, lookups
features.json      the sparse n-gram vocabulary and idf weights (when the model has that path)
report.json        data sizes, train seconds, validation scores
```
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from .features import NgramFeaturizer
from .model import ModelConfig, NluModel
from .tokenizer import load_tokenizer

KEFU_VERSION = "0.1.0"
FALLBACK_INTENT = "nlu_fallback"


class ModelFolderError(ValueError):
    """A model folder that is missing files or was written by an incompatible version."""


@dataclass
class Labels:
    intents: list[str]
    entities: list[str] = field(default_factory=list)  # entity labels (`entity` or `entity#role`)
    tags: list[str] = field(default_factory=lambda: ["O"])
    sentiments: list[str] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Labels:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass
class Inference:
    """Settings fitted after training that the Predictor applies."""

    temperature: float = 1.0
    confidence_threshold: float = 0.0
    ambiguity_threshold: float = 0.0


@dataclass
class LoadedModel:
    model: NluModel
    tokenizer: Tokenizer
    featurizer: NgramFeaturizer | None
    labels: Labels
    inference: Inference
    config: dict[str, Any]


def _write_json(path: Path, values: Any) -> None:
    path.write_text(json.dumps(values, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def save_model(
    out_dir: Path,
    *,
    model: NluModel,
    tokenizer: Tokenizer,
    featurizer: NgramFeaturizer | None,
    labels: Labels,
    inference: Inference,
    train_config: dict[str, Any],
    report: dict[str, Any],
) -> None:
    """Write the whole model folder (creating it); existing files of the same names are replaced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "kefu_version": KEFU_VERSION,
        **model.config.to_dict(),
        "inference": dict(inference.__dict__),
        "training": train_config,
    }
    _write_json(out_dir / "config.json", config)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"kefu_version": KEFU_VERSION})
    tokenizer.save(str(out_dir / "tokenizer.json"))
    _write_json(out_dir / "labels.json", labels.to_dict())
    if featurizer is not None:
        (out_dir / "features.json").write_text(json.dumps(featurizer.to_dict(), ensure_ascii=False), encoding="utf-8")
    _write_json(out_dir / "report.json", report)


def is_model_folder(path: Path) -> bool:
    """True when `path` holds a Kefu model (not, say, a HuggingFace checkpoint)."""
    config_path = path / "config.json"
    if not config_path.is_file():
        return False
    try:
        return "kefu_version" in json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False


def load_model(model_dir: str | Path) -> LoadedModel:
    """Read a model folder written by `save_model`; raises `ModelFolderError` when it is not one."""
    model_dir = Path(model_dir)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "labels.json"):
        if not (model_dir / name).is_file():
            raise ModelFolderError(f"{model_dir}: not a Kefu model folder (missing {name})")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if "kefu_version" not in config:
        raise ModelFolderError(f"{model_dir}/config.json: no kefu_version, not written by kefu train")
    model = NluModel(ModelConfig.from_dict(config))
    state = load_file(str(model_dir / "model.safetensors"))
    state.setdefault("dense_weight", torch.tensor(0.5))  # folders written before the weight was fitted
    model.load_state_dict(state)
    model.eval()
    features_path = model_dir / "features.json"
    featurizer = (
        NgramFeaturizer.from_dict(json.loads(features_path.read_text(encoding="utf-8")))
        if features_path.is_file()
        else None
    )
    labels = Labels.from_dict(json.loads((model_dir / "labels.json").read_text(encoding="utf-8")))
    inference = Inference(**config.get("inference", {}))
    return LoadedModel(model, load_tokenizer(model_dir / "tokenizer.json"), featurizer, labels, inference, config)


def warm_start(model: NluModel, previous: NluModel, previous_labels: Labels, labels: Labels) -> int:
    """Copy `previous`'s weights into `model` where names and shapes match; head rows by label name.

    Returns the number of tensors copied. Used by `train(init_from=<kefu model>)`.
    """
    own = model.state_dict()
    copied = 0
    row_maps = {
        "intent_head": (previous_labels.intents, labels.intents),
        "sparse_intent_head": (previous_labels.intents, labels.intents),
        "tag_head": (previous_labels.tags, labels.tags),
        "sentiment_head": (previous_labels.sentiments, labels.sentiments),
    }
    with torch.no_grad():
        for name, tensor in previous.state_dict().items():
            if name not in own:
                continue
            head = name.split(".")[0]
            if head in row_maps:
                old_names, new_names = row_maps[head]
                old_index = {label: i for i, label in enumerate(old_names)}
                if tensor.shape[1:] != own[name].shape[1:]:
                    continue
                for row, label in enumerate(new_names):
                    if label in old_index:
                        own[name][row] = tensor[old_index[label]]
                copied += 1
            elif tensor.shape == own[name].shape:
                own[name].copy_(tensor)
                copied += 1
    return copied

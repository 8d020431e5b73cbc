"""`train(init_from=<HuggingFace BERT checkpoint>)`: a small random BERT made here stands in for
all-MiniLM-L6-v2 (same file layout: config.json, model.safetensors, tokenizer.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nlu_model.data import NluData
from nlu_model.inference import Predictor
from nlu_model.bert import PretrainedEncoder
from nlu_model.pretrained import PretrainedCheckpointError, load_pretrained
from nlu_model.tokenizer import train_tokenizer
from nlu_model.train import train


@pytest.fixture(scope="module")
def bert_checkpoint(project_data: NluData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bert")
    tokenizer = train_tokenizer([e.text for e in project_data.examples], vocab_size=800)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": tokenizer.get_vocab_size(),
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    }
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    encoder = PretrainedEncoder(config)
    # As HuggingFace task models save them: every name under "bert."
    save_file({f"bert.{k}": v.contiguous() for k, v in encoder.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


def test_pretrained_encoder_is_used_frozen_and_saved_with_the_model(bert_checkpoint: Path, project_data: NluData, tmp_path: Path) -> None:
    report = train(project_data, tmp_path / "m", config_name="tiny", threads=1, init_from=bert_checkpoint, progress=False)
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    original = load_file(str(bert_checkpoint / "model.safetensors"))
    for name, tensor in original.items():
        assert torch.equal(saved["encoder." + name.removeprefix("bert.")], tensor), name
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["pretrained"]["hidden_size"] == 32 and config["n_embd"] == 32
    assert report["validation"]["accuracy"] > 0.5  # the n-gram path and heads still learn
    predictor = Predictor.load(tmp_path / "m")
    result = predictor.parse("where is my order 12345")
    assert result["intent_ranking"][0]["name"] == "track_order"
    assert predictor.embed(["hello"]).shape == (1, 32)


def test_unusable_checkpoints_are_refused(bert_checkpoint: Path, tmp_path: Path) -> None:
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((bert_checkpoint / name).read_bytes())
    with pytest.raises(PretrainedCheckpointError, match="needs model.safetensors"):
        load_pretrained(tmp_path)
    save_file({"embeddings.word_embeddings.weight": torch.zeros(3, 32)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(PretrainedCheckpointError, match="weights missing"):
        load_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(PretrainedCheckpointError, match="only BERT-family"):
        load_pretrained(tmp_path)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from nlu_model.generation.artefacts import DecoderFolderError, has_decoder, load_decoder


def test_decoder_files_are_safetensors_and_json_only(generation_model: Path) -> None:
    names = {p.name for p in generation_model.iterdir()}
    assert {"decoder.safetensors", "decoder.json", "decoder_tokenizer.json"} <= names
    assert not any(name.endswith((".pt", ".pth", ".bin", ".pkl")) for name in names)
    with safe_open(str(generation_model / "decoder.safetensors"), framework="pt") as weights:
        assert "wte.weight" in weights.keys() and "lm_head.weight" not in weights.keys()  # tied, stored once
    info = json.loads((generation_model / "decoder.json").read_text(encoding="utf-8"))
    assert info["config"]["n_embd"] == 64 and info["held_out"] == {"bitext_fraction": 0.1, "seed": 0}
    assert info["data_licence"] is None  # no Bitext data in this decoder


def test_decoder_loads_back_without_pickle(generation_model: Path) -> None:
    loaded = load_decoder(generation_model)
    assert loaded.decoder.lm_head.weight.data_ptr() == loaded.decoder.wte.weight.data_ptr()
    assert loaded.tokenizer.token_to_id("{{Order Number}}") is not None


def test_a_folder_without_decoder_says_so(tmp_path: Path) -> None:
    assert not has_decoder(tmp_path)
    with pytest.raises(DecoderFolderError, match="no answer decoder"):
        load_decoder(tmp_path)

"""The one model loader on broken folders: corrupt or truncated safetensors and pickle-only weights are named in
one clear error, before transformers reads anything, and never unpickled."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from hf_deepfever.core.loading import check_local_weights, load_model_and_processor


@pytest.fixture()
def folder(tiny_model_dir, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_a_truncated_safetensors_file_is_named(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors file .*truncated"):
        load_model_and_processor(folder)


def test_a_corrupt_header_is_named(folder):
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors file"):
        load_model_and_processor(folder)


def test_pickle_only_weights_are_refused_without_unpickling(folder, monkeypatch):
    state = torch.load  # keep a reference: the check must not call it
    torch.save({"weight": torch.zeros(1)}, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()

    def never(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(ValueError, match=r"holds only pickle-format weights \(pytorch_model\.bin\): refusing"):
        load_model_and_processor(folder)
    assert torch.load is never and state is not never


def test_shards_missing_from_an_index_are_named(folder):
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    index = {"metadata": {}, "weight_map": shards}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(FileNotFoundError, match=r"missing: model-00002-of-00002\.safetensors"):
        check_local_weights(folder)


def test_the_cli_prints_one_line_instead_of_a_traceback(folder, tmp_path, capsys):
    from hf_deepfever.cli import main

    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    image = tmp_path / "face.png"
    from PIL import Image

    Image.new("RGB", (16, 16)).save(image)
    assert main(["extract", str(image), "--model", str(folder), "--output", str(tmp_path / "out.csv")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "model.safetensors is not a readable safetensors file" in error[0]

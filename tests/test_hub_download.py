"""The download path: a model folder installed into a Hub-layout cache loads offline by repo id."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.hub import install_to_hub_cache


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("tiny_deepfever")
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=64)).eval()
    model.save_pretrained(model_dir)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}).save_pretrained(model_dir)
    return model_dir


def test_install_writes_hub_layout_with_content_commit(tiny_model_dir: Path, tmp_path: Path) -> None:
    snapshot = install_to_hub_cache(tiny_model_dir, "org/layout-check", cache_dir=tmp_path)
    repo_root = tmp_path / "models--org--layout-check"
    commit = (repo_root / "refs" / "main").read_text()
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert snapshot == repo_root / "snapshots" / commit
    expected = sorted(p.name for p in tiny_model_dir.iterdir())
    assert sorted(p.name for p in snapshot.iterdir()) == expected
    assert (snapshot / "model.safetensors").read_bytes() == (tiny_model_dir / "model.safetensors").read_bytes()

    # Same content, same commit (idempotent); changed content, new commit, ref moves.
    assert install_to_hub_cache(tiny_model_dir, "org/layout-check", cache_dir=tmp_path) == snapshot
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in tiny_model_dir.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    (changed / "extra.txt").write_text("one more file")
    new_snapshot = install_to_hub_cache(changed, "org/layout-check", cache_dir=tmp_path, revision="v2")
    assert new_snapshot != snapshot
    assert (repo_root / "refs" / "v2").read_text() == new_snapshot.name
    assert (repo_root / "refs" / "main").read_text() == commit


def test_install_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        install_to_hub_cache(tmp_path / "missing", "org/x", cache_dir=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        install_to_hub_cache(empty, "org/x", cache_dir=tmp_path)
    with pytest.raises(ValueError):
        install_to_hub_cache(tmp_path, "not a repo id", cache_dir=tmp_path)


def test_installed_model_loads_offline_by_repo_id(tiny_model_dir: Path) -> None:
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    install_to_hub_cache(tiny_model_dir, "org/deepfever-cache-only")
    assert Path(constants.HF_HUB_CACHE, "models--org--deepfever-cache-only", "refs", "main").is_file()

    reference = DeepFeverForExpressionRecognition.from_pretrained(tiny_model_dir).eval()
    classifier = AutoModelForImageClassification.from_pretrained("org/deepfever-cache-only").eval()
    extractor = AutoModel.from_pretrained("org/deepfever-cache-only").eval()
    processor = AutoImageProcessor.from_pretrained("org/deepfever-cache-only")
    images = torch.randint(0, 256, (2, 3, 80, 96), dtype=torch.uint8)
    pixel_values = processor(list(images), face_boxes=[(10, 5, 50, 60), None], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = reference(pixel_values)
        torch.testing.assert_close(classifier(pixel_values).logits, expected.logits)
        torch.testing.assert_close(extractor(pixel_values).pooler_output, expected.pooler_output)

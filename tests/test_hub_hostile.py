"""Publishing hostile model folders: nothing from outside the folder leaves with it, nothing blocks, and the
card shows unknown results as short escaped text."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.hub import UploadFolderError, assemble_upload_folder, install_to_hub_cache, render_model_card
from hf_deepfever.hub.results import MAX_SHOWN_VALUES, OMITTED_KEY


@pytest.fixture(scope="module")
def pristine_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("hostile_pristine") / "run"
    torch.manual_seed(0)
    DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=64)).save_pretrained(model_dir)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}).save_pretrained(model_dir)
    return model_dir


@pytest.fixture()
def model_dir(pristine_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine_model, tmp_path / "run"))


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """A file outside the model folder that must never reach an upload."""
    path = tmp_path / "elsewhere" / "secret.txt"
    path.parent.mkdir()
    path.write_text("root:x:0:0:SECRET\n")
    return path


def _no_secret_copied(folder: Path) -> bool:
    return not folder.exists() or not any("SECRET" in path.read_text(errors="replace")
                                           for path in folder.rglob("*") if path.is_file())


def _with_timeout(function, seconds: float = 20.0):
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked on a FIFO?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.parametrize("name", ["processing_x.py", "config.json", "eval_results.json"])
def test_a_link_leaving_the_folder_is_refused_by_name(model_dir, secret, tmp_path, name):
    link = model_dir / name
    if link.exists():
        link.unlink()
    link.symlink_to(secret)
    out = tmp_path / "upload"
    with pytest.raises(UploadFolderError, match=rf"{name} resolves to .*secret\.txt, outside the model folder"):
        assemble_upload_folder(model_dir, out)
    assert _no_secret_copied(out)


def test_links_that_stay_inside_are_published_with_their_content(model_dir, tmp_path):
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "real.py").write_text("X = 1\n")
    (model_dir / "processing_extra.py").symlink_to(Path("sub") / "real.py")
    files = dict(assemble_upload_folder(model_dir, tmp_path / "upload"))
    assert "processing_extra.py" in files
    copied = tmp_path / "upload" / "processing_extra.py"
    assert not copied.is_symlink() and copied.read_text() == "X = 1\n"


def test_a_shard_index_pointing_outside_is_refused(model_dir, secret, tmp_path):
    (model_dir / "model.safetensors").rename(model_dir / "model-00001-of-00001.safetensors")
    shards = {"a": "model-00001-of-00001.safetensors", "b": f"../elsewhere/{secret.name}"}
    index = {"metadata": {}, "weight_map": shards}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(UploadFolderError, match=r"secret\.txt, outside the model folder"):
        assemble_upload_folder(model_dir, tmp_path / "upload")
    assert _no_secret_copied(tmp_path / "upload")


def test_a_fifo_named_like_a_config_is_refused_not_read(model_dir, tmp_path):
    (model_dir / "preprocessor_config.json").unlink()
    os.mkfifo(model_dir / "preprocessor_config.json")
    with pytest.raises(UploadFolderError, match=r"preprocessor_config\.json is not a regular file"):
        _with_timeout(lambda: assemble_upload_folder(model_dir, tmp_path / "upload"))


def test_install_to_hub_cache_refuses_links_leaving_the_folder(model_dir, secret, tmp_path):
    (model_dir / "notes.txt").symlink_to(secret)
    cache = tmp_path / "hub_cache"
    with pytest.raises(ValueError, match=r"notes\.txt resolves to .*secret\.txt, outside the model folder"):
        install_to_hub_cache(model_dir, "org/model", cache_dir=cache)
    assert _no_secret_copied(cache)
    (model_dir / "notes.txt").unlink()
    (model_dir / "notes.txt").symlink_to("config.json")  # inside: installed as the content it points to
    snapshot = install_to_hub_cache(model_dir, "org/model", cache_dir=cache)
    assert (snapshot / "notes.txt").read_text() == (model_dir / "config.json").read_text()


def test_unknown_results_are_shown_short_escaped_and_counted(model_dir):
    results = {"dataset_kind": "real", "fec_triplet_accuracy": 0.7, "a_huge": "A" * 5_000_000,
               "a_html": "<script>alert(1)</script> | `code`", "a_nested": {"a": [1, 2, 3]}, "a_key`with`ticks": 1}
    results.update({f"extra_{index:03d}": index for index in range(60)})  # sorted after the a_ keys
    (model_dir / "eval_results.json").write_text(json.dumps(results))
    card = render_model_card(model_dir)
    assert len(card) < 40_000 and "A" * 100 not in card
    assert "(5,000,000 characters, cut)" in card
    assert "<script>" not in card and "\\<script\\>" in card
    assert "(a JSON object, not shown)" in card and "a_key'with'ticks" in card
    assert card.count("`extra_") == MAX_SHOWN_VALUES - 4
    assert f"`{OMITTED_KEY}` = {len(results) - 2 - MAX_SHOWN_VALUES} more key(s) of eval_results.json" in card

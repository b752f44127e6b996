"""load_rafdb on a tiny layout written by the test, and the RAF-DB -> AffectNet label mapping."""

from __future__ import annotations

import os
import warnings

import pytest
from corpus_layouts import skip_counts, write_rafdb
from datasets import Image

from hf_deepfever.data import AFFECTNET_EXPRESSIONS, RAFDB_EXPRESSIONS, RAFDB_TO_AFFECTNET, load_rafdb
from hf_deepfever.synthetic import layouts


def _load(*args, **kwargs):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        dataset = load_rafdb(*args, **kwargs)
    return dataset, skip_counts(records, "RAF-DB")


@pytest.mark.parametrize("aligned", [True, False])
def test_labels_splits_and_skips(tmp_path, aligned):
    expected = write_rafdb(tmp_path / "raf", tmp_path)
    dataset, skips = _load(tmp_path / "raf", aligned=aligned, cache_dir=tmp_path / "cache")
    assert dataset["train"]["expression"] == expected["train_labels"]
    assert dataset["test"]["expression"] == expected["test_labels"]
    assert skips == {
        "train": expected["train_skips"],
        "test": expected["test_skips"],
        "(no train_/test_ prefix)": expected["unknown_skips"],
    }
    paths = [row["path"] for row in dataset["train"].cast_column("image", Image(decode=False))["image"]]
    folder = "aligned" if aligned else "original"
    assert all(os.path.isabs(path) and f"/Image/{folder}/" in path for path in paths)
    assert paths[0].endswith("train_00001_aligned.jpg" if aligned else "train_00001.jpg")
    assert dataset["train"][0]["image"].size == (8, 8)


def test_expression_names_follow_rafdb_order(tmp_path):
    write_rafdb(tmp_path / "raf", tmp_path)
    # The root may be the basic/ folder itself.
    dataset, _ = _load(tmp_path / "raf" / layouts.RAFDB_BASIC, cache_dir=tmp_path / "cache")
    assert dataset["train"].features["expression"].names == list(RAFDB_EXPRESSIONS)
    assert RAFDB_EXPRESSIONS[0] == "surprise" and RAFDB_EXPRESSIONS[6] == "neutral"  # file labels 1 and 7


def test_mapping_to_affectnet_is_a_bijection_onto_its_first_seven_names():
    assert sorted(RAFDB_TO_AFFECTNET) == list(range(7))
    assert sorted(RAFDB_TO_AFFECTNET.values()) == list(range(7))
    aliases = {"happiness": "happy", "sadness": "sad"}
    for rafdb_id, affectnet_id in RAFDB_TO_AFFECTNET.items():
        name = RAFDB_EXPRESSIONS[rafdb_id]
        assert AFFECTNET_EXPRESSIONS[affectnet_id] == aliases.get(name, name)


def test_missing_files_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="RAF-DB: root folder"):
        load_rafdb(tmp_path / "absent")
    write_rafdb(tmp_path / "raf", tmp_path)
    layouts.rafdb_list_path(tmp_path / "raf").unlink()
    with pytest.raises(FileNotFoundError, match=r"RAF-DB: label list.*list_patition_label\.txt"):
        load_rafdb(tmp_path / "raf")

"""load_face_folder on a folder of images written by the test."""

from __future__ import annotations

import warnings

import pytest
from corpus_layouts import skip_counts, write_face_folder
from datasets import Image

from hf_deepfever.data import load_face_folder


def test_every_image_below_the_folder_sorted(tmp_path):
    root = tmp_path / "faces"
    expected = write_face_folder(root, tmp_path)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        dataset = load_face_folder(root)
    paths = [row["path"] for row in dataset.cast_column("image", Image(decode=False))["image"]]
    assert paths == expected
    assert skip_counts(records, "face folder") == {str(root): {"path outside root": 1, "unreadable image": 1}}
    assert dataset[0]["image"].size == (8, 8)


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="face folder"):
        load_face_folder(tmp_path / "absent")

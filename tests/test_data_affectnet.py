"""load_affectnet on tiny layouts written by the test: counts, columns, every bad-row reason, the cache."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from datasets import Image
from corpus_layouts import skip_counts, write_affectnet, write_image

from hf_deepfever.data import AFFECTNET_EXPRESSIONS, affectnet, load_affectnet
from hf_deepfever.synthetic import layouts


def _load(*args, **kwargs):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        dataset = load_affectnet(*args, **kwargs)
    return dataset, skip_counts(records, "AffectNet")


@pytest.fixture()
def layout(tmp_path):
    root = tmp_path / "affectnet"
    return root, write_affectnet(root, tmp_path), tmp_path / "cache"


def test_protocol_8_keeps_good_rows_and_counts_each_bad_row_once(layout):
    root, expected, cache = layout
    dataset, skips = _load(root, cache_dir=cache)
    assert dataset["train"].num_rows == expected["train"][8]
    assert dataset["validation"].num_rows == expected["validation"][8]
    assert skips == {"train": expected["train_skips"], "validation": expected["validation_skips"]}
    assert sorted(set(dataset["train"]["expression"])) == list(range(8))


def test_protocol_7_drops_contempt(layout):
    root, expected, cache = layout
    dataset, _ = _load(root, protocol=7, cache_dir=cache)
    assert dataset["train"].num_rows == expected["train"][7]
    assert dataset["validation"].num_rows == expected["validation"][7]
    assert dataset["train"].features["expression"].names == list(AFFECTNET_EXPRESSIONS[:7])
    assert max(dataset["train"]["expression"]) == 6


def test_columns_types_and_values(layout, tmp_path, monkeypatch):
    root, _, cache = layout
    dataset, _ = _load(root, cache_dir=cache)
    train = dataset["train"]
    assert train.features["expression"].names == list(AFFECTNET_EXPRESSIONS)
    rows = {os.path.basename(row["image"]["path"]): row for row in train.cast_column("image", Image(decode=False))}
    assert all(os.path.isabs(row["image"]["path"]) for row in rows.values())
    normalised = str(layouts.affectnet_images_dir(root, "train") / "101" / "face_1.jpg")
    assert _paths(train).count(normalised) == 2  # "101/face_1.jpg" and "./100/../101/face_1.jpg"
    happy = rows["face_1.jpg"]
    assert happy["expression"] == 1
    assert happy["face_box"] == [1.0, 2.0, 30.0, 40.0]
    assert len(happy["landmarks"]) == 136
    assert happy["valence"] == pytest.approx(-0.4) and happy["arousal"] == pytest.approx(-0.4)
    assert rows["no_landmarks.jpg"]["landmarks"] is None
    assert math.isnan(rows["not_annotated.jpg"]["valence"])
    assert rows["not_annotated.jpg"]["arousal"] == pytest.approx(0.1)
    assert np.asarray(train.with_format("numpy")["face_box"]).dtype == np.float32
    # Absolute paths decode lazily from any working directory.
    monkeypatch.chdir(tmp_path)
    image = train[0]["image"]
    assert image.size == (8, 8)


def test_include_automatic_adds_rows_to_train_only(layout):
    root, expected, cache = layout
    dataset, skips = _load(root, include_automatic=True, cache_dir=cache)
    assert dataset["train"].num_rows == expected["train"][8] + expected["automatic"][8]
    assert dataset["validation"].num_rows == expected["validation"][8]
    merged = dict(expected["train_skips"])
    merged["missing image"] += expected["automatic_skips"]["missing image"]
    assert skips["train"] == merged
    assert sum("Automatically_Annotated_Images" in path for path in _paths(dataset["train"])) == 3


def _paths(split):
    return [row["path"] for row in split.cast_column("image", Image(decode=False))["image"]]


def test_images_folder_two_levels_deeper(tmp_path):
    root = tmp_path / "affectnet"
    expected = write_affectnet(root, tmp_path, nested=True, automatic=False)
    dataset, skips = _load(root, cache_dir=tmp_path / "cache")
    assert dataset["train"].num_rows == expected["train"][8]
    assert skips["train"] == expected["train_skips"]


def test_missing_root_list_or_images_raise_file_not_found(layout, tmp_path):
    root, _, cache = layout
    with pytest.raises(FileNotFoundError, match=r"AffectNet.*nowhere"):
        load_affectnet(tmp_path / "nowhere", cache_dir=cache)
    layouts.affectnet_list_path(root, "automatic").unlink()
    with pytest.raises(FileNotFoundError, match=r"AffectNet.*automatically_annotated\.csv"):
        load_affectnet(root, include_automatic=True, cache_dir=cache)
    layouts.affectnet_list_path(root, "validation").unlink()
    with pytest.raises(FileNotFoundError, match=r"AffectNet.*validation\.csv"):
        load_affectnet(root, cache_dir=cache)


def test_missing_images_folder_and_bad_protocol(tmp_path):
    root = tmp_path / "affectnet"
    write_affectnet(root, tmp_path, automatic=False)
    with pytest.raises(ValueError, match="protocol"):
        load_affectnet(root, protocol=6)
    layouts.affectnet_images_dir(root, "train").rename(tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match=r"AffectNet.*Manually_Annotated_Images"):
        load_affectnet(root, cache_dir=tmp_path / "cache")
    # A symlinked images folder that leaves root is refused outright.
    layouts.affectnet_images_dir(root, "train").symlink_to(tmp_path / "moved")
    with pytest.raises(ValueError, match="outside root"):
        load_affectnet(root, cache_dir=tmp_path / "cache")


def test_second_call_reuses_cache_until_inputs_change(layout, monkeypatch):
    root, expected, cache = layout
    parses = []
    original = affectnet._read_list
    monkeypatch.setattr(affectnet, "_read_list", lambda *args: parses.append(args[0]) or original(*args))

    first, first_skips = _load(root, cache_dir=cache)
    assert len(parses) == 2  # training + validation
    second, second_skips = _load(root, cache_dir=cache)
    assert len(parses) == 2, "the second call parsed the lists again"
    assert second_skips == first_skips  # the warning is repeated from the cached counts
    assert second["train"]["expression"] == first["train"]["expression"]
    assert not [name for name in os.listdir(cache / "affectnet") if name.startswith(".")]  # no temp leftovers

    _load(root, protocol=7, cache_dir=cache)  # other arguments: other entry
    assert len(parses) == 4

    training = layouts.affectnet_list_path(root, "train")
    stat = training.stat()
    os.utime(training, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _load(root, cache_dir=cache)
    assert len(parses) == 6

    # A new image in a folder the index listed invalidates the entry too (the row now finds its file).
    folder = layouts.affectnet_images_dir(root, "train") / "100"
    write_image(folder / "missing.jpg")
    os.utime(folder, ns=(folder.stat().st_atime_ns, folder.stat().st_mtime_ns + 10**9))
    third, third_skips = _load(root, cache_dir=cache)
    assert len(parses) == 8
    assert third["train"].num_rows == expected["train"][8] + 1
    assert third_skips["train"]["missing image"] == expected["train_skips"]["missing image"] - 1

"""load_recola on tiny AVEC 2016 and original-release layouts written by the test."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from corpus_layouts import skip_counts, write_recola_avec, write_recola_original

from hf_deepfever.data import load_recola, recola
from hf_deepfever.synthetic import layouts


def _load(*args, **kwargs):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        dataset = load_recola(*args, **kwargs)
    return dataset, skip_counts(records, "RECOLA")


def test_avec2016_rows_labels_and_skips(tmp_path):
    root = tmp_path / "recola"
    expected = write_recola_avec(root, tmp_path)
    dataset, skips = _load(root, cache_dir=tmp_path / "cache")
    assert {split: dataset[split]["id"] for split in dataset} == expected["ids"]
    assert skips == expected["skips"]
    frames = expected["frames"]
    for split in ("train", "dev"):
        for row in dataset[split]:
            trace = expected["traces"][row["id"]]
            assert np.allclose(row["time"], np.arange(frames) * 0.04, atol=1e-6)
            assert np.allclose(row["arousal"], trace["arousal"], atol=1e-6)
            assert np.allclose(row["valence"], trace["valence"], atol=1e-6)
            assert os.path.isabs(row["audio"]) and row["audio"].endswith(f"recordings_audio/{row['id']}.wav")
    videos = {row["id"]: row["video"] for split in dataset for row in dataset[split]}
    assert {name for name, video in videos.items() if video} == expected["videos"]
    assert videos["dev_2"] is None
    test = dataset["test"][0]
    assert test["time"] == test["arousal"] == test["valence"] == []  # labels withheld
    assert dataset["train"].features["arousal"].feature.dtype == "float32"


def test_video_dir_override_and_cache_reuse(tmp_path, monkeypatch):
    root = tmp_path / "recola"
    write_recola_avec(root, tmp_path)
    layouts.recola_video_dir(root).rename(tmp_path / "videos")
    reads = []
    original = recola.read_arff_trace
    monkeypatch.setattr(recola, "read_arff_trace", lambda path: reads.append(path) or original(path))
    dataset, _ = _load(root, video_dir=tmp_path / "videos", cache_dir=tmp_path / "cache")
    assert dataset["train"][0]["video"] == str(tmp_path / "videos" / "train_1.mp4")
    parsed = len(reads)
    assert parsed > 0
    again, _ = _load(root, video_dir=tmp_path / "videos", cache_dir=tmp_path / "cache")
    assert len(reads) == parsed and again["dev"]["id"] == dataset["dev"]["id"]
    without_videos, _ = _load(root, cache_dir=tmp_path / "cache")
    assert all(video is None for video in without_videos["train"]["video"])


def test_original_layout_averages_raters_and_assigns_splits_by_participant(tmp_path):
    root = tmp_path / "recola_original"
    expected = write_recola_original(root)
    dataset, skips = _load(root, layout="original", cache_dir=tmp_path / "cache")
    assert skips == {}
    assert {split: dataset[split]["id"] for split in dataset} == expected["ids"]
    for split in dataset:
        for row in dataset[split]:
            means = expected["means"][row["id"]]
            assert len(row["time"]) == expected["frames"]
            assert np.allclose(row["arousal"], means["arousal"], atol=1e-4)
            assert np.allclose(row["valence"], means["valence"], atol=1e-4)
    assert dataset["train"][0]["video"].endswith("RECOLA-Video-recordings/P16.mp4")


def test_bad_arguments_and_missing_folders(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        load_recola(tmp_path, layout="avec2018")
    with pytest.raises(FileNotFoundError, match=r"RECOLA: audio folder.*recordings_audio"):
        load_recola(tmp_path)
    layouts.recola_audio_dir(tmp_path).mkdir()
    with pytest.raises(FileNotFoundError, match=r"RECOLA: gold-standard labels folder"):
        load_recola(tmp_path)

"""fec_image_filename and load_fec on tiny layouts written by the test."""

from __future__ import annotations

import os
import re
import warnings

import pytest
from corpus_layouts import skip_counts, write_fec
from datasets import Image

from hf_deepfever.data import fec, fec_image_filename, load_fec
from hf_deepfever.synthetic import layouts


def _load(*args, **kwargs):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        dataset = load_fec(*args, **kwargs)
    return dataset, skip_counts(records, "FEC")


def test_fec_image_filename_is_deterministic_safe_and_distinct():
    url = "http://farm4.staticflickr.com/3679/12137399835_c4b7e9a5a4.jpg"
    name = fec_image_filename(url)
    assert name == fec_image_filename(url) == fec_image_filename(f' "{url}" ')  # CSV quoting is ignored
    assert re.fullmatch(r"[0-9a-f]{40}\.jpg", name)
    assert fec_image_filename(url.replace("5a4", "5a5")) != name
    assert fec_image_filename("http://x.org/a/b.PNG?size=large").endswith(".png")
    assert fec_image_filename("http://x.org/photo.php?id=1").endswith(".jpg")  # not an image extension
    assert fec_image_filename("http://x.org/../../etc/passwd").endswith(".jpg")
    assert "/" not in fec_image_filename("http://x.org/a/b/c/")


def test_load_counts_votes_and_skips(tmp_path):
    expected = write_fec(tmp_path / "fec", tmp_path)
    dataset, skips = _load(tmp_path / "fec", cache_dir=tmp_path / "cache")
    train, test = dataset["train"], dataset["test"]
    assert (train.num_rows, test.num_rows) == (expected["train"], expected["test"])
    assert skips == {"train": expected["train_skips"], "test": expected["test_skips"]}
    assert train["odd_one_out"] == expected["train_odd_one_out"]
    assert train["agreement"] == pytest.approx(expected["train_agreement"], abs=1e-6)
    assert train["triplet_type"] == expected["train_triplet_type"]
    assert train.features["triplet_type"].names == ["one_class", "two_class", "three_class"]
    assert train[0]["box_1"] == pytest.approx([0.1, 0.9, 0.2, 0.8])
    paths = train.cast_column("image_1", Image(decode=False))["image_1"]
    first_url = expected["urls"][0]
    assert paths[0]["path"] == os.path.join(str(tmp_path / "fec" / "images"), fec_image_filename(first_url))
    assert train[0]["image_2"].size == (8, 8)  # decodes lazily from the absolute path


def test_images_dir_outside_root_when_given(tmp_path):
    images = tmp_path / "downloads"
    expected = write_fec(tmp_path / "fec", tmp_path, images=images)
    with pytest.raises(FileNotFoundError, match=r"FEC: images folder.*fec/images"):
        load_fec(tmp_path / "fec", cache_dir=tmp_path / "cache")
    dataset, _ = _load(tmp_path / "fec", images_dir=images, cache_dir=tmp_path / "cache")
    assert dataset["train"].num_rows == expected["train"]


def test_root_may_be_the_fec_dataset_folder(tmp_path):
    expected = write_fec(tmp_path / "fec", tmp_path)
    fec_root = tmp_path / "fec"
    dataset, _ = _load(fec_root / layouts.FEC_LISTS_FOLDER, images_dir=fec_root / layouts.FEC_IMAGES_FOLDER,
                       cache_dir=tmp_path / "cache")
    assert dataset["test"].num_rows == expected["test"]


def test_missing_list_raises_and_cache_is_reused(tmp_path, monkeypatch):
    write_fec(tmp_path / "fec", tmp_path)
    parses = []
    original = fec._read_list
    monkeypatch.setattr(fec, "_read_list", lambda *args: parses.append(args[1]) or original(*args))
    _load(tmp_path / "fec", cache_dir=tmp_path / "cache")
    _, skips = _load(tmp_path / "fec", cache_dir=tmp_path / "cache")
    assert parses == ["train", "test"]
    assert skips["train"]["missing image"] == 1
    layouts.fec_list_path(tmp_path / "fec", "test").unlink()
    with pytest.raises(FileNotFoundError, match=r"FEC: test list.*faceexp-comparison-data-test-public\.csv"):
        load_fec(tmp_path / "fec", cache_dir=tmp_path / "cache")


def test_fast_url_path_agrees_with_urllib():
    import urllib.parse

    urls = [
        "http://farm4.staticflickr.com/3679/12137399835_c4b7e9a5a4.jpg",
        "https://x.org/a/b.PNG?size=large#top",
        "http://x.org",
        "http://x.org?q=a/b.png",
        "http://x.org#a/b.png",
        "http://user@x.org:8080/p/q.webp",
        "ftp://x.org/y.gif",
        "//x.org/y.png",
        "relative/path.bmp",
        "mailto:someone@x.org",
        "",
    ]
    for url in urls:
        assert fec._url_path(url) == urllib.parse.urlsplit(url).path, url

"""Hostile corpus files: one bad row or file is skipped and counted, never fatal, never a hang, never a
silently wrong number (every value is validated in float32, the type it is stored in)."""

from __future__ import annotations

import os
import struct
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from corpus_layouts import affectnet_row, fec_row, skip_counts, write_image, write_recola_avec
from datasets import Image

from hf_deepfever.data import load_affectnet, load_face_folder, load_fec, load_rafdb, load_recola
from hf_deepfever.data._fields import parse_floats, parse_ints
from hf_deepfever.data._lines import iter_line_batches
from hf_deepfever.synthetic import layouts

LONG_LINE_BYTES = 9 << 20  # over the 8 MiB that used to stop Arrow's reader


def _load(loader, corpus, *args, **kwargs):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        dataset = loader(*args, **kwargs)
    return dataset, skip_counts(records, corpus)


def _with_timeout(function, seconds: float = 20.0):
    """Run ``function`` in a thread; fail (instead of hanging the suite) when it does not return in time."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked on a FIFO?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk that claim ``width x height`` (no pixel data follows)."""
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + body
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(body)) + chunk + struct.pack(">I", zlib.crc32(chunk))


# --------------------------------------------------------------------------------------------- line reader


def test_long_lines_are_skipped_and_counted_in_bounded_pieces(tmp_path):
    path = tmp_path / "list.txt"
    with open(path, "wb") as handle:
        handle.write(b"\xef\xbb\xbffirst\r\n\r\n")
        handle.write(b"x" * LONG_LINE_BYTES + b"\n")
        handle.write(b"second\rthird\n\xff\xfe not utf-8\n")
        handle.write(b"y" * (3 << 20) + b"\nlast")  # too long inside one block, then a line without end
    lines, skipped = [], {}
    for batch, dropped in iter_line_batches(path, block_size=1 << 20, max_line_bytes=1 << 20):
        lines += batch.to_pylist()
        for reason, count in dropped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    assert lines == ["first", "second", "third", "last"]
    assert {reason: count for reason, count in skipped.items() if count} == {
        "line too long": 2,
        "invalid text encoding": 1,
    }


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "list.txt"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"list\.txt: not a regular file \(a FIFO\)"):
        _with_timeout(lambda: list(iter_line_batches(fifo)))


def test_numbers_are_validated_in_float32():
    import pyarrow as pa

    values, valid = parse_floats(pa.array(["1e39", "-1e39", "1e300", "3.4e38", "1e-50", "0.5", "nan", "inf"]))
    assert values.dtype == np.float32
    assert valid.tolist() == [False, False, False, True, True, True, False, False]
    assert values[4] == 0  # representable, but as zero: callers' range checks see the stored value
    integers, ok = parse_ints(pa.array(["1e300", "9007199254740993", "3", "-2", "2.5"]))
    assert ok.tolist() == [False, False, True, True, False]
    assert integers[2:4].tolist() == [3, -2]


# --------------------------------------------------------------------------------------------- AffectNet


def _affectnet(root: Path, rows: list[str], images: dict[str, bytes] | None = None) -> None:
    folder = layouts.affectnet_images_dir(root, "train")
    for index in range(3):
        write_image(folder / "1" / f"good_{index}.jpg")  # 8 x 8 pixels
    for relative, data in (images or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    good = [affectnet_row(f"1/good_{index}.jpg", 1, box=("1", "2", "3", "4")) for index in range(3)]
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "train"), [*good, *rows])
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "validation"), good)


def test_affectnet_values_float32_cannot_hold_are_bad_rows(tmp_path):
    root = tmp_path / "affectnet"
    landmarks = ";".join(["1e300"] + ["1"] * 135)
    _affectnet(root, [
        affectnet_row("1/good_0.jpg", 1, box=("1", "2", "1e39", "4")),  # inf once stored
        affectnet_row("1/good_0.jpg", 1, box=("1", "2", "1e-50", "4")),  # zero width once stored
        affectnet_row("1/good_0.jpg", 1, landmarks=landmarks),
        affectnet_row("1/good_0.jpg", 1, valence="1e300"),
    ])
    dataset, skips = _load(load_affectnet, "AffectNet", root, cache_dir=tmp_path / "cache")
    assert dataset["train"].num_rows == 3
    assert skips["train"] == {"unparsable number": 2, "invalid face box": 1, "invalid landmarks": 1}
    boxes = np.asarray(dataset["train"].with_format("numpy")["face_box"])
    assert np.isfinite(boxes).all() and (boxes[:, 2:] > 0).all()


def test_affectnet_boxes_outside_their_image_and_unusable_images_are_skipped(tmp_path):
    root = tmp_path / "affectnet"
    _affectnet(
        root,
        [
            affectnet_row("1/good_0.jpg", 1, box=("100", "2", "30", "40")),  # right of an 8-pixel-wide image
            affectnet_row("1/good_0.jpg", 1, box=("2", "8", "3", "3")),  # starts on the bottom edge
            affectnet_row("1/good_0.jpg", 1, box=("-50", "-50", "10", "10")),  # above and left of it
            affectnet_row("1/good_1.jpg", 1, box=("-5", "-5", "6", "6")),  # overlaps one pixel: kept
            affectnet_row("1/text.jpg", 1),
            affectnet_row("1/bomb.png", 1),
            affectnet_row("1/tall.png", 1, box=("0", "2", "1", "4")),  # 1 x 50000: header only, kept
        ],
        images={"1/text.jpg": b"not an image", "1/bomb.png": _png_header(100_000, 100_000),
                "1/tall.png": _png_header(1, 50_000)},
    )
    dataset, skips = _load(load_affectnet, "AffectNet", root, cache_dir=tmp_path / "cache")
    assert skips["train"] == {"face box outside image": 3, "unreadable image": 1, "image too large": 1}
    images = dataset["train"].cast_column("image", Image(decode=False))["image"]
    kept = [os.path.basename(row["path"]) for row in images]
    assert sorted(kept) == ["good_0.jpg", "good_1.jpg", "good_1.jpg", "good_2.jpg", "tall.png"]


def test_one_long_line_or_one_undecodable_file_name_never_kills_affectnet(tmp_path):
    root = tmp_path / "affectnet"
    _affectnet(root, ["x" * LONG_LINE_BYTES])
    folder = os.fsencode(layouts.affectnet_images_dir(root, "train") / "1")
    with open(os.path.join(folder, b"named_\xff.jpg"), "wb") as handle:  # latin-1 bytes: not UTF-8
        handle.write(b"")
    dataset, skips = _load(load_affectnet, "AffectNet", root, cache_dir=tmp_path / "cache")
    assert dataset["train"].num_rows == 3 and skips["train"] == {"line too long": 1}


def test_a_fifo_named_like_a_list_is_not_read(tmp_path):
    root = tmp_path / "affectnet"
    _affectnet(root, [])
    validation = layouts.affectnet_list_path(root, "validation")
    validation.unlink()
    os.mkfifo(validation)
    with pytest.raises(FileNotFoundError, match=r"AffectNet: validation list not found"):
        _with_timeout(lambda: load_affectnet(root, cache_dir=tmp_path / "cache"))


# --------------------------------------------------------------------------------------------- FEC, RAF-DB


def test_fec_boxes_that_differ_only_beyond_float32_have_no_width(tmp_path):
    root = tmp_path / "fec"
    urls = [f"http://farm1.example.org/{index}.jpg" for index in range(3)]
    for url in urls:
        write_image(layouts.fec_image_path(root / layouts.FEC_IMAGES_FOLDER, url))
    good = ("0.1", "0.9", "0.2", "0.8")
    thin = ("0.123456781", "0.123456782", "0.2", "0.8")  # distinct in float64, equal in float32
    rows = [fec_row(urls, [1, 1, 1]), fec_row(urls, [1, 1, 1], boxes=(good, thin, good))]
    layouts.write_fec_list(layouts.fec_list_path(root, "train"), rows)
    layouts.write_fec_list(layouts.fec_list_path(root, "test"), rows[:1])
    dataset, skips = _load(load_fec, "FEC", root, cache_dir=tmp_path / "cache")
    assert dataset["train"].num_rows == 1 and skips == {"train": {"invalid face box": 1}}


def test_rafdb_survives_a_long_line(tmp_path):
    root = tmp_path / "raf"
    write_image(layouts.rafdb_aligned_path(root, "train_00001.jpg"))
    layouts.write_rafdb_list(layouts.rafdb_list_path(root), ["train_00001.jpg 3", "y" * LONG_LINE_BYTES])
    dataset, skips = _load(load_rafdb, "RAF-DB", root, cache_dir=tmp_path / "cache")
    assert dataset["train"]["expression"] == [2]
    assert skips == {"(no train_/test_ prefix)": {"line too long": 1}}


# --------------------------------------------------------------------------------------------- RECOLA


def test_recola_label_fifo_times_and_values_out_of_range(tmp_path):
    root = tmp_path / "recola"
    write_recola_avec(root, tmp_path)
    fifo = layouts.recola_gold_standard_path(root, "valence", "train_2")
    fifo.unlink()
    os.mkfifo(fifo)
    rows = [layouts.format_arff_row("dev_2", index * 0.04, 0.1) for index in range(5)]
    rows += ["dev_2,1e20,0.5", "dev_2,-1,0.5", "dev_2,0.40,1e300", "dev_2,0.44,1.5", "dev_2,0.48,-1.0001"]
    for dimension in layouts.RECOLA_DIMENSIONS:
        layouts.write_gold_standard(layouts.recola_gold_standard_path(root, dimension, "dev_2"), dimension, rows)
    dataset, skips = _with_timeout(lambda: _load(load_recola, "RECOLA", root, cache_dir=tmp_path / "cache"))
    assert "train_2" not in dataset["train"]["id"]
    assert skips["train"]["malformed label file"] == 2  # train_5's, as before, and the FIFO
    dev_2 = next(row for row in dataset["dev"] if row["id"] == "dev_2")
    assert np.allclose(dev_2["time"], np.arange(5) * 0.04, atol=1e-6)
    assert np.all(np.abs(dev_2["valence"]) <= 1) and np.isfinite(dev_2["arousal"]).all()
    # Per dimension: 2 times and 2 values out of range; 1e300 does not parse as a float32 (inf).
    assert skips["dev"]["label time outside 0..16777 s"] == 4
    assert skips["dev"]["label value outside -1..1"] == 4
    assert skips["dev"]["malformed label line"] == 2 + 2  # dev_1's two, as before, and the two 1e300


# --------------------------------------------------------------------------------------------- face folder


def test_face_folder_skips_a_file_name_that_is_not_utf8(tmp_path):
    root = tmp_path / "faces"
    write_image(root / "a.jpg")
    with open(os.path.join(os.fsencode(root), b"b\xff.jpg"), "wb") as handle:
        handle.write(b"")
    dataset, skips = _load(load_face_folder, "face folder", root)
    assert dataset.num_rows == 1
    assert skips == {str(root): {"file name not UTF-8": 1}}

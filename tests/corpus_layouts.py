"""Writers of tiny corpus layouts, each with good rows and one example of every kind of bad input.

Every writer returns a dict of what a correct loader must report: the rows kept per split and the
skip counts per split and reason (reason names are the loaders' own). File and folder names, headers,
column order and separators come from :mod:`hf_deepfever.synthetic.layouts`, the one writer of each
layout; the bad lines are written as they are.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from hf_deepfever.synthetic import layouts


def image_bytes(value: int = 128, size: int = 8, fmt: str = "JPEG") -> bytes:
    """A tiny, decodable image."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (value, 255 - value, 64)).save(buffer, format=fmt)
    return buffer.getvalue()


def write_image(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(value))
    return path


def outside_file(tmp_path: Path) -> Path:
    """A real image outside every corpus root, for symlinks that must be refused."""
    return write_image(tmp_path / "outside" / "secret.jpg")


# --------------------------------------------------------------------------------------------------
# AffectNet
# --------------------------------------------------------------------------------------------------

def landmarks_text(count: int = 136, seed: int = 0) -> str:
    return layouts.format_landmarks(np.random.default_rng(seed).uniform(0, 100, count))


def affectnet_row(path: str, expression, valence="0.5", arousal="-0.25", landmarks: str | None = None,
                  box=("1", "2", "30", "40")) -> str:
    landmarks = landmarks_text() if landmarks is None else landmarks
    return layouts.format_affectnet_row(path, box, landmarks, expression, valence, arousal)


def write_affectnet(root: Path, tmp_path: Path, *, nested: bool = False, automatic: bool = True) -> dict:
    """AffectNet lists + images; ``nested`` puts the images two folders deeper, as some archives do."""
    unpacked = root / "Manually_Annotated_compressed" / "Manually_Annotated" if nested else root
    images = layouts.affectnet_images_dir(unpacked, "train")
    train = []
    for expression in range(11):  # one good row per label; 8-10 are dropped by either protocol
        relative = f"{100 + expression}/face_{expression}.jpg"
        write_image(images / relative, value=20 * expression)
        valence = "-2" if expression >= 9 else f"{expression / 10 - 0.5:.2f}"
        train.append(affectnet_row(relative, expression, valence=valence, arousal=valence))
    write_image(images / "100/no_landmarks.jpg")
    train.append(affectnet_row("100/no_landmarks.jpg", 1, landmarks=""))
    write_image(images / "100/not_annotated.jpg")
    train.append(affectnet_row("100/not_annotated.jpg", 2, valence="-2", arousal="0.1"))
    train.append(affectnet_row("./100/../101/face_1.jpg", 1, valence="-0.40", arousal="-0.40"))  # odd but inside: normalised, kept
    # Bad rows, one per reason.
    write_image(images / "100/bad.jpg")
    train += [
        layouts.AFFECTNET_NULL,
        affectnet_row("100/bad.jpg", 1, box=(layouts.AFFECTNET_NULL, "2", "30", "40")),
        "100/bad.jpg,1,2,30,40,1;2,1,0.5",  # 8 columns
        affectnet_row("100/bad.jpg", 1, valence="abc"),
        affectnet_row("100/bad.jpg", 12),
        affectnet_row("100/bad.jpg", 1, arousal="1.5"),
        affectnet_row("100/bad.jpg", 1, box=("1", "2", "0", "40")),
        affectnet_row("100/bad.jpg", 1, landmarks=landmarks_text(135)),
        affectnet_row("100/bad.jpg", 1, landmarks=landmarks_text(135) + ";x"),
        affectnet_row("../../outside/secret.jpg", 1),
        affectnet_row("/etc/hostname", 1),
        affectnet_row("100/escape.jpg", 1),
        affectnet_row("100/missing.jpg", 1),
        affectnet_row("999/missing.jpg", 1),
        affectnet_row("100/a_folder.jpg", 1),
        affectnet_row("100/dangling.jpg", 1),
    ]
    (images / "100/escape.jpg").symlink_to(outside_file(tmp_path))
    (images / "100/a_folder.jpg").mkdir()
    (images / "100/dangling.jpg").symlink_to(images / "100/nowhere.jpg")
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "train"), train)

    validation = []
    for expression in range(8):
        relative = f"200/val_{expression}.jpg"
        write_image(images / relative)
        validation.append(affectnet_row(relative, expression))
    validation.append(affectnet_row("200/gone.jpg", 3))
    # Windows line ends too.
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "validation"), validation, newline="\r\n")

    expected = {
        "train": {8: 11, 7: 10},  # 8 labels + no_landmarks + not_annotated + ./100/../101 (7 drops contempt)
        "validation": {8: 8, 7: 7},
        "train_skips": {
            "NULL value": 2,
            "wrong column count": 1,
            "unparsable number": 1,
            "label out of range": 2,
            "invalid face box": 1,
            "invalid landmarks": 2,
            "path outside root": 3,
            "missing image": 2,
            "unreadable image": 2,
        },
        "validation_skips": {"missing image": 1},
    }
    if automatic:
        auto_images = layouts.affectnet_images_dir(root, "automatic")
        rows = []
        for expression in (0, 1, 7):
            relative = f"300/auto_{expression}.jpg"
            write_image(auto_images / relative)
            rows.append(affectnet_row(relative, expression))
        rows.append(affectnet_row("300/auto_missing.jpg", 1))
        layouts.write_affectnet_list(layouts.affectnet_list_path(root, "automatic"), rows)
        expected["automatic"] = {8: 3, 7: 2}
        expected["automatic_skips"] = {"missing image": 1}
    return expected


# --------------------------------------------------------------------------------------------------
# FEC
# --------------------------------------------------------------------------------------------------

_GOOD_BOX = ("0.1", "0.9", "0.2", "0.8")


def fec_row(urls, votes, triplet="ONE_CLASS_TRIPLET", boxes=(_GOOD_BOX,) * 3) -> str:
    return layouts.format_fec_row(urls, boxes, triplet, [(f"rater{rater}", vote) for rater, vote in enumerate(votes)])


def write_fec(root: Path, tmp_path: Path, *, images: Path | None = None) -> dict:
    """FEC lists and an images folder named by ``fec_image_filename``; returns expectations."""
    images = images if images is not None else root / layouts.FEC_IMAGES_FOLDER
    images.mkdir(parents=True, exist_ok=True)
    urls = [f"http://farm{index}.example.org/{index}/face_{index}.jpg" for index in range(6)]
    for index, url in enumerate(urls):
        write_image(layouts.fec_image_path(images, url), value=40 * index)
    dead = "http://farm9.example.org/dead.jpg"
    escaping = "http://farm9.example.org/escape.png"
    layouts.fec_image_path(images, escaping).symlink_to(outside_file(tmp_path))
    a, b, c, d, e, f = urls
    train = [
        fec_row((a, b, c), [1, 1, 1, 1, 1, 2]),  # odd 0, agreement 5/6
        fec_row((b, c, d), [3, 3, 3, 3, 3, 3], "TWO_CLASS_TRIPLET"),  # odd 2, agreement 1
        fec_row((c, d, e), [2, 2, 1, 1, 3, 2], "THREE_CLASS_TRIPLET"),  # odd 1, agreement 1/2
        fec_row((d, e, f), [2, 3, 2]),  # three raters only: odd 1, agreement 2/3
        fec_row((a, c, e), [3, 3, 1, 1, 2, 2]),  # three-way tie: lowest index, agreement 1/3
        # Bad rows.
        "NULL",
        fec_row((a, b, c), [1, 1, 1, 1, 1, 2])[: -len(",rater5,2")] + ",rater5",  # odd column count
        fec_row((a, b, c), [1, 1, 1, 1, 1, 2], boxes=(_GOOD_BOX, ("0.1", "zz", "0.2", "0.8"), _GOOD_BOX)),
        fec_row((a, b, c), [1, 1, 4, 1, 1, 2]),
        fec_row((a, b, c), [1, 1, 1, 1, 1, 2], triplet="FOUR_CLASS_TRIPLET"),
        fec_row((a, b, c), [1, 1, 1, 1, 1, 2], boxes=(_GOOD_BOX, ("0.1", "1.5", "0.2", "0.8"), _GOOD_BOX)),
        fec_row((a, b, c), [1, 1, 1, 1, 1, 2], boxes=(("0.9", "0.1", "0.2", "0.8"), _GOOD_BOX, _GOOD_BOX)),
        fec_row((a, dead, c), [1, 1, 1, 1, 1, 2]),
        fec_row((a, b, escaping), [1, 1, 1, 1, 1, 2]),
    ]
    test = [fec_row((f, e, d), [1, 2, 1, 1, 1, 1], "TWO_CLASS_TRIPLET"), fec_row((dead, e, d), [1, 1, 1, 1, 1, 1])]
    layouts.write_fec_list(layouts.fec_list_path(root, "train"), train)
    layouts.write_fec_list(layouts.fec_list_path(root, "test"), test)
    return {
        "train": 5,
        "test": 1,
        "train_odd_one_out": [0, 2, 1, 1, 0],
        "train_agreement": [5 / 6, 1.0, 0.5, 2 / 3, 1 / 3],
        "train_triplet_type": [0, 1, 2, 0, 0],
        "train_skips": {
            "NULL value": 1,
            "wrong column count": 1,
            "unparsable number": 1,
            "label out of range": 2,
            "invalid face box": 2,
            "missing image": 1,
            "path outside root": 1,
        },
        "test_skips": {"missing image": 1},
        "urls": urls,
    }


# --------------------------------------------------------------------------------------------------
# RAF-DB
# --------------------------------------------------------------------------------------------------


def write_rafdb(root: Path, tmp_path: Path) -> dict:
    lines = []
    for label in range(1, 8):
        name = f"train_{label:05d}.jpg"
        write_image(layouts.rafdb_aligned_path(root, name), value=30 * label)
        write_image(layouts.rafdb_original_path(root, name), value=30 * label)
        lines.append(layouts.format_rafdb_row(name, label))
    for number, label in ((1, 4), (2, 7)):
        name = f"test_{number:04d}.jpg"
        write_image(layouts.rafdb_aligned_path(root, name))
        write_image(layouts.rafdb_original_path(root, name))
        lines.append(f"{name}  {label}   ")  # extra spaces are tolerated
    write_image(layouts.rafdb_aligned_path(root, "train_00100.jpg"))
    layouts.rafdb_aligned_path(root, "train_00101.jpg").symlink_to(outside_file(tmp_path))
    layouts.rafdb_original_path(root, "train_00101.jpg").symlink_to(outside_file(tmp_path))
    lines += [
        "train_00100.jpg",  # one field
        "train_00100.jpg 3 extra",
        "train_00100.jpg NULL",
        "train_00100.jpg x",
        "train_00100.jpg 8",
        "train_00100.jpg 0",
        "val_00001.jpg 3",
        "train_../../../../outside/secret.jpg 3",
        "train_00101.jpg 2",
        "train_00102.jpg 2",
        "test_0003.jpg 1",
    ]
    layouts.write_rafdb_list(layouts.rafdb_list_path(root), lines)
    return {
        "train": 7,
        "test": 2,
        "train_labels": list(range(7)),
        "test_labels": [3, 6],
        "train_skips": {
            "wrong column count": 2,
            "NULL value": 1,
            "unparsable number": 1,
            "label out of range": 2,
            "path outside root": 2,
            "missing image": 1,
        },
        "test_skips": {"missing image": 1},
        "unknown_skips": {"unknown split prefix": 1},
    }


# --------------------------------------------------------------------------------------------------
# RECOLA
# --------------------------------------------------------------------------------------------------


def write_wav(path: Path, seconds: float = 0.2, rate: int = 8000) -> None:
    layouts.write_wav(path, np.zeros(int(seconds * rate), dtype=np.float32), rate)


def write_arff(path: Path, name: str, dimension: str, values, extra_lines=()) -> None:
    """A gold standard of ``values`` (instance names quoted, as ARFF allows), then ``extra_lines`` as they are."""
    step = layouts.RECOLA_LABEL_STEP_S
    rows = [layouts.format_arff_row(name, index * step, value, quoted=True) for index, value in enumerate(values)]
    layouts.write_gold_standard(path, dimension, [*rows, *extra_lines])


def write_recola_avec(root: Path, tmp_path: Path, *, frames: int = 26) -> dict:
    """An AVEC 2016 layout: 2 train, 2 dev (one without video), 1 test without labels, bad recordings."""
    rng = np.random.default_rng(0)
    traces = {}
    for name in ("train_1", "train_2", "dev_1", "dev_2", "train_3", "train_4", "train_5", "dev_3", "dev_4"):
        traces[name] = {dimension: rng.uniform(-1, 1, frames) for dimension in ("arousal", "valence")}
    for name in ("train_1", "train_2", "dev_1", "dev_2", "test_1", "train_4", "train_5", "dev_3", "dev_4"):
        write_wav(layouts.recola_audio_path(root, name))
    for name in ("train_1", "train_2", "dev_1", "test_1"):
        video = layouts.recola_video_path(root, name)
        video.parent.mkdir(parents=True, exist_ok=True)
        video.write_bytes(b"\x00\x00\x00\x18ftypmp42")  # only existence is checked
    for name, dimensions in traces.items():
        for dimension, values in dimensions.items():
            if name == "train_4" and dimension == "valence":
                continue  # labels for one dimension only
            path = layouts.recola_gold_standard_path(root, dimension, name)
            if name == "train_5" and dimension == "arousal":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("no data section\n")
                continue
            extra = ["'dev_1',x,0.5", "'dev_1',1.2"] if name == "dev_1" and dimension == "arousal" else []
            write_arff(path, name, dimension, values, extra)
    # dev_3: wav that is not audio. dev_4: label file symlinked outside root. test_2: labels/wav absent.
    layouts.recola_audio_path(root, "dev_3").write_bytes(b"not a wav file at all")
    escaping = layouts.recola_gold_standard_path(root, "arousal", "dev_4")
    escaping.unlink()
    target = tmp_path / "outside" / "dev_4.arff"
    write_arff(target, "dev_4", "arousal", traces["dev_4"]["arousal"])
    escaping.symlink_to(target)
    (layouts.recola_audio_dir(root) / "notes.txt").write_text("not a recording")
    return {
        "ids": {"train": ["train_1", "train_2"], "dev": ["dev_1", "dev_2"], "test": ["test_1"]},
        "frames": frames,
        "traces": traces,
        "videos": {"train_1", "train_2", "dev_1", "test_1"},
        "skips": {
            "train": {"missing audio": 1, "labels for only one dimension": 1, "malformed label file": 1},
            "dev": {"malformed label line": 2, "unreadable audio": 1, "path outside root": 1},
        },
    }


def write_recola_original(root: Path, *, frames: int = 26) -> dict:
    """An original-release layout with six participants (two per split) and three raters."""
    rng = np.random.default_rng(1)
    participants = ["P16", "P17", "P19", "P21", "P23", "P25"]
    means = {}
    for participant in participants:
        write_wav(layouts.recola_audio_path(root, participant, layout="original"))
        means[participant] = {}
        for dimension in layouts.RECOLA_DIMENSIONS:
            ratings = rng.uniform(-1, 1, (frames, 3))
            step = layouts.RECOLA_LABEL_STEP_S
            lines = [layouts.format_ratings_row(index * step, row) for index, row in enumerate(ratings)]
            if participant == "P17":
                lines[0] = lines[0].replace(".", ",")  # decimal comma
            path = layouts.recola_ratings_path(root, dimension, participant, layout="original")
            layouts.write_individual_ratings(path, lines, raters=("FM1", "FM2", "FF1"), layout="original")
            means[participant][dimension] = ratings.mean(axis=1)
    video = layouts.recola_video_path(root, "P16", layout="original")
    video.parent.mkdir()
    video.write_bytes(b"\x00")
    return {
        "ids": {"train": ["P16", "P21"], "dev": ["P17", "P23"], "test": ["P19", "P25"]},
        "means": means,
        "frames": frames,
    }


# --------------------------------------------------------------------------------------------------
# Unlabelled faces
# --------------------------------------------------------------------------------------------------


def write_face_folder(root: Path, tmp_path: Path) -> list[str]:
    """Images in nested folders (mixed-case extensions), non-images, and refused symlinks."""
    names = ["a.jpg", "b.JPEG", "sub/c.png", "sub/deeper/d.bmp", "sub/e.WebP", "z.Jpg"]
    for name in names:
        write_image(root / name)
    (root / "notes.txt").write_text("not an image")
    (root / "sub" / "archive.zip").write_bytes(b"PK")
    (root / "escape.jpg").symlink_to(outside_file(tmp_path))
    (root / "inside_link.jpg").symlink_to(root / "a.jpg")
    (root / "dangling.png").symlink_to(root / "nowhere.png")
    (root / "folder.jpg").mkdir()
    os.symlink(tmp_path / "outside", root / "linked_folder")  # not followed
    return sorted(str(root / name) for name in [*names, "inside_link.jpg"])


# --------------------------------------------------------------------------------------------------
# Reading the skip warnings back
# --------------------------------------------------------------------------------------------------


def skip_counts(records, corpus: str) -> dict[str, dict[str, int]]:
    """``{split: {reason: count}}`` from captured warnings; fails if a split was warned twice."""
    from hf_deepfever.data._common import CorpusRowsSkippedWarning

    counts: dict[str, dict[str, int]] = {}
    for record in records:
        if not issubclass(record.category, CorpusRowsSkippedWarning):
            continue
        message = str(record.message)
        head, _, rest = message.partition(": skipped ")
        assert head.startswith(corpus + " "), message
        split = head[len(corpus) + 1 :]
        assert split not in counts, f"two warnings for {corpus} {split}"
        total = int(rest.split(" ", 1)[0])
        detail = rest[rest.index(" (") + 2 : -1]
        counts[split] = {
            reason: int(count) for reason, count in (item.rsplit(": ", 1) for item in detail.split(", "))
        }
        assert sum(counts[split].values()) == total, message
    return counts

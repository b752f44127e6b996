"""Writers of the synthetic demo corpus's still-image parts, each in its publisher's exact layout.

AffectNet, FEC, RAF-DB and a folder of unlabelled faces, all drawn by
:mod:`hf_deepfever.synthetic.face_renderer`. The layouts are the publishers' own, written through
:mod:`hf_deepfever.synthetic.layouts`; every writer returns a summary of what it wrote, including how many
rows a correct loader should keep.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from . import layouts
from .faces import ANY_EXPRESSION, NO_FACE, FaceJob, FaceResult, JobRunner, run_face_job
from .face_renderer import ExpressionParams, sample_valence_arousal
from ..core.vocabulary import FEC_TRIPLET_TYPES, RAFDB_TO_AFFECTNET

# Part ids keep the seed streams of the parts apart.
_AFFECTNET, _AFFECTNET_AUTO, _FEC, _RAFDB, _UNLABELLED = 11, 12, 13, 14, 15

# AffectNet's training set is dominated by happy and neutral faces; the demo keeps a milder
# version of that imbalance (the square root of the published class shares, rescaled).
_AFFECTNET_TRAIN_SHARES = np.sqrt(np.array([74874, 134415, 25459, 14090, 6378, 3803, 24882, 3750], dtype=np.float64))

_RAFDB_TRAIN_SHARES = np.sqrt(np.array([1290, 281, 717, 4772, 1982, 705, 2524], dtype=np.float64))

_FEC_RATERS_PER_TRIPLET = 6
# How much each expression parameter counts when raters judge similarity (field order of ExpressionParams).
_SIMILARITY_WEIGHTS = np.array([1.0, 1.0, 1.2, 1.3, 1.0, 0.6, 1.0, 1.0])


def _hex_name(*parts: object, length: int = 56) -> str:
    """A deterministic hex file stem (AffectNet names its images by 56-hex-digit hashes)."""
    return hashlib.sha224("/".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _spread_counts(total: int, shares: np.ndarray, minimum: int) -> list[int]:
    """Splits ``total`` in proportion to ``shares``, each class getting at least ``minimum``."""
    raw = shares / shares.sum() * total
    counts = np.maximum(np.floor(raw).astype(int), minimum)
    order = np.argsort(-(raw - np.floor(raw)))
    index = 0
    while counts.sum() < total:
        counts[order[index % len(order)]] += 1
        index += 1
    return [int(c) for c in counts]


# --------------------------------------------------------------------------------------------- AffectNet


def _affectnet_row(relative: str, result: FaceResult, expression: int, va: tuple[float, float]) -> str:
    box = tuple(int(round(v)) for v in result.face_box)
    return layouts.format_affectnet_row(relative, box, result.landmarks, expression, va[0], va[1])


def _affectnet_list(
    root: Path,
    split: str,
    labels: list[int],
    seed: int,
    part: int,
    runner: JobRunner,
    *,
    null_rows: int,
    label_noise: float = 0.0,
) -> tuple[list[str], dict[str, Any]]:
    """Draws one list's pictures (into ``split``'s images folder) and returns its CSV lines (shuffled) and counts.

    ``labels`` holds AffectNet ids 0-10. ``null_rows`` extra rows carry the literal NULL where the
    face box and landmarks belong. ``label_noise`` replaces that share of labels 0-7 by a random
    one (the automatically annotated part is right only about two times in three).
    """
    rng = np.random.default_rng([seed, part])
    n_subdirs = max(1, len(labels) // 60)
    jobs, names = [], []
    for index, label in enumerate(labels):
        subdir = str(1 + (index * 7919) % n_subdirs)
        relative = f"{subdir}/{_hex_name(seed, part, index)}.jpg"
        names.append(relative)
        drawn = NO_FACE if label == 10 else (ANY_EXPRESSION if label in (8, 9) else label)
        jobs.append(
            FaceJob(
                path=str(layouts.affectnet_images_dir(root, split) / relative),
                seed=(seed, part, index),
                expression=drawn,
                width=144,
                max_width=208,
                height=144,
                max_height=208,
            )
        )
    results = runner.map(run_face_job, jobs)
    lines, kept = [], Counter()
    for index, (label, relative, result) in enumerate(zip(labels, names, results, strict=True)):
        va_rng = np.random.default_rng([seed, part, index, 1])
        if label in (9, 10):
            va = (-2.0, -2.0)  # not annotated
        else:
            va = sample_valence_arousal(ExpressionParams.from_array(result.params), va_rng)
        written = label
        if label < 8 and va_rng.uniform() < label_noise:
            written = int(va_rng.integers(8))
        lines.append(_affectnet_row(relative, result, written, va))
        kept[written] += 1
    for index in range(null_rows):
        row_rng = np.random.default_rng([seed, part, 10_000 + index])
        relative = names[int(row_rng.integers(len(names)))]
        label = int(row_rng.integers(8))
        valence, arousal = row_rng.uniform(-1, 1), row_rng.uniform(-1, 1)
        lines.append(layouts.format_affectnet_row(relative, None, None, label, valence, arousal))
    order = rng.permutation(len(lines))
    counts = {
        "rows": len(lines),
        "null_rows": null_rows,
        "expression_counts": {str(k): kept[k] for k in sorted(kept)},
        "rows_protocol_8": sum(kept[k] for k in range(8)),
        "rows_protocol_7": sum(kept[k] for k in range(7)),
    }
    return [lines[i] for i in order], counts


def write_affectnet(
    root: Path,
    *,
    seed: int,
    train_total: int,
    validation_per_class: int,
    extra_labels_per_split: int,
    null_rows: int,
    automatic_rows: int,
    runner: JobRunner,
) -> dict[str, Any]:
    """Writes ``root`` = ``affectnet/`` in AffectNet's layout; returns the per-list counts.

    The training list follows a mild version of AffectNet's class imbalance; validation has
    ``validation_per_class`` faces of each expression 0-7, as AffectNet's has 500. Each list
    also gets ``extra_labels_per_split`` rows of each of 8 (None), 9 (Uncertain, valence and arousal
    -2) and 10 (No-Face, a picture without a face, -2), and ``null_rows`` NULL rows.
    """
    train_counts = _spread_counts(train_total, _AFFECTNET_TRAIN_SHARES, minimum=max(2, train_total // 40))
    train_labels = [label for label, n in enumerate(train_counts) for _ in range(n)]
    validation_labels = [label for label in range(8) for _ in range(validation_per_class)]
    extras = [label for label in (8, 9, 10) for _ in range(extra_labels_per_split)]
    summary: dict[str, Any] = {"root": str(root)}
    for split, labels, part in (
        ("train", train_labels + extras, _AFFECTNET),
        ("validation", validation_labels + extras, _AFFECTNET + 100),
    ):
        lines, counts = _affectnet_list(root, split, labels, seed, part, runner, null_rows=null_rows)
        layouts.write_affectnet_list(layouts.affectnet_list_path(root, split), lines)
        summary[split] = counts
    auto_rng = np.random.default_rng([seed, _AFFECTNET_AUTO])
    auto_labels = [int(v) for v in auto_rng.integers(0, 8, size=automatic_rows)]
    lines, counts = _affectnet_list(
        root,
        "automatic",
        auto_labels,
        seed,
        _AFFECTNET_AUTO,
        runner,
        null_rows=0,
        label_noise=0.35,
    )
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "automatic"), lines)
    summary["automatic"] = counts
    return summary


# --------------------------------------------------------------------------------------------------- FEC


def fec_url(index: int) -> str:
    """The demo's fake Flickr URL of face ``index`` (never fetched: the images sit beside the lists)."""
    return f"http://farm{1 + index % 9}.staticflickr.com/demo/{index}.jpg"


def _pick_triplet(kind: int, pool_by_class: dict[int, list[int]], rng: np.random.Generator) -> list[int] | None:
    """Three face indices spanning 1, 2 or 3 expression classes (``kind`` 0, 1, 2), or None if the pool cannot."""
    available = [c for c, faces in pool_by_class.items() if faces]
    if kind == 0:
        classes = [c for c in available if len(pool_by_class[c]) >= 3]
        if not classes:
            return None
        chosen = rng.choice(classes)
        return [int(i) for i in rng.choice(pool_by_class[int(chosen)], size=3, replace=False)]
    if kind == 1:
        pairs = [c for c in available if len(pool_by_class[c]) >= 2]
        if not pairs or len(available) < 2:
            return None
        pair_class = int(rng.choice(pairs))
        other = int(rng.choice([c for c in available if c != pair_class]))
        faces = [int(i) for i in rng.choice(pool_by_class[pair_class], size=2, replace=False)]
        faces.append(int(rng.choice(pool_by_class[other])))
    else:
        if len(available) < 3:
            return None
        chosen_classes = rng.choice(available, size=3, replace=False)
        faces = [int(rng.choice(pool_by_class[int(c)])) for c in chosen_classes]
    return [faces[i] for i in rng.permutation(3)]


def _rater_answers(
    params: np.ndarray, raters: np.ndarray, temperatures: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """Each rater names the odd one out (1-3): the face left out of the closest pair, judged noisily.

    A rater picks face k with probability proportional to exp(-d(pair without k) / temperature),
    with the rater's own temperature, plus a 5% lapse rate of random answers.
    """
    weighted = params * _SIMILARITY_WEIGHTS
    distances = np.array(
        [
            np.linalg.norm(weighted[1] - weighted[2]),
            np.linalg.norm(weighted[0] - weighted[2]),
            np.linalg.norm(weighted[0] - weighted[1]),
        ]
    )
    answers = []
    for rater in raters:
        if rng.uniform() < 0.05:
            answers.append(int(rng.integers(1, 4)))
            continue
        logits = -distances / temperatures[rater]
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        answers.append(int(rng.choice(3, p=probabilities)) + 1)
    return answers


def _normalised_box(result: FaceResult) -> tuple[float, float, float, float]:
    """FEC's box: left and right columns over the width, top and bottom rows over the height."""
    x, y, w, h = result.face_box
    return (x / result.width, (x + w) / result.width, y / result.height, (y + h) / result.height)


def write_fec(
    root: Path,
    *,
    seed: int,
    faces: int,
    train_triplets: int,
    test_triplets: int,
    dead_share: float,
    malformed_lines: int,
    runner: JobRunner,
) -> dict[str, Any]:
    """Writes ``root`` = ``fec/``: the two FEC lists and ``images/`` named by :func:`fec_image_filename`.

    A pool of ``faces`` faces (one in seven kept for the test split) is drawn; each triplet takes
    three of them spanning one, two or three expression classes, and six raters of varying care
    name the odd one out from the faces' expression-parameter distances. ``dead_share`` of the
    URLs have no image (dead links, as many Flickr URLs are today); ``malformed_lines`` lines per
    list do not parse.
    """
    rng = np.random.default_rng([seed, _FEC])
    classes = rng.integers(0, 8, size=faces)
    images = root / layouts.FEC_IMAGES_FOLDER
    jobs = [
        FaceJob(
            path=str(layouts.fec_image_path(images, fec_url(i))),
            seed=(seed, _FEC, i),
            expression=int(classes[i]),
            width=150,
            max_width=230,
            height=150,
            max_height=230,
            face_fraction=(0.45, 0.8),
        )
        for i in range(faces)
    ]
    results = runner.map(run_face_job, jobs)
    dead = set(int(i) for i in np.flatnonzero(rng.uniform(size=faces) < dead_share))
    for index in sorted(dead):
        os.remove(jobs[index].path)
    is_test = np.zeros(faces, dtype=bool)
    is_test[rng.permutation(faces)[: max(8, faces // 7)]] = True
    rater_count = 60
    temperatures = rng.uniform(0.05, 0.3, size=rater_count)  # gives 70-90% mean agreement, as careful raters
    rater_ids = rng.choice(np.arange(1000, 100000), size=rater_count, replace=False)

    summary: dict[str, Any] = {"root": str(root), "images": faces - len(dead), "dead_urls": len(dead)}
    for split, count, in_split in (("train", train_triplets, ~is_test), ("test", test_triplets, is_test)):
        pool = np.flatnonzero(in_split)
        pool_by_class = {c: [int(i) for i in pool if classes[i] == c] for c in range(8)}
        lines, loadable, types = [], 0, Counter()
        attempts = 0
        while len(lines) < count:
            attempts += 1
            if attempts > 100 * count:
                raise RuntimeError(f"FEC demo: cannot form {count} {split} triplets from {len(pool)} faces")
            kind = int(rng.choice(3))
            triplet = _pick_triplet(kind, pool_by_class, rng)
            if triplet is None:
                continue
            raters = rng.choice(rater_count, size=_FEC_RATERS_PER_TRIPLET, replace=False)
            answers = _rater_answers(np.stack([results[i].params for i in triplet]), raters, temperatures, rng)
            lines.append(
                layouts.format_fec_row(
                    [fec_url(face) for face in triplet],
                    [_normalised_box(results[face]) for face in triplet],
                    FEC_TRIPLET_TYPES[kind],
                    [(int(rater_ids[rater]), answer) for rater, answer in zip(raters, answers, strict=True)],
                )
            )
            types[FEC_TRIPLET_TYPES[kind]] += 1
            loadable += all(face not in dead for face in triplet)
        for index in range(malformed_lines):
            broken = lines[index].split(",")
            # A truncated line, then one with a box that is not a number.
            lines.append(",".join(broken[:9]) if index % 2 == 0 else ",".join(broken[:2] + ["n/a"] + broken[3:]))
        order = rng.permutation(len(lines))
        layouts.write_fec_list(layouts.fec_list_path(root, split), (lines[i] for i in order))
        summary[split] = {
            "rows": len(lines),
            "parsable_rows": count,
            "loadable_rows": loadable,
            "malformed_rows": malformed_lines,
            "triplet_types": dict(sorted(types.items())),
        }
    return summary


# ------------------------------------------------------------------------------------------------ RAF-DB


def write_rafdb(root: Path, *, seed: int, train_total: int, test_total: int, runner: JobRunner) -> dict[str, Any]:
    """Writes ``root`` = ``rafdb/`` in RAF-DB's basic layout, drawn in the flat cartoon style.

    Labels are RAF-DB's own 1-7 (1 Surprise ... 7 Neutral), with a mild version of its imbalance.
    Each face is saved as an original picture and as a 100x100 aligned crop.
    """
    entries: list[tuple[str, int]] = []
    jobs = []
    for split, total, digits in (("train", train_total, 5), ("test", test_total, 4)):
        counts = _spread_counts(total, _RAFDB_TRAIN_SHARES, minimum=max(1, total // 30))
        labels = [label + 1 for label, n in enumerate(counts) for _ in range(n)]
        order = np.random.default_rng([seed, _RAFDB, len(entries)]).permutation(len(labels))
        for position, label_index in enumerate(order, start=1):
            label = labels[label_index]
            name = f"{split}_{position:0{digits}d}.jpg"
            entries.append((name, label))
            jobs.append(
                FaceJob(
                    path=str(layouts.rafdb_original_path(root, name)),
                    seed=(seed, _RAFDB, len(jobs)),
                    expression=RAFDB_TO_AFFECTNET[label - 1],  # file labels are 1-7
                    style="rafdb",
                    width=140,
                    max_width=260,
                    height=140,
                    max_height=260,
                    face_fraction=(0.4, 0.8),
                    aligned_path=str(layouts.rafdb_aligned_path(root, name)),
                )
            )
    runner.map(run_face_job, jobs)
    layouts.write_rafdb_list(
        layouts.rafdb_list_path(root), (layouts.format_rafdb_row(name, label) for name, label in entries)
    )
    summary: dict[str, Any] = {"root": str(root)}
    for split in ("train", "test"):
        labels = Counter(label for name, label in entries if name.startswith(split + "_"))
        summary[split] = {"rows": sum(labels.values()), "label_counts": {str(k): labels[k] for k in sorted(labels)}}
    return summary


# ------------------------------------------------------------------------------------------- unlabelled


def write_unlabelled(root: Path, *, seed: int, count: int, runner: JobRunner) -> dict[str, Any]:
    """Writes ``root`` = ``unlabelled/``: a tree of face pictures without labels (a few PNGs among JPEGs).

    The faces are photo-style crops, each a blend of two random expressions.
    """
    jobs = []
    for index in range(count):
        folder = f"batch_{index % 7:02d}" + ("/more" if index % 5 == 0 else "")
        extension = ".png" if index % 50 == 49 else ".jpg"
        jobs.append(
            FaceJob(
                path=str(root / folder / f"face_{index:06d}{extension}"),
                seed=(seed, _UNLABELLED, index),
                expression=ANY_EXPRESSION,
                width=112,
                height=112,
                face_fraction=(0.78, 0.95),
            )
        )
    runner.map(run_face_job, jobs)
    return {"root": str(root), "images": count}

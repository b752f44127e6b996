"""Corpus datasets (from :mod:`hf_deepfever.data`) -> the two row shapes training consumes.

*Face rows* (one face each; AffectNet, the faces of FEC, unlabelled folders)::

    path               str     absolute image path
    face_box           [x, y, w, h] in pixels, or null
    face_box_relative  [left, right, top, bottom] in [0, 1] (FEC's convention), or null
    landmarks          the face's (x, y) points flattened (AffectNet: 68 iBUG points = 136 floats) in pixels of
                       the stored image, or null; the transforms pass them to the processor as face_landmarks
    labels             int64   expression id, -100 when the row has none
    valence_arousal    [valence, arousal], NaN where not annotated
    row_index          int64   0..N-1, the row's identity for seeded augmentation and the teacher cache

*Triplet rows* (FEC): ``path_1..3``, ``box_1..3`` (relative boxes), ``odd_one_out`` (0-2), ``triplet_type``
(0-2: one/two/three-class), ``row_index``.

Everything is built with Arrow kernels on image *paths* (``Image(decode=False)``); no image is opened here.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .inputs import IGNORE_INDEX

logger = logging.getLogger(__name__)

_BOX = pa.list_(pa.float32(), 4)
_POINTS = pa.list_(pa.float32())
FACE_ROW_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("face_box", _BOX),
        ("face_box_relative", _BOX),
        ("landmarks", _POINTS),
        ("labels", pa.int64()),
        ("valence_arousal", pa.list_(pa.float32(), 2)),
        ("row_index", pa.int64()),
    ]
)


def _dataset(table: pa.Table):
    from datasets import Dataset
    from datasets.table import InMemoryTable

    return Dataset(InMemoryTable(table))


def _arrow_columns(dataset, columns: list[str], max_samples: int | None) -> pa.Table:
    """The named columns as one Arrow table (indices applied), image columns as their path strings."""
    from datasets import Image

    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    dataset = dataset.select_columns(columns)
    for name, feature in dataset.features.items():
        if isinstance(feature, Image):
            dataset = dataset.cast_column(name, Image(decode=False))
    table = dataset.with_format("arrow")[:]
    for name, feature in dataset.features.items():
        if isinstance(feature, Image):
            paths = pc.struct_field(table.column(name), "path")
            table = table.set_column(table.schema.get_field_index(name), name, paths)
    return table


def _face_table(paths, face_boxes, relative_boxes, labels, valence_arousal, landmarks=None) -> pa.Table:
    count = len(paths)
    nulls = pa.nulls(count, _BOX)
    return pa.table(
        {
            "path": pa.array(paths, pa.string()) if not isinstance(paths, pa.ChunkedArray) else paths.cast(pa.string()),
            "face_box": nulls if face_boxes is None else face_boxes,
            "face_box_relative": nulls if relative_boxes is None else relative_boxes,
            "landmarks": pa.nulls(count, _POINTS) if landmarks is None else landmarks,
            "labels": pa.array(labels, pa.int64()),
            "valence_arousal": pa.FixedSizeListArray.from_arrays(
                pa.array(np.asarray(valence_arousal, np.float32).reshape(-1)), 2
            ),
            "row_index": pa.array(np.arange(count, dtype=np.int64)),
        },
        schema=FACE_ROW_SCHEMA,
    )


def _alignable_landmarks(column: pa.ChunkedArray) -> pa.Array:
    """AffectNet's 136-float landmarks as the ``landmarks`` column. A row whose eye centres coincide or are not
    finite (no eye line to level) gets null instead, so its face is cropped unrotated; such rows are counted."""
    points = column.combine_chunks().cast(pa.list_(pa.float32(), 136))
    values = points.values.to_numpy(zero_copy_only=False)[points.offset * 136 :][: len(points) * 136]
    values = values.reshape(len(points), 68, 2)
    eyes = values[:, 42:48].mean(axis=1) - values[:, 36:42].mean(axis=1)
    present = points.is_valid().to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        usable = present & np.isfinite(values).all(axis=(1, 2)) & (np.hypot(eyes[:, 0], eyes[:, 1]) >= 1e-3)
    if (present & ~usable).any():
        logger.warning(
            "%d AffectNet rows have landmarks without an eye line (eyes coincide or not finite): their faces are "
            "cropped without alignment", int((present & ~usable).sum()),
        )
    kept = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), pa.float32()), 136, mask=pa.array(~usable))
    return kept.cast(_POINTS)


def with_alignable_landmarks(split):
    """``split`` (a ``load_affectnet`` split) with the landmarks training's face rows keep: null where there is no
    eye line, so evaluation crops and aligns each face exactly as training does (and counts such rows alike)."""
    if "landmarks" not in split.column_names:
        return split
    kept = _alignable_landmarks(split.with_format("arrow")["landmarks"])
    feature = split.features["landmarks"]
    return split.remove_columns("landmarks").add_column("landmarks", kept.to_pylist(), feature=feature)


def affectnet_face_rows(split, max_samples: int | None = None):
    """AffectNet rows (``load_affectnet(...)[split]``) -> face rows with labels, valence/arousal and landmarks."""
    columns = ["image", "face_box", "expression", "valence", "arousal"]
    has_landmarks = "landmarks" in split.column_names
    table = _arrow_columns(split, columns + (["landmarks"] if has_landmarks else []), max_samples)
    valence = table.column("valence").to_numpy(zero_copy_only=False).astype(np.float32)
    arousal = table.column("arousal").to_numpy(zero_copy_only=False).astype(np.float32)
    boxes = table.column("face_box").combine_chunks().cast(_BOX)
    landmarks = _alignable_landmarks(table.column("landmarks")) if has_landmarks else None
    return _dataset(
        _face_table(
            table.column("image"),
            boxes,
            None,
            table.column("expression").to_numpy(),
            np.stack([valence, arousal], 1),
            landmarks,
        )
    )


def fec_face_rows(split, max_samples: int | None = None):
    """The distinct (image, box) faces of FEC triplets -> unlabelled face rows (FEC has no per-face labels)."""
    table = _arrow_columns(split, [f"{kind}_{k}" for k in (1, 2, 3) for kind in ("image", "box")], max_samples)
    seen: set[tuple[str, tuple[float, ...]]] = set()
    paths, boxes = [], []
    for k in (1, 2, 3):
        for path, box in zip(table.column(f"image_{k}").to_pylist(), table.column(f"box_{k}").to_pylist()):
            key = (path, tuple(box))
            if key not in seen:
                seen.add(key)
                paths.append(path)
                boxes.append(box)
    count = len(paths)
    relative = pa.array(boxes, _BOX)
    return _dataset(
        _face_table(paths, None, relative, np.full(count, IGNORE_INDEX), np.full((count, 2), np.nan, np.float32))
    )


def whole_image_rows(dataset, label_column: str | None = None, max_samples: int | None = None):
    """Images without face boxes (a face folder from ``load_face_folder``, RAF-DB's aligned faces) -> face rows.

    ``label_column`` names an expression column to keep as ``labels`` (e.g. ``"expression"`` for RAF-DB);
    without it the rows are unlabelled.
    """
    table = _arrow_columns(dataset, ["image"] + ([label_column] if label_column else []), max_samples)
    count = table.num_rows
    labels = table.column(label_column).to_numpy() if label_column else np.full(count, IGNORE_INDEX)
    return _dataset(_face_table(table.column("image"), None, None, labels, np.full((count, 2), np.nan)))


def concatenate_face_rows(parts: list):
    """Concatenate face-row datasets and renumber ``row_index`` 0..N-1."""
    parts = [part for part in parts if part is not None and len(part) > 0]
    if not parts:
        raise ValueError("no training faces: every corpus given is empty")
    tables = [part.with_format("arrow")[:] for part in parts]
    table = pa.concat_tables(tables).combine_chunks()
    table = table.set_column(
        table.schema.get_field_index("row_index"), "row_index", pa.array(np.arange(table.num_rows, dtype=np.int64))
    )
    return _dataset(table)


def fec_triplet_rows(split, max_samples: int | None = None):
    """FEC triplets (``load_fec(...)[split]``) -> triplet rows."""
    columns = [f"{kind}_{k}" for k in (1, 2, 3) for kind in ("image", "box")] + ["odd_one_out", "triplet_type"]
    table = _arrow_columns(split, columns, max_samples)
    data = {f"path_{k}": table.column(f"image_{k}").cast(pa.string()) for k in (1, 2, 3)}
    data.update({f"box_{k}": table.column(f"box_{k}").cast(_BOX) for k in (1, 2, 3)})
    data["odd_one_out"] = table.column("odd_one_out").cast(pa.int64())
    data["triplet_type"] = table.column("triplet_type").cast(pa.int64())
    data["row_index"] = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return _dataset(pa.table(data))


def sample_rows(dataset, max_samples: int | None, seed: int):
    """At most ``max_samples`` rows of ``dataset``, drawn at random with ``seed`` (corpus lists are often sorted
    by class, so the first rows would not do); the dataset itself when it is not larger."""
    if max_samples is None or max_samples >= len(dataset):
        return dataset
    if max_samples <= 0:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    return dataset.shuffle(seed=seed).select(range(max_samples))


def expression_counts(face_rows, num_classes: int) -> np.ndarray:
    """Rows per expression class (rows without a label are not counted)."""
    labels = face_rows.with_format("arrow")[:].column("labels").to_numpy()
    labels = labels[(labels >= 0) & (labels < num_classes)]
    return np.bincount(labels, minlength=num_classes)


__all__ = [
    "FACE_ROW_SCHEMA",
    "affectnet_face_rows",
    "concatenate_face_rows",
    "expression_counts",
    "fec_face_rows",
    "fec_triplet_rows",
    "sample_rows",
    "whole_image_rows",
]

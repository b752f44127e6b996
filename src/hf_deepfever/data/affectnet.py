"""Reader for AffectNet (Mollahosseini et al.) in the layout its publisher ships.

Expected below ``root`` (the images folder may also sit one or two folders deeper, as some archives
unpack it)::

    Manually_Annotated_file_lists/training.csv
    Manually_Annotated_file_lists/validation.csv
    Manually_Annotated_Images/<subdir>/<file>.jpg
    Automatically_Annotated_file_lists/automatically_annotated.csv   (only for include_automatic=True)
    Automatically_Annotated_Images/<subdir>/<file>.jpg               (only for include_automatic=True)

Each list is a CSV with a header line and the columns ``subDirectory_filePath, face_x, face_y,
face_width, face_height, facial_landmarks, expression, valence, arousal``.

Corpus images keep their STORED pixels: EXIF orientation is not applied, because the published boxes and
landmarks refer to the stored pixels (user photos at inference, by contrast, are made upright).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.corpus_layouts import (
    AFFECTNET_AUTOMATIC_IMAGES,
    AFFECTNET_AUTOMATIC_LISTS,
    AFFECTNET_COLUMNS,
    AFFECTNET_LIST_FILES,
    AFFECTNET_MANUAL_IMAGES,
    AFFECTNET_MANUAL_LISTS,
)
from ..core.vocabulary import AFFECTNET_EXPRESSIONS
from ._common import (
    FILE_OK,
    REASON_COLUMNS,
    REASON_IMAGE_TOO_LARGE,
    REASON_LABEL,
    REASON_NULL,
    REASON_NUMBER,
    REASON_UNREADABLE_IMAGE,
    BuildContext,
    DirectoryIndex,
    SkipCounts,
    concat_columns,
    count_file_statuses,
    find_folder,
    image_column,
    is_inside,
    load_with_cache,
    make_dataset,
    require_dir,
    require_file,
)
from ._fields import field, has_null_literal, parse_floats, parse_ints, split_fields
from ._image_headers import HEADER_TOO_LARGE, HEADER_UNREADABLE, read_image_sizes
from ._lines import iter_line_batches

logger = logging.getLogger(__name__)

CORPUS = "AffectNet"


_COLUMN_COUNT = 9
_LANDMARK_COUNT = 136
_HIGHEST_LABEL = 10  # 10 = No-Face; anything above is out of range
_NOT_ANNOTATED = -2.0  # the file's marker for a missing valence/arousal
_HEADER_PREFIX = AFFECTNET_COLUMNS[0].lower()

REASON_FACE_BOX = "invalid face box"
REASON_BOX_OUTSIDE = "face box outside image"
REASON_LANDMARKS = "invalid landmarks"

_OUTPUT_COLUMNS = ["image", "face_box", "landmarks", "expression", "valence", "arousal"]


def _features(protocol: int):
    from datasets import ClassLabel, Features, Image, List, Value

    return Features(
        {
            "image": Image(),
            "face_box": List(Value("float32"), length=4),
            "landmarks": List(Value("float32"), length=_LANDMARK_COUNT),
            "expression": ClassLabel(names=list(AFFECTNET_EXPRESSIONS[:protocol])),
            "valence": Value("float32"),
            "arousal": Value("float32"),
        }
    )


def _parse_landmarks(text: pa.Array) -> tuple[pa.FixedSizeListArray, np.ndarray]:
    """136 floats per row from ``x;y;...`` text (None where empty), and which rows were well-formed."""
    row_count = len(text)
    text = pc.utf8_trim(text, characters=" ;")
    empty = pc.equal(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
    parts = pc.split_pattern(text, ";")
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    values, valid_values = parse_floats(pc.list_flatten(parts))
    has_bad_value = np.zeros(row_count, dtype=bool)
    if not valid_values.all():
        parents = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
        has_bad_value[parents[~valid_values]] = True
    complete = (lengths == _LANDMARK_COUNT) & ~has_bad_value
    if complete.all():  # the usual case: no masking, no copy beyond the float32 conversion
        matrix = values.astype(np.float32).reshape(row_count, _LANDMARK_COUNT)
    else:
        matrix = np.zeros((row_count, _LANDMARK_COUNT), dtype=np.float32)
        matrix[complete] = values[np.repeat(complete, lengths)].reshape(-1, _LANDMARK_COUNT)
    landmarks = pa.FixedSizeListArray.from_arrays(
        pa.array(matrix.ravel()), _LANDMARK_COUNT, mask=pa.array(~complete)
    )
    return landmarks, complete | empty


def _parse_batch(lines: pa.Array, protocol: int, split: str, skips: SkipCounts) -> dict[str, pa.Array]:
    """Validate one batch of list lines; return the columns of the rows kept."""
    fields, counts = split_fields(lines, ",")
    is_null = has_null_literal(fields, len(fields))
    skips.add_mask(split, REASON_NULL, is_null)
    right_width = ~is_null & (counts == _COLUMN_COUNT)
    skips.add_mask(split, REASON_COLUMNS, ~is_null & ~right_width)
    fields = fields.filter(pa.array(right_width))
    row_count = len(fields)

    box = [parse_floats(field(fields, index)) for index in range(1, 5)]
    expression, expression_ok = parse_ints(field(fields, 6))
    valence, valence_ok = parse_floats(field(fields, 7))
    arousal, arousal_ok = parse_floats(field(fields, 8))
    landmarks, landmarks_ok = _parse_landmarks(field(fields, 5))
    numbers_ok = expression_ok & valence_ok & arousal_ok & np.logical_and.reduce([ok for _, ok in box])

    def affect_in_range(values: np.ndarray) -> np.ndarray:
        return (np.abs(values) <= 1.0) | (values == _NOT_ANNOTATED)

    labels_ok = (expression >= 0) & (expression <= _HIGHEST_LABEL) & affect_in_range(valence) & affect_in_range(arousal)
    box_ok = (box[2][0] > 0) & (box[3][0] > 0)  # in float32, the stored type: 1e-50 is no width

    # Each row is counted once, under the first problem found.
    keep = np.ones(row_count, dtype=bool)
    for reason, bad in (
        (REASON_NUMBER, ~numbers_ok),
        (REASON_LABEL, ~labels_ok),
        (REASON_FACE_BOX, ~box_ok),
        (REASON_LANDMARKS, ~landmarks_ok),
    ):
        skips.add_mask(split, reason, keep & bad)
        keep &= ~bad

    in_protocol = keep & (expression < protocol)
    excluded = int(np.count_nonzero(keep & ~in_protocol))
    if excluded:
        logger.info("%s %s: %d row(s) with expressions outside protocol %d left out", CORPUS, split, excluded, protocol)

    mask = pa.array(in_protocol)
    face_box = np.stack([values for values, _ in box], axis=1)[in_protocol]
    return {
        "relative_path": field(fields, 0).filter(mask),
        "face_box": pa.FixedSizeListArray.from_arrays(pa.array(face_box.ravel()), 4),
        "landmarks": landmarks.filter(mask),
        "expression": pa.array(expression[in_protocol]),
        "valence": pa.array(np.where(valence == _NOT_ANNOTATED, np.float32("nan"), valence)[in_protocol]),
        "arousal": pa.array(np.where(arousal == _NOT_ANNOTATED, np.float32("nan"), arousal)[in_protocol]),
    }


def _keep_found(
    columns: dict[str, pa.Array], index: DirectoryIndex, split: str, skips: SkipCounts
) -> dict[str, pa.Array]:
    """The rows of one parsed batch whose image exists and whose face box overlaps it, with the ``image``
    column added."""
    absolute, statuses = index.lookup(columns.pop("relative_path"))
    count_file_statuses(skips, split, statuses)
    found = statuses == FILE_OK
    usable = _box_overlaps_image(absolute.filter(pa.array(found)), columns["face_box"].filter(pa.array(found)))
    keep = found.copy()
    keep[found] = usable.pop("kept")
    for reason, rows in usable.items():
        skips.add(split, reason, int(np.count_nonzero(rows)))
    mask = pa.array(keep)
    kept = {name: array.filter(mask) for name, array in columns.items()}
    kept["image"] = image_column(absolute.filter(mask))
    return kept


def _box_overlaps_image(paths: pa.StringArray, boxes: pa.FixedSizeListArray) -> dict[str, np.ndarray]:
    """Which rows to keep (``"kept"``), and per skip reason which rows fail: an image whose header cannot be
    read, one too large to decode, or a face box that lies entirely outside its image.

    The rule is the image processor's (``square_crop_region``): the box clipped to the image must keep an
    area. Only headers are read, once per distinct file (see :mod:`._image_headers`).
    """
    encoded = paths.dictionary_encode()
    widths, heights, header = read_image_sizes(encoded.dictionary.to_pylist())
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    width, height, header = widths[codes], heights[codes], header[codes]
    x, y, w, h = (
        np.asarray(boxes.flatten(), dtype=np.float32).reshape(-1, 4).astype(np.float64).T
        if len(boxes)
        else np.zeros((4, 0))
    )
    outside = (np.minimum(x + w, width) <= np.maximum(x, 0.0)) | (np.minimum(y + h, height) <= np.maximum(y, 0.0))
    unreadable = header == HEADER_UNREADABLE
    too_large = header == HEADER_TOO_LARGE
    outside &= ~unreadable & ~too_large
    return {
        "kept": ~(unreadable | too_large | outside),
        REASON_UNREADABLE_IMAGE: unreadable,
        REASON_IMAGE_TOO_LARGE: too_large,
        REASON_BOX_OUTSIDE: outside,
    }


def _read_list(
    list_file: Path, protocol: int, split: str, skips: SkipCounts, index: DirectoryIndex
) -> dict[str, pa.ChunkedArray]:
    """Parse, validate and look up the images of one AffectNet list, batch by batch.

    Working per batch keeps one copy of the kept rows in memory, not one per filtering step.
    """
    parts = []
    first_batch = True
    for lines, dropped in iter_line_batches(list_file):
        skips.add_counts(split, dropped)
        if first_batch and len(lines) and lines[0].as_py().strip().lower().startswith(_HEADER_PREFIX):
            lines = lines.slice(1)
        first_batch = False
        parts.append(_keep_found(_parse_batch(lines, protocol, split, skips), index, split, skips))
    if not parts:  # an empty list still yields correctly typed, empty columns
        empty = _parse_batch(pa.array([], type=pa.string()), protocol, split, skips)
        parts.append(_keep_found(empty, index, split, skips))
    return concat_columns(parts, _OUTPUT_COLUMNS)


def _index_split(
    list_file: Path, images_dir: Path, root: Path, protocol: int, split: str, context: BuildContext
) -> dict[str, pa.ChunkedArray]:
    """Rows of one list whose image exists below ``images_dir`` (and inside ``root``)."""
    return _read_list(list_file, protocol, split, context.skips, context.index(images_dir, containment=root))


def _locate(root: Path, folder_name: str, what: str) -> Path:
    """The images folder ``folder_name`` at or below ``root``; it must resolve inside ``root``."""
    folder = find_folder(root, folder_name)
    if folder is None:
        raise FileNotFoundError(
            f"{CORPUS}: {what} not found: expected a folder {root / folder_name} (or one or two levels deeper)"
        )
    if not is_inside(os.path.realpath(folder), os.path.realpath(root)):
        raise ValueError(f"{CORPUS}: {what} {folder} resolves outside root {root}")
    return folder


def load_affectnet(
    root: Union[str, os.PathLike],
    *,
    protocol: int = 8,
    include_automatic: bool = False,
    cache_dir: Union[str, os.PathLike, None] = None,
):
    """Index AffectNet as a ``DatasetDict`` with splits ``train`` and ``validation``.

    Args:
        root: the folder the AffectNet archives were unpacked into (see the module docstring).
        protocol: 8 keeps expressions 0-7 (neutral ... contempt), 7 keeps 0-6. Rows labelled None,
            Uncertain or No-Face (8-10) are always left out; they are not counted as skipped.
        include_automatic: also add the automatically annotated list's rows to ``train``.
        cache_dir: where the Arrow cache lives; default ``$HF_DATASETS_CACHE/hf_deepfever``.

    Returns:
        Columns ``image`` (``datasets.Image`` over absolute paths, decoded lazily), ``face_box``
        (``[x, y, w, h]`` in pixels, float32), ``landmarks`` (136 float32 = 68 (x, y) points, or None
        when the row has none), ``expression`` (``ClassLabel`` over ``AFFECTNET_EXPRESSIONS[:protocol]``),
        ``valence`` and ``arousal`` (float32, NaN where the file says -2, "not annotated").

    Rows holding ``NULL``, the wrong column count, unparsable numbers (or numbers float32 cannot hold),
    labels out of range, a face box without area, malformed landmarks, a path outside ``root``, a
    missing image, an image whose header cannot be read or that is too large to decode, or a face box
    entirely outside its image are skipped and counted in one warning per split. Only image headers are
    read (about 15 us per image, once: the index is cached); a corrupt image body raises when the
    ``image`` column decodes it.

    Raises:
        FileNotFoundError: ``root``, a list file or an images folder is missing.
        ValueError: ``protocol`` is neither 7 nor 8, or an images folder resolves outside ``root``.
    """
    if protocol not in (7, 8):
        raise ValueError(f"{CORPUS}: protocol must be 7 or 8, got {protocol!r}")
    root = require_dir(CORPUS, root)
    lists_dir = find_folder(root, AFFECTNET_MANUAL_LISTS) or root / AFFECTNET_MANUAL_LISTS
    train_list = require_file(CORPUS, lists_dir / AFFECTNET_LIST_FILES["train"][1], "training list")
    validation_list = require_file(CORPUS, lists_dir / AFFECTNET_LIST_FILES["validation"][1], "validation list")
    images_dir = _locate(root, AFFECTNET_MANUAL_IMAGES, "images folder")
    inputs = [train_list, validation_list]
    automatic_list = automatic_images = None
    if include_automatic:
        automatic_lists_dir = find_folder(root, AFFECTNET_AUTOMATIC_LISTS) or root / AFFECTNET_AUTOMATIC_LISTS
        automatic_list = require_file(
            CORPUS, automatic_lists_dir / AFFECTNET_LIST_FILES["automatic"][1], "automatically annotated list"
        )
        automatic_images = _locate(root, AFFECTNET_AUTOMATIC_IMAGES, "automatically annotated images folder")
        inputs.append(automatic_list)

    arguments = {
        "root": str(root),
        "protocol": protocol,
        "include_automatic": include_automatic,
        "images_dir": str(images_dir),
        "automatic_images": str(automatic_images),
    }

    def build(context: BuildContext):
        from datasets import DatasetDict

        features = _features(protocol)
        train = _index_split(train_list, images_dir, root, protocol, "train", context)
        if automatic_list is not None:
            automatic = _index_split(automatic_list, automatic_images, root, protocol, "train", context)
            train = concat_columns([train, automatic], list(train))
        validation = _index_split(validation_list, images_dir, root, protocol, "validation", context)
        return DatasetDict(
            {
                "train": make_dataset(train, features, "train"),
                "validation": make_dataset(validation, features, "validation"),
            }
        )

    return load_with_cache(CORPUS, arguments, inputs, cache_dir, build)

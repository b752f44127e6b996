"""Reader for the Google Facial Expression Comparison (FEC) corpus.

FEC ships no images: each CSV row names three image URLs, which the user fetches with
``training_scripts/download_fec.py``. Both the downloader and :func:`load_fec` derive the local file
name from the URL with :func:`fec_image_filename`, so the two always agree.

Expected layout (``root`` may also be the ``FEC_dataset`` folder itself)::

    <root>/FEC_dataset/faceexp-comparison-data-train-public.csv
    <root>/FEC_dataset/faceexp-comparison-data-test-public.csv
    <root>/images/<fec_image_filename(url)>        (default images folder; see ``images_dir``)

A list line is ``URL1, 4 box numbers, URL2, 4 box numbers, URL3, 4 box numbers, triplet type``,
then one ``annotator id, annotation`` pair per rater (usually six), with no header line.

Corpus images keep their STORED pixels: EXIF orientation is not applied, because the published boxes refer
to the stored pixels (user photos at inference, by contrast, are made upright).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import urllib.parse
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.corpus_layouts import FEC_IMAGES_FOLDER, FEC_LIST_FILES, FEC_LISTS_FOLDER
from ..core.vocabulary import FEC_TRIPLET_TYPES, IMAGE_EXTENSIONS, TRIPLET_TYPE_NAMES
from ._common import (
    FILE_MISSING,
    FILE_OK,
    FILE_OUTSIDE_ROOT,
    FILE_UNREADABLE,
    REASON_COLUMNS,
    REASON_LABEL,
    REASON_MISSING_IMAGE,
    REASON_NULL,
    REASON_NUMBER,
    REASON_OUTSIDE,
    REASON_UNREADABLE_IMAGE,
    BuildContext,
    SkipCounts,
    concat_columns,
    image_column,
    load_with_cache,
    make_dataset,
    require_dir,
    require_file,
)
from ._fields import field, has_null_literal, parse_floats, parse_ints, split_fields
from ._lines import iter_line_batches



def _url_path(url: str) -> str:
    """The path part of ``url``, as ``urllib.parse.urlsplit(url).path`` gives it, but faster for the
    common ``scheme://host/path?query#fragment`` shape (FEC lists half a million URLs)."""
    without_query = url.split("#", 1)[0].split("?", 1)[0]
    scheme_end = without_query.find("://")
    if scheme_end > 0 and without_query[:scheme_end].isalpha():
        slash = without_query.find("/", scheme_end + 3)
        return "" if slash < 0 else without_query[slash:]
    return urllib.parse.urlsplit(url).path


def fec_image_filename(url: str) -> str:
    """Local file name for the FEC image at ``url``.

    The name is the SHA-1 hex digest of the URL (stripped of surrounding whitespace and double
    quotes, as the CSV quotes it) followed by the URL path's extension when it is a known image
    extension, else ``.jpg``. It is deterministic, safe on every filesystem (40 hex characters and
    a short lowercase extension) and, being a cryptographic hash of the full URL, distinct for
    distinct URLs in practice.

    Example: ``fec_image_filename("http://farm1.staticflickr.com/1/2_3.jpg")`` ->
    ``"<40 hex digits>.jpg"``.
    """
    cleaned = url.strip().strip('"').strip()
    digest = hashlib.sha1(cleaned.encode("utf-8")).hexdigest()
    extension = posixpath.splitext(_url_path(cleaned))[1].lower()
    if extension not in IMAGE_EXTENSIONS:  # none, or not an image's: ".jpg", FEC's dominant format
        extension = ".jpg"
    return digest + extension


CORPUS = "FEC"

_TRIPLET_TYPE_IDS = {name: index for index, name in enumerate(FEC_TRIPLET_TYPES)}

LIST_FILES = FEC_LIST_FILES
_URL_COLUMNS = (0, 5, 10)
_TRIPLET_TYPE_COLUMN = 15
_FIRST_RATER_COLUMN = 16  # then (annotator id, annotation) pairs
_MIN_COLUMNS = _FIRST_RATER_COLUMN + 2

REASON_FACE_BOX = "invalid face box"

_COLUMNS = ["url_1", "url_2", "url_3", "box_1", "box_2", "box_3", "triplet_type", "odd_one_out", "agreement"]


def _features():
    from datasets import ClassLabel, Features, Image, List, Value

    features = {}
    for position in (1, 2, 3):
        features[f"image_{position}"] = Image()
    for position in (1, 2, 3):
        features[f"box_{position}"] = List(Value("float32"), length=4)
    features["triplet_type"] = ClassLabel(names=list(TRIPLET_TYPE_NAMES))
    features["odd_one_out"] = Value("int64")
    features["agreement"] = Value("float32")
    return Features(features)


def _majority_votes(fields: pa.ListArray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: odd-one-out (0-2), agreement, all annotations parsed, all annotations in 1-3."""
    row_count = len(fields)
    offsets = fields.offsets.to_numpy()
    offsets = offsets[:-1] - offsets[0]
    parents = pc.list_parent_indices(fields).to_numpy(zero_copy_only=False)
    position = np.arange(len(parents)) - offsets[parents]
    is_annotation = (position >= _FIRST_RATER_COLUMN) & ((position - _FIRST_RATER_COLUMN) % 2 == 1)
    flat = pc.list_flatten(fields).filter(pa.array(is_annotation))
    values, parsed = parse_ints(flat)
    owner = parents[is_annotation]
    unparsable = np.zeros(row_count, dtype=bool)
    unparsable[owner[~parsed]] = True
    in_range = parsed & (values >= 1) & (values <= 3)
    out_of_range = np.zeros(row_count, dtype=bool)
    out_of_range[owner[parsed & ~in_range]] = True
    votes = np.zeros((row_count, 3), dtype=np.int64)
    np.add.at(votes, (owner[in_range], values[in_range] - 1), 1)
    total = np.maximum(votes.sum(axis=1), 1)
    # Ties go to the lowest index; ``agreement`` (0.5 for a 3-3 split) lets users filter them.
    odd_one_out = votes.argmax(axis=1)
    agreement = (votes.max(axis=1) / total).astype(np.float32)
    return odd_one_out, agreement, ~unparsable, ~out_of_range


def _parse_batch(lines: pa.Array, split: str, skips: SkipCounts) -> dict[str, pa.Array]:
    """Validate one batch of list lines; return the columns of the rows kept."""
    fields, counts = split_fields(lines, ",")
    is_null = has_null_literal(fields, len(fields))
    skips.add_mask(split, REASON_NULL, is_null)
    right_width = ~is_null & (counts >= _MIN_COLUMNS) & ((counts - _FIRST_RATER_COLUMN) % 2 == 0)
    skips.add_mask(split, REASON_COLUMNS, ~is_null & ~right_width)
    fields = fields.filter(pa.array(right_width))
    counts = counts[right_width]
    row_count = len(fields)

    boxes = []
    numbers_ok = np.ones(row_count, dtype=bool)
    boxes_ok = np.ones(row_count, dtype=bool)
    for url_column in _URL_COLUMNS:
        parsed = [parse_floats(field(fields, url_column + offset)) for offset in range(1, 5)]
        box = np.stack([values for values, _ in parsed], axis=1)  # float32, as stored
        numbers_ok &= np.logical_and.reduce([ok for _, ok in parsed])
        left, right, top, bottom = box.T
        # In float32: boxes differing only in the 8th decimal have no width once stored.
        boxes_ok &= (box.min(axis=1) >= 0) & (box.max(axis=1) <= 1) & (left < right) & (top < bottom)
        boxes.append(box)

    triplet_names = pc.utf8_upper(pc.utf8_trim(field(fields, _TRIPLET_TYPE_COLUMN), characters='" '))
    triplet_type = np.array([_TRIPLET_TYPE_IDS.get(name, -1) for name in triplet_names.to_pylist()], dtype=np.int64)
    odd_one_out, agreement, annotations_parsed, annotations_in_range = _majority_votes(fields, counts)

    keep = np.ones(row_count, dtype=bool)
    for reason, bad in (
        (REASON_NUMBER, ~(numbers_ok & annotations_parsed)),
        (REASON_LABEL, ~annotations_in_range | (triplet_type < 0)),
        (REASON_FACE_BOX, ~boxes_ok),
    ):
        skips.add_mask(split, reason, keep & bad)
        keep &= ~bad

    mask = pa.array(keep)
    columns: dict[str, pa.Array] = {}
    for position, url_column in enumerate(_URL_COLUMNS, start=1):
        columns[f"url_{position}"] = pc.utf8_trim(field(fields, url_column), characters='" ').filter(mask)
        columns[f"box_{position}"] = pa.FixedSizeListArray.from_arrays(pa.array(boxes[position - 1][keep].ravel()), 4)
    columns["triplet_type"] = pa.array(triplet_type[keep])
    columns["odd_one_out"] = pa.array(odd_one_out[keep])
    columns["agreement"] = pa.array(agreement[keep])
    return columns


def _read_list(list_file: Path, split: str, skips: SkipCounts) -> dict[str, pa.Array]:
    """Parse and validate one FEC list file (no file-system checks)."""
    parts = []
    for lines, dropped in iter_line_batches(list_file):
        skips.add_counts(split, dropped)
        parts.append(_parse_batch(lines, split, skips))
    if not parts:
        parts.append(_parse_batch(pa.array([], type=pa.string()), split, skips))
    return concat_columns(parts, _COLUMNS)


def _file_names(url_columns: list[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """``fec_image_filename`` of the URL columns, concatenated; each distinct URL is hashed once
    (a face recurs in many triplets)."""
    chunks = []
    for column in url_columns:
        chunks.extend(column.chunks if isinstance(column, pa.ChunkedArray) else [column])
    encoded = pa.chunked_array(chunks, type=pa.string()).combine_chunks().dictionary_encode()
    names = pa.array([fec_image_filename(url) for url in encoded.dictionary.to_pylist()], type=pa.string())
    return names.take(encoded.indices)


def _index_split(
    list_file: Path, images_dir: Path, containment: Path, split: str, context: BuildContext
) -> dict[str, pa.Array]:
    """Rows of one list whose three images all exist in ``images_dir``."""
    columns = _read_list(list_file, split, context.skips)
    index = context.index(images_dir, containment=containment)
    urls = [columns.pop(f"url_{position}") for position in (1, 2, 3)]
    names = _file_names(urls)
    paths, statuses = [], []
    for position in range(3):
        absolute, status = index.lookup(names.slice(position * len(urls[0]), len(urls[0])))
        paths.append(absolute)
        statuses.append(status)
    status = np.stack(statuses, axis=1)
    outside = (status == FILE_OUTSIDE_ROOT).any(axis=1)
    missing = ~outside & (status == FILE_MISSING).any(axis=1)
    unreadable = ~outside & ~missing & (status == FILE_UNREADABLE).any(axis=1)
    context.skips.add_mask(split, REASON_OUTSIDE, outside)
    context.skips.add_mask(split, REASON_MISSING_IMAGE, missing)
    context.skips.add_mask(split, REASON_UNREADABLE_IMAGE, unreadable)
    found = (status == FILE_OK).all(axis=1)
    mask = pa.array(found)
    kept = {name: array.filter(mask) for name, array in columns.items()}
    for position in (1, 2, 3):
        kept[f"image_{position}"] = image_column(paths[position - 1].filter(mask))
    return kept


def _find_lists_dir(root: Path) -> Path:
    for candidate in (root / FEC_LISTS_FOLDER, root):
        if (candidate / LIST_FILES["train"]).is_file() or (candidate / LIST_FILES["test"]).is_file():
            return candidate
    return root / FEC_LISTS_FOLDER


def load_fec(
    root: Union[str, os.PathLike],
    *,
    images_dir: Union[str, os.PathLike, None] = None,
    cache_dir: Union[str, os.PathLike, None] = None,
):
    """Index FEC as a ``DatasetDict`` with splits ``train`` and ``test``.

    Args:
        root: the folder holding ``FEC_dataset/`` (or the ``FEC_dataset`` folder itself).
        images_dir: where the downloaded images are, named by :func:`fec_image_filename`.
            Default: ``<root>/images``. Nothing outside ``images_dir`` (or ``root``, for the default)
            is read; symlinks pointing elsewhere are refused.
        cache_dir: where the Arrow cache lives; default ``$HF_DATASETS_CACHE/hf_deepfever``.

    Returns:
        Columns ``image_1``, ``image_2``, ``image_3`` (``datasets.Image`` over absolute paths),
        ``box_1`` ... ``box_3`` (float32 ``[left, right, top, bottom]`` normalised to [0, 1], as
        published), ``triplet_type`` (``ClassLabel``: one_class, two_class, three_class),
        ``odd_one_out`` (0-2: the majority vote of the raters; ties go to the lowest index) and
        ``agreement`` (float32 share of raters who voted for ``odd_one_out``).

    Lines that do not parse (wrong column count, ``NULL``, unparsable numbers, annotations outside
    1-3, unknown triplet types, boxes outside [0, 1] or without area) and triplets with a missing
    image (FEC URLs die; many images cannot be downloaded) are skipped and counted in one warning
    per split.

    Raises:
        FileNotFoundError: ``root``, a list file or the images folder is missing.
    """
    root = require_dir(CORPUS, root)
    lists_dir = _find_lists_dir(root)
    list_files = {
        split: require_file(CORPUS, lists_dir / name, f"{split} list") for split, name in LIST_FILES.items()
    }
    if images_dir is None:
        images = require_dir(CORPUS, root / FEC_IMAGES_FOLDER, "images folder")
        containment = root
    else:
        images = containment = require_dir(CORPUS, images_dir, "images folder")
    arguments = {"root": str(root), "images_dir": str(images), "containment": str(containment)}

    def build(context: BuildContext):
        from datasets import DatasetDict

        features = _features()
        return DatasetDict(
            {
                split: make_dataset(_index_split(list_file, images, containment, split, context), features, split)
                for split, list_file in list_files.items()
            }
        )

    return load_with_cache(CORPUS, arguments, list(list_files.values()), cache_dir, build)

"""Reader for the basic subset of RAF-DB (Li & Deng) in the layout its publisher ships.

Expected below ``root`` (``root`` may also be the ``basic`` folder itself)::

    basic/EmoLabel/list_patition_label.txt       (sic: the publisher's spelling)
    basic/Image/aligned/<stem>_aligned.jpg       (100x100, aligned faces)
    basic/Image/original/<name>                  (the original photographs)

Each list line is ``<name> <label>``, e.g. ``train_00001.jpg 5``; the split is the name's prefix.

Corpus images keep their STORED pixels: EXIF orientation is not applied, because published annotations refer
to the stored pixels (user photos at inference, by contrast, are made upright).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.corpus_layouts import (
    RAFDB_ALIGNED_IMAGES,
    RAFDB_ALIGNED_SUFFIX,
    RAFDB_BASIC,
    RAFDB_LIST_FILE,
    RAFDB_ORIGINAL_IMAGES,
)
from ..core.vocabulary import RAFDB_EXPRESSIONS
from ._common import (
    FILE_OK,
    REASON_COLUMNS,
    REASON_LABEL,
    REASON_NULL,
    REASON_NUMBER,
    BuildContext,
    count_file_statuses,
    image_column,
    load_with_cache,
    make_dataset,
    require_dir,
    require_file,
)
from ._fields import field, has_null_literal, parse_ints
from ._lines import iter_line_batches

CORPUS = "RAF-DB"

LIST_FILE = RAFDB_LIST_FILE
SPLITS = ("train", "test")
UNKNOWN_SPLIT = "(no train_/test_ prefix)"
REASON_PREFIX = "unknown split prefix"


def _features():
    from datasets import ClassLabel, Features, Image

    return Features({"image": Image(), "expression": ClassLabel(names=list(RAFDB_EXPRESSIONS))})


def _image_name(name: str, aligned: bool) -> str:
    return posixpath.splitext(name)[0] + RAFDB_ALIGNED_SUFFIX if aligned else name


def _split_of(name: str) -> str:
    """``train`` or ``test`` from the name's prefix, else ``UNKNOWN_SPLIT``."""
    return next((split for split in SPLITS if name.startswith(split + "_")), UNKNOWN_SPLIT)


def _find_basic(root: Path) -> Path:
    for candidate in (root / RAFDB_BASIC, root):
        if (candidate / LIST_FILE).is_file():
            return candidate
    return root / RAFDB_BASIC


def load_rafdb(
    root: Union[str, os.PathLike],
    *,
    aligned: bool = True,
    cache_dir: Union[str, os.PathLike, None] = None,
):
    """Index RAF-DB (basic) as a ``DatasetDict`` with splits ``train`` and ``test``.

    Args:
        root: the folder holding ``basic/`` (or the ``basic`` folder itself).
        aligned: read the 100x100 aligned faces (``Image/aligned``), else the originals.
        cache_dir: where the Arrow cache lives; default ``$HF_DATASETS_CACHE/hf_deepfever``.

    Returns:
        Columns ``image`` (``datasets.Image`` over absolute paths) and ``expression``
        (``ClassLabel`` over ``RAFDB_EXPRESSIONS``: file label 1 -> id 0). Map ids to AffectNet's
        with ``RAFDB_TO_AFFECTNET``.

    Lines with the wrong number of fields, ``NULL``, unparsable or out-of-range labels (not 1-7),
    names without a ``train_``/``test_`` prefix, paths outside ``root`` and missing images are
    skipped and counted in one warning per split.

    Raises:
        FileNotFoundError: ``root``, the list file or the images folder is missing.
    """
    root = require_dir(CORPUS, root)
    basic = _find_basic(root)
    list_file = require_file(CORPUS, basic / LIST_FILE, "label list")
    images = RAFDB_ALIGNED_IMAGES if aligned else RAFDB_ORIGINAL_IMAGES
    images_dir = require_dir(CORPUS, basic / images, "images folder")
    arguments = {"root": str(root), "aligned": aligned, "images_dir": str(images_dir)}

    def build(context: BuildContext):
        from datasets import DatasetDict

        names: list[str] = []
        labels: list[np.ndarray] = []
        for lines, dropped in iter_line_batches(list_file):
            context.skips.add_counts(UNKNOWN_SPLIT, dropped)
            fields = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(lines))
            counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
            first = pc.list_element(fields, 0).to_numpy(zero_copy_only=False)
            split_of_line = np.array([_split_of(str(name)) for name in first])
            is_null = has_null_literal(fields, len(fields))
            well_formed = ~is_null & (counts == 2)
            label, parsed = parse_ints(pc.list_element(fields.filter(pa.array(well_formed)), 1))
            label_full = np.full(len(fields), -1, dtype=np.int64)
            parsed_full = np.zeros(len(fields), dtype=bool)
            label_full[well_formed], parsed_full[well_formed] = label, parsed
            in_range = parsed_full & (label_full >= 1) & (label_full <= len(RAFDB_EXPRESSIONS))
            for split in (*SPLITS, UNKNOWN_SPLIT):
                rows = split_of_line == split
                keep = rows.copy()
                for reason, bad in (
                    (REASON_NULL, is_null),
                    (REASON_COLUMNS, counts != 2),
                    (REASON_PREFIX, np.full(len(rows), split == UNKNOWN_SPLIT)),
                    (REASON_NUMBER, ~parsed_full),
                    (REASON_LABEL, ~in_range),
                ):
                    context.skips.add_mask(split, reason, keep & bad)
                    keep &= ~bad
            accepted = (split_of_line != UNKNOWN_SPLIT) & in_range & ~is_null & (counts == 2)
            names.extend(field(fields, 0).filter(pa.array(accepted)).to_pylist())
            labels.append(label_full[accepted] - 1)

        expression = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        index = context.index(images_dir, containment=root)
        absolute, statuses = index.lookup(_image_name(name, aligned) for name in names)
        split_of_row = np.array([name.split("_", 1)[0] for name in names], dtype=object)
        features = _features()
        splits = {}
        for split in SPLITS:
            rows = split_of_row == split
            count_file_statuses(context.skips, split, statuses[rows])
            chosen = rows & (statuses == FILE_OK)
            columns = {
                "image": image_column(absolute.filter(pa.array(chosen))),
                "expression": pa.array(expression[chosen], type=pa.int64()),
            }
            splits[split] = make_dataset(columns, features, split)
        return DatasetDict(splits)

    return load_with_cache(CORPUS, arguments, [list_file], cache_dir, build)

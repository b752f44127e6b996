"""A folder of unlabelled face images (the extra faces used for distillation) as a ``Dataset``.

Corpus images keep their STORED pixels: EXIF orientation is not applied (as for the labelled corpora, whose
published boxes refer to the stored pixels), while user photos at inference are made upright.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Union

from ..core.vocabulary import IMAGE_EXTENSIONS
from ._common import (
    REASON_OUTSIDE,
    REASON_UNREADABLE_IMAGE,
    CorpusRowsSkippedWarning,
    image_column,
    is_inside,
    is_utf8_name,
    make_dataset,
    require_dir,
)

CORPUS = "face folder"
REASON_NAME_ENCODING = "file name not UTF-8"


def _image_files(root: str) -> tuple[list[str], dict[str, int]]:
    """Absolute image paths below ``root``, and the files left out by reason: symlinks that escape ``root``,
    dangling symlinks, and names that are not UTF-8 (no Arrow string can hold them)."""
    root_real = os.path.realpath(root)
    found: list[str] = []
    skipped = {REASON_OUTSIDE: 0, REASON_UNREADABLE_IMAGE: 0, REASON_NAME_ENCODING: 0}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
                continue
            if os.path.splitext(entry.name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not is_inside(target, root_real):
                    skipped[REASON_OUTSIDE] += 1
                    continue
                if not os.path.isfile(target):
                    skipped[REASON_UNREADABLE_IMAGE] += 1
                    continue
            elif not entry.is_file(follow_symlinks=False):
                continue
            if not is_utf8_name(entry.path):  # a folder below root may be misnamed too
                skipped[REASON_NAME_ENCODING] += 1
                continue
            found.append(entry.path)
    found.sort()
    return found, skipped


def load_face_folder(root: Union[str, os.PathLike]):
    """Every image file below ``root`` as a ``datasets.Dataset`` with one ``image`` column.

    Images are files ending in one of ``IMAGE_EXTENSIONS`` (any case), found
    recursively and sorted by absolute path, so the order is deterministic. Symlinked folders are not
    followed; symlinked files are kept only when they resolve to a file inside ``root`` (others are
    counted in one warning), and so are files whose name is not valid UTF-8. Files are not opened: a
    corrupt image raises when it is decoded.

    The folder listing *is* the index, so there is nothing to cache: each call lists ``root`` again.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    import datasets

    folder = require_dir(CORPUS, root)
    paths, skipped = _image_files(str(folder))
    if any(skipped.values()):
        detail = ", ".join(f"{reason}: {count}" for reason, count in sorted(skipped.items()) if count)
        message = f"{CORPUS} {folder}: skipped {sum(skipped.values())} file(s) ({detail})"
        warnings.warn(message, CorpusRowsSkippedWarning, stacklevel=2)
    features = datasets.Features({"image": datasets.Image()})
    # Same files, same fingerprint: datasets' own caches of later .map() calls stay valid across runs.
    fingerprint = hashlib.sha256("\0".join(paths).encode("utf-8")).hexdigest()[:32]
    return make_dataset({"image": image_column(paths)}, features, "train", fingerprint=fingerprint)

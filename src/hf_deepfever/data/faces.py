"""A folder of unlabelled face images (the extra faces used for distillation) as a ``Dataset``."""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Union

from ..core.vocabulary import IMAGE_EXTENSIONS
from ._common import CorpusRowsSkippedWarning, image_column, is_inside, make_dataset, require_dir

CORPUS = "face folder"

"""File extensions taken as images, compared case-insensitively."""


def _image_files(root: str) -> tuple[list[str], int, int]:
    """Absolute image paths below ``root``, and counts of refused (escaping) and dangling symlinks."""
    root_real = os.path.realpath(root)
    found: list[str] = []
    outside = dangling = 0
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
                    outside += 1
                    continue
                if not os.path.isfile(target):
                    dangling += 1
                    continue
            elif not entry.is_file(follow_symlinks=False):
                continue
            found.append(entry.path)
    found.sort()
    return found, outside, dangling


def load_face_folder(root: Union[str, os.PathLike]):
    """Every image file below ``root`` as a ``datasets.Dataset`` with one ``image`` column.

    Images are files ending in one of ``IMAGE_EXTENSIONS`` (any case), found
    recursively and sorted by absolute path, so the order is deterministic. Symlinked folders are not
    followed; symlinked files are kept only when they resolve to a file inside ``root`` (others are
    counted in one warning). Files are not opened: a corrupt image raises when it is decoded.

    The folder listing *is* the index, so there is nothing to cache: each call lists ``root`` again.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    import datasets

    folder = require_dir(CORPUS, root)
    paths, outside, dangling = _image_files(str(folder))
    if outside or dangling:
        detail = ", ".join(
            f"{reason}: {count}"
            for reason, count in (("path outside root", outside), ("unreadable image", dangling))
            if count
        )
        message = f"{CORPUS} {folder}: skipped {outside + dangling} file(s) ({detail})"
        warnings.warn(message, CorpusRowsSkippedWarning, stacklevel=2)
    features = datasets.Features({"image": datasets.Image()})
    # Same files, same fingerprint: datasets' own caches of later .map() calls stay valid across runs.
    fingerprint = hashlib.sha256("\0".join(paths).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return make_dataset({"image": image_column(paths)}, features, "train", fingerprint=fingerprint)

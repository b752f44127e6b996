"""Which files of a model folder may leave it: the one check every upload, card and cache install goes through.

A member is a regular file inside the folder, or a symbolic link that resolves to one inside it (its content
is what is published). A link that leaves the folder (``processing_x.py -> /etc/passwd``), a dangling link, a
FIFO or a device is refused with an error that names it and where it points: nothing outside the folder a
user gave is ever read, copied into an upload folder or installed into a Hub cache.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from ..core.files import JSON_MAX_BYTES, open_regular_file, read_regular_text

TEXT_MAX_BYTES = JSON_MAX_BYTES
"""Largest config, index or model-code file read whole."""


class UploadFolderError(ValueError):
    """The model folder cannot be published as it is; the message names the files concerned."""


def _is_inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def member_path(folder: str | os.PathLike[str], relative: str) -> Path | None:
    """``folder / relative`` when it is a publishable file (see the module docstring); None when nothing of
    that name exists or it is a folder.

    Raises:
        UploadFolderError: it is a link that resolves outside ``folder`` or to nothing, or not a regular file.
    """
    folder = Path(folder)
    path = folder / relative
    if not os.path.lexists(path):
        return None
    real_folder, real = os.path.realpath(folder), os.path.realpath(path)
    if not _is_inside(real, real_folder):
        raise UploadFolderError(
            f"{path} resolves to {real}, outside the model folder {folder}: refusing to publish a file from outside "
            "it (replace the link by a copy of the file if it belongs to the model)"
        )
    try:
        mode = os.stat(real).st_mode
    except OSError:
        raise UploadFolderError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist") from None
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        raise UploadFolderError(f"{path} is not a regular file (a FIFO, socket or device): refusing to read it")
    return path


def members_named(folder: str | os.PathLike[str], *, prefixes: tuple[str, ...] = (), suffix: str = "") -> list[str]:
    """Sorted names of the top-level members of ``folder`` that start with one of ``prefixes`` (any name when
    empty) and end with ``suffix``; each is checked with :func:`member_path`."""
    names = sorted(
        entry.name
        for entry in os.scandir(folder)
        if entry.name.endswith(suffix) and (not prefixes or entry.name.startswith(prefixes))
    )
    return [name for name in names if member_path(folder, name) is not None]


def read_member_text(path: Path, max_bytes: int = TEXT_MAX_BYTES) -> str:
    """The UTF-8 text of an already checked member; a file that cannot be read (a FIFO swapped in, a file
    over ``max_bytes``) is an ``UploadFolderError`` naming it. Undecodable bytes raise ``UnicodeDecodeError``."""
    try:
        return read_regular_text(path, max_bytes=max_bytes)
    except OSError as error:
        raise UploadFolderError(str(error)) from None


def copy_member(source: Path, target: Path) -> None:
    """Copy an already checked member's bytes (read through a descriptor checked to be a regular file)."""
    with open_regular_file(source) as reader, open(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)


__all__ = ["TEXT_MAX_BYTES", "UploadFolderError", "copy_member", "member_path", "members_named", "read_member_text"]

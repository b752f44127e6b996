"""Writing files so that a reader never sees half of one, and opening only what is a regular file.

Every file hf_deepfever writes goes through :func:`atomic_output` (or its ``atomic_write_*`` shorthands):
the data goes to a temporary name that is unique per process and call (pid + random), in the target's own
folder (so the final ``os.replace`` is a rename on one filesystem), and only a complete file is renamed
into place. A failed or killed write leaves at most a hidden ``.<name>.<pid>.<random>.tmp`` file, never a
truncated target, and two processes writing the same target never share a temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(target: str | os.PathLike[str]) -> Path:
    """A fresh hidden name next to ``target``: ``.<name>.<pid>.<8 hex>.tmp``."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


def fsync_directory(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target``, on any error it is removed.

    ``durable=True`` also fsyncs the file and its folder (for checkpoints and other state a crash must not
    lose). The target's folder must exist.
    """
    target = Path(target)
    temporary = temporary_path(target)
    try:
        yield temporary
        if durable and temporary.exists():
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, target)
        if durable:
            fsync_directory(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``target`` atomically; returns the target path."""
    with atomic_output(target, durable=durable) as temporary:
        temporary.write_bytes(data)
    return Path(target)


def atomic_write_text(
    target: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", newline: str | None = "", durable: bool = False
) -> Path:
    """Write ``text`` to ``target`` atomically (``newline=""``: line endings exactly as given)."""
    with atomic_output(target, durable=durable) as temporary:
        with open(temporary, "w", encoding=encoding, newline=newline) as handle:
            handle.write(text)
    return Path(target)


def atomic_write_json(target: str | os.PathLike[str], value: Any, *, durable: bool = False, **dump_kwargs: Any) -> Path:
    """Write ``value`` as strict JSON (no NaN/Infinity: ``allow_nan=False``), indented, with a final newline."""
    options = {"indent": 2, "sort_keys": True, "allow_nan": False, **dump_kwargs}
    return atomic_write_text(target, json.dumps(value, **options) + "\n", durable=durable)


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is one of :func:`temporary_path`'s names (left behind by a killed writer)."""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def open_regular_file(path: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for reading, refusing anything that is not a regular file.

    A FIFO, socket or device would block or never end; the check is made on the opened descriptor
    (``O_NONBLOCK`` so that opening a FIFO does not wait for a writer), so a swap between check and use is
    caught too. Errors are ``OSError`` subclasses that name the file.
    """
    if any(flag in mode for flag in "wax+"):
        raise ValueError(f"open_regular_file only reads; got mode {mode!r}")
    path = os.fspath(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:  # a symlink that points at itself
            raise OSError(error.errno, f"{path}: symbolic link loop") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = "folder" if stat.S_ISDIR(info.st_mode) else "FIFO" if stat.S_ISFIFO(info.st_mode) else "special file"
            raise OSError(f"{path}: not a regular file (a {kind})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, mode, **kwargs)
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_text(path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
    """The text of a regular file (see :func:`open_regular_file`)."""
    with open_regular_file(path, "r", encoding=encoding) as handle:
        return handle.read()


__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_directory",
    "is_temporary_name",
    "open_regular_file",
    "read_regular_text",
    "temporary_path",
]

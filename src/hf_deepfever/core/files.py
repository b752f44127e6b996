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


def _reason(error: OSError, path: str, missing: str) -> str:
    """What an ``OSError`` from opening ``path`` means, in words; ``missing`` for plain non-existence."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop (the link points, directly or not, at itself)"
    if isinstance(error, FileNotFoundError) and os.path.islink(path):
        return f"dangling symbolic link (to {os.readlink(path)}, which does not exist)"
    if isinstance(error, FileNotFoundError):
        return missing
    return (error.strerror or str(error)).lower()


def _named_error(error: OSError, path: str) -> OSError:
    """``error`` as the same ``OSError`` subclass, with the message ``"<path>: <reason>"``."""
    # Message only (no errno/filename arguments): str() is then exactly "<path>: <reason>".
    return type(error)(f"{path}: {_reason(error, path, 'no such file')}")


def missing_path_reason(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be used, for the paths ``Path.exists`` says False about: ``"no such file or folder"``,
    a symbolic link loop, a dangling symbolic link; None when it exists."""
    path = os.fspath(path)
    try:
        os.stat(path)
    except OSError as error:
        return _reason(error, path, "no such file or folder")
    return None


def open_regular_file(path: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for reading, refusing anything that is not a regular file.

    A FIFO, socket or device would block or never end; the check is made on the opened descriptor
    (``O_NONBLOCK`` so that opening a FIFO does not wait for a writer), so a swap between check and use is
    caught too. Errors are ``OSError`` subclasses whose message is ``"<path>: <reason>"`` (no such file, a
    symbolic link loop, a dangling link, not a regular file, permission denied, ...).
    """
    if any(flag in mode for flag in "wax+"):
        raise ValueError(f"open_regular_file only reads; got mode {mode!r}")
    path = os.fspath(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise _named_error(error, path) from None
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


class FileTooLargeError(OSError):
    """A file read whole is larger than its reader accepts (e.g. a multi-gigabyte ``config.json``)."""


JSON_MAX_BYTES = 64 << 20
"""Largest JSON record (config, results, marker, index) read whole: far above any real one, so memory stays
bounded whatever a hostile file holds."""


def _too_large(path: str, size: int, max_bytes: int) -> FileTooLargeError:
    return FileTooLargeError(f"{path}: {size:,} bytes, more than the {max_bytes:,} accepted here")


def read_regular_text(
    path: str | os.PathLike[str], encoding: str = "utf-8", *, errors: str = "strict", max_bytes: int | None = None
) -> str:
    """The text of a regular file (see :func:`open_regular_file`), line ends translated as ``open(path)`` does.

    ``max_bytes``: refuse a file larger than this (``FileTooLargeError``, naming the file and both sizes)
    before reading it, so memory stays bounded whatever the file holds.
    """
    path = os.fspath(path)
    with open_regular_file(path, "rb") as handle:
        if max_bytes is None:
            data = handle.read()
        else:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise _too_large(path, size, max_bytes)
            data = handle.read(max_bytes + 1)  # one byte more than allowed tells a file that grew meanwhile
            if len(data) > max_bytes:
                raise _too_large(path, len(data), max_bytes)
    return data.decode(encoding, errors).replace("\r\n", "\n").replace("\r", "\n")


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in the regular file ``path``; ``ValueError`` naming the file when it is not valid JSON or
    not an object."""
    try:
        value = json.loads(read_regular_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return value


__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "FileTooLargeError",
    "JSON_MAX_BYTES",
    "fsync_directory",
    "is_temporary_name",
    "missing_path_reason",
    "open_regular_file",
    "read_json_object",
    "read_regular_text",
    "temporary_path",
]

"""Reading a corpus list file as batches of lines, in memory bounded by the block size whatever the file holds.

A list line is never allowed to cost more than :data:`MAX_LINE_BYTES`: a longer one (a corrupt or hostile
file: one 8 MiB line used to stop Arrow's CSV reader with ``ArrowInvalid`` and no file named) is skipped
and counted while it streams past, never held whole. Lines are split with vectorised NumPy kernels on blocks
read from a regular file (:func:`~hf_deepfever.core.files.open_regular_file`: a FIFO or a device is refused
instead of blocking the loader).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from ..core.files import open_regular_file

REASON_ENCODING = "invalid text encoding"
REASON_LINE_TOO_LONG = "line too long"

BLOCK_BYTES = 4 << 20
MAX_LINE_BYTES = 1 << 20
"""Longest list line accepted (1 MiB). The longest real ones, AffectNet's with 136 landmark numbers, are
about 1.5 kB; FEC's about 0.4 kB."""

_NEWLINE, _CARRIAGE_RETURN = 10, 13
_BOM = b"\xef\xbb\xbf"


def iter_line_batches(
    path: str | os.PathLike[str], *, block_size: int = BLOCK_BYTES, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[pa.StringArray, Counter[str]]]:
    """Non-empty lines of a text file in Arrow batches (about one per ``block_size`` bytes read).

    Yields ``(lines, skipped)``; ``skipped`` counts the lines of the batch that were dropped, by reason:
    :data:`REASON_ENCODING` (not UTF-8) and :data:`REASON_LINE_TOO_LONG` (over ``max_line_bytes``). ``\\n``,
    ``\\r\\n`` and ``\\r`` all end a line; a UTF-8 byte-order mark at the start is dropped. Peak memory is
    about ``2 * (block_size + max_line_bytes)``.

    Raises:
        OSError: naming ``path``, when it is missing or not a regular file.
    """
    carry = b""  # the unfinished last line of the previous block
    skipping = False  # inside a line already counted as too long, until its end
    first = True
    with open_regular_file(path) as handle:
        while True:
            block = handle.read(block_size)
            if first:
                block = block.removeprefix(_BOM)
                first = False
            skipped: Counter[str] = Counter()
            if not block:
                if carry:
                    yield _split(carry + b"\n", max_line_bytes, skipped), skipped
                return
            data = carry + block
            if skipping:
                end = _first_line_end(data)
                if end < 0:
                    carry = b""
                    continue
                data, skipping = data[end + 1 :], False
            end = max(data.rfind(b"\n"), data.rfind(b"\r"))
            complete, carry = data[: end + 1], data[end + 1 :]
            if len(carry) > max_line_bytes:
                skipped[REASON_LINE_TOO_LONG] += 1
                carry, skipping = b"", True
            if complete or skipped:
                yield _split(complete, max_line_bytes, skipped), skipped


def _first_line_end(data: bytes) -> int:
    """Offset of the first ``\\n`` or ``\\r`` in ``data``, -1 when there is none."""
    ends = [offset for offset in (data.find(b"\n"), data.find(b"\r")) if offset >= 0]
    return min(ends) if ends else -1


def _split(data: bytes, max_line_bytes: int, skipped: Counter[str]) -> pa.StringArray:
    """The non-empty lines of ``data`` (which ends with a line end) as strings; drops are counted in ``skipped``."""
    raw = np.frombuffer(data, dtype=np.uint8)
    is_end = (raw == _NEWLINE) | (raw == _CARRIAGE_RETURN)
    ends = np.flatnonzero(is_end)
    lengths = np.diff(ends, prepend=-1) - 1  # bytes between one line end and the next
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    contents = raw[~is_end]  # one copy, without the line ends
    lines = pa.BinaryArray.from_buffers(
        pa.binary(), len(ends), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(contents)]
    )
    too_long = lengths > max_line_bytes
    skipped[REASON_LINE_TOO_LONG] += int(np.count_nonzero(too_long))
    keep = (lengths > 0) & ~too_long
    if not keep.all():
        lines = lines.filter(pa.array(keep))
    try:
        return lines.cast(pa.string())
    except pa.ArrowInvalid:
        # Rare: decode line by line and drop those that are not UTF-8.
        decoded = []
        for value in lines.to_pylist():
            try:
                decoded.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                skipped[REASON_ENCODING] += 1
        return pa.array(decoded, type=pa.string())


__all__ = ["BLOCK_BYTES", "MAX_LINE_BYTES", "REASON_ENCODING", "REASON_LINE_TOO_LONG", "iter_line_batches"]

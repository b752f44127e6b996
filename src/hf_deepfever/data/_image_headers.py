"""Image sizes from file headers, without decoding a pixel: what the AffectNet loader needs to refuse a face box
that lies entirely outside its image, and an image that training could not decode at all.

JPEG (by far the most common corpus format) and PNG headers are parsed here directly (a few hundred bytes
each); any other format goes through PIL's lazy ``Image.open``, which reads the header only. Only regular
files are read (a FIFO is refused, not waited on). About 15 us per image from a warm page cache; the
index is cached, so this is paid once per corpus.

Sizes are the STORED pixels': EXIF orientation is not applied, because corpora's published boxes refer to
the stored pixels (training opens corpus images with ``exif=False`` for the same reason).
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PIL.Image

HEADER_OK = 0
HEADER_UNREADABLE = 1  # not an image PIL can identify, or a truncated header
HEADER_TOO_LARGE = 2  # more pixels than PIL.Image.MAX_IMAGE_PIXELS: open_image refuses to decode it

_FIRST_READ = 4096
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_FRAME_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field
_JPEG_MAX_SEGMENTS = 256  # a real file reaches its frame header within a handful of segments
_PATHS_PER_TASK = 256
_THREADS = 4


def _jpeg_size(descriptor: int, head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the first frame header of a JPEG, reading segment headers only."""
    buffer, base, position = head, 0, 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        if position + 9 > len(buffer):  # the next segment header lies beyond what was read: read on from there
            base, position = base + position, 0
            buffer = os.pread(descriptor, _FIRST_READ, base)
            if len(buffer) < 9:
                return None
        if buffer[position] != 0xFF:
            return None
        marker = buffer[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack_from(">HH", buffer, position + 5)
            return width, height
        elif marker in _JPEG_STANDALONE_MARKERS:
            position += 2
        else:
            length = struct.unpack_from(">H", buffer, position + 2)[0]
            if length < 2:
                return None
            position += 2 + length
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    return struct.unpack_from(">II", head, 16)


def _size_with_pil(descriptor: int) -> tuple[int, int] | None:
    try:
        with os.fdopen(os.dup(descriptor), "rb") as handle, PIL.Image.open(handle) as image:  # lazy: the header only
            return image.size
    except PIL.Image.DecompressionBombError:
        return (-1, -1)  # more than twice the limit: PIL refuses even to open it
    except (OSError, SyntaxError, ValueError, struct.error):
        return None


def read_image_size(path: str) -> tuple[int, int, int]:
    """``(width, height, status)`` of the image file at ``path``; status is ``HEADER_OK``, ``HEADER_UNREADABLE``
    (missing, not a regular file, not an image, truncated header) or ``HEADER_TOO_LARGE``.

    Plain descriptor calls (``O_NONBLOCK``: a FIFO does not block the open, ``fstat`` refuses it), as
    :func:`~hf_deepfever.core.files.open_regular_file` does, without a Python file object per image.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return 0, 0, HEADER_UNREADABLE
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return 0, 0, HEADER_UNREADABLE
        head = os.pread(descriptor, _FIRST_READ, 0)
        if head[:3] == b"\xff\xd8\xff":
            size = _jpeg_size(descriptor, head) or _size_with_pil(descriptor)
        elif head.startswith(_PNG_SIGNATURE):
            size = _png_size(head) or _size_with_pil(descriptor)
        else:
            size = _size_with_pil(descriptor)
    except OSError:
        return 0, 0, HEADER_UNREADABLE
    finally:
        os.close(descriptor)
    if size is None or size[0] == 0 or size[1] == 0:
        return 0, 0, HEADER_UNREADABLE
    width, height = size
    limit = PIL.Image.MAX_IMAGE_PIXELS
    if width < 0 or (limit is not None and width * height > limit):
        return max(width, 0), max(height, 0), HEADER_TOO_LARGE
    return width, height, HEADER_OK


def read_image_sizes(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widths, heights (int64) and statuses (int8) of many image files, read in a few threads."""
    chunks = [paths[start : start + _PATHS_PER_TASK] for start in range(0, len(paths), _PATHS_PER_TASK)]

    def read_chunk(chunk: Sequence[str]) -> list[tuple[int, int, int]]:
        return [read_image_size(path) for path in chunk]

    if len(chunks) <= 1:
        results = [read_chunk(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(_THREADS, len(chunks))) as pool:
            results = list(pool.map(read_chunk, chunks))
    flat = [item for chunk in results for item in chunk]
    table = np.array(flat, dtype=np.int64).reshape(len(flat), 3)
    return table[:, 0], table[:, 1], table[:, 2].astype(np.int8)


__all__ = ["HEADER_OK", "HEADER_TOO_LARGE", "HEADER_UNREADABLE", "read_image_size", "read_image_sizes"]

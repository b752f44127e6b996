"""Writers of the broken image files that every image-reading path is tested against."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL.Image


def write_good_jpeg(path: Path, seed: int = 0, size: tuple[int, int] = (48, 40)) -> Path:
    rng = np.random.default_rng(seed)
    PIL.Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def write_not_an_image(path: Path) -> Path:
    path.write_text("subDirectory_filePath,face_x\nthis is a CSV, not a JPEG\n")
    return path


def write_one_pixel_png(path: Path) -> Path:
    PIL.Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    return path


def write_decompression_bomb_png(path: Path, side: int = 100_000) -> Path:
    """A tiny PNG whose header declares side x side pixels (10 gigapixels by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path

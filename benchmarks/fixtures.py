"""Synthetic inputs the benchmarks share: JPEG face-sized photos on disk, an AffectNet layout, saved models.

Images are smooth random colour fields with noise, saved as JPEG at quality 90: their decode cost is that
of a real photo of the same size (JPEG decoding time depends on pixels and entropy, not on content).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_jpegs(folder: Path, count: int, size: int, seed: int = 0) -> list[Path]:
    """`count` distinct size x size JPEG photos (AffectNet's manual crops are a few hundred pixels wide)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
        noisy = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, (size, size, 3))
        path = folder / f"face_{index:05d}.jpg"
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def write_affectnet_layout(root: Path, count: int, size: int, seed: int = 0) -> Path:
    """An AffectNet folder (file lists + images) with `count` training rows of distinct JPEGs and a face box each."""
    images = root / "Manually_Annotated_Images" / "1"
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    paths = write_jpegs(images, count, size, seed)
    rng = np.random.default_rng(seed)
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    landmarks = ";".join("100.0" for _ in range(136))
    margin = size // 8
    for name, rows in (("training.csv", paths), ("validation.csv", paths[:2])):
        lines = [
            f"1/{path.name},{margin},{margin},{size - 2 * margin},{size - 2 * margin},{landmarks},"
            f"{rng.integers(0, 8)},{rng.uniform(-1, 1):.3f},{rng.uniform(-1, 1):.3f}\n"
            for path in rows
        ]
        (lists / name).write_text(header + "".join(lines))
    return root


def save_model(folder: Path, backbone: str, image_size: int, with_heads: bool = True) -> Path:
    """A randomly initialised DeepFEVER checkpoint + processor, as `deepfever extract --model` expects."""
    import torch

    from hf_deepfever import (
        DeepFeverConfig,
        DeepFeverForExpressionRecognition,
        DeepFeverImageProcessor,
        DeepFeverModel,
    )

    torch.manual_seed(0)
    config = DeepFeverConfig(backbone=backbone, image_size=image_size)
    model = (DeepFeverForExpressionRecognition if with_heads else DeepFeverModel)(config).eval()
    model.save_pretrained(folder)
    DeepFeverImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return folder

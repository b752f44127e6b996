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
    from hf_deepfever.synthetic import layouts

    paths = write_jpegs(layouts.affectnet_images_dir(root, "train") / "1", count, size, seed)
    rng = np.random.default_rng(seed)
    landmarks = layouts.format_landmarks([100.0] * 136)
    margin = size // 8
    box = (margin, margin, size - 2 * margin, size - 2 * margin)
    for split, rows in (("train", paths), ("validation", paths[:2])):
        lines = [
            layouts.format_affectnet_row(
                f"1/{path.name}", box, landmarks, rng.integers(0, 8), rng.uniform(-1, 1), rng.uniform(-1, 1)
            )
            for path in rows
        ]
        layouts.write_affectnet_list(layouts.affectnet_list_path(root, split), lines)
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

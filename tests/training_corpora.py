"""Tiny, fast training corpora in the publishers' layouts (AffectNet, FEC, an unlabelled folder).

Faces are 40x40 PNGs whose colour encodes the expression class (so a few steps can learn something) on a
larger canvas with a face box, as the real corpora have. Writing everything takes well under a second.
The lists are written by :mod:`hf_deepfever.synthetic.layouts`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hf_deepfever.core.vocabulary import FEC_TRIPLET_TYPES
from hf_deepfever.synthetic import layouts

_CLASS_COLOURS = np.array(
    [[200, 200, 200], [250, 220, 40], [40, 60, 200], [250, 120, 20], [120, 40, 160], [40, 160, 60], [220, 30, 30], [120, 90, 60]]
)


def _face_image(path: Path, expression: int, rng: np.random.Generator, canvas: int = 48) -> tuple[int, int, int, int]:
    """A canvas with a coloured 'face' square; returns its box (x, y, w, h) in pixels."""
    pixels = rng.integers(0, 60, size=(canvas, canvas, 3)).astype(np.uint8)
    x, y = (int(v) for v in rng.integers(2, 10, size=2))
    side = 32
    face = _CLASS_COLOURS[expression] + rng.integers(-20, 20, size=(side, side, 3))
    pixels[y : y + side, x : x + side] = np.clip(face, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return x, y, side, side


def write_affectnet(root: Path, *, train_per_class: int = 4, validation_per_class: int = 2, seed: int = 0) -> int:
    """AffectNet lists + images (8 classes); returns the number of training rows."""
    rng = np.random.default_rng(seed)
    landmarks = [10.0] * 136
    for split, per_class in (("train", train_per_class), ("validation", validation_per_class)):
        lines = []
        for expression in range(8):
            for index in range(per_class):
                relative = f"{split}_{expression}/{index}.png"
                box = _face_image(layouts.affectnet_images_dir(root, split) / relative, expression, rng)
                valence = -2 if index == 0 and split == "train" else round(expression / 8 - 0.4, 3)
                arousal = round(0.5 - expression / 10, 3)
                lines.append(layouts.format_affectnet_row(relative, box, landmarks, expression, valence, arousal))
        layouts.write_affectnet_list(layouts.affectnet_list_path(root, split), lines)
    return 8 * train_per_class


def write_fec(root: Path, *, train_triplets: int = 12, test_triplets: int = 6, seed: int = 1) -> int:
    """FEC lists + images named by ``fec_image_filename``; returns the number of training triplets."""
    rng = np.random.default_rng(seed)
    images = root / layouts.FEC_IMAGES_FOLDER
    urls, boxes = [], []
    for index in range(12):
        urls.append(f"http://farm1.example.org/{index}/face_{index}.jpg")
        x, y, w, h = _face_image(layouts.fec_image_path(images, urls[-1]), index % 8, rng)
        boxes.append((x / 48, (x + w) / 48, y / 48, (y + h) / 48))
    for split, count in (("train", train_triplets), ("test", test_triplets)):
        lines = []
        for triplet in range(count):
            picks = rng.choice(len(urls), size=3, replace=False)
            odd = int(rng.integers(1, 4))
            lines.append(
                layouts.format_fec_row(
                    [urls[pick] for pick in picks],
                    [boxes[pick] for pick in picks],
                    FEC_TRIPLET_TYPES[triplet % 3],
                    [(f"rater{rater}", odd) for rater in range(6)],
                )
            )
        layouts.write_fec_list(layouts.fec_list_path(root, split), lines)
    return train_triplets


def write_unlabelled(root: Path, *, count: int = 6, seed: int = 2) -> int:
    rng = np.random.default_rng(seed)
    for index in range(count):
        _face_image(root / f"face_{index}.png", index % 8, rng)
    return count


def write_training_corpora(root: Path) -> dict[str, Path]:
    """All three corpora under ``root``; returns their folders."""
    folders = {"affectnet": root / "affectnet", "fec": root / "fec", "unlabelled": root / "unlabelled"}
    write_affectnet(folders["affectnet"])
    write_fec(folders["fec"])
    write_unlabelled(folders["unlabelled"])
    return folders


def save_random_teacher(folder: Path, *, image_size: int = 32, backbone: str = "test_resnet") -> Path:
    """An untrained DeepFEVER model + processor saved as a teacher folder (a stand-in for a trained one)."""
    import torch

    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor

    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone=backbone, image_size=image_size, embedding_dim=16))
    model.save_pretrained(folder)
    DeepFeverImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return folder

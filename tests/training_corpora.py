"""Tiny, fast training corpora in the publishers' layouts (AffectNet, FEC, an unlabelled folder).

Faces are 40x40 PNGs whose colour encodes the expression class (so a few steps can learn something) on a
larger canvas with a face box, as the real corpora have. Writing everything takes well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from hf_deepfever.data import fec_image_filename

AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
)
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
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    landmarks = ";".join(["10.0"] * 136)
    for split, per_class in (("training", train_per_class), ("validation", validation_per_class)):
        lines = [AFFECTNET_HEADER]
        for expression in range(8):
            for index in range(per_class):
                relative = f"{split}_{expression}/{index}.png"
                x, y, w, h = _face_image(root / "Manually_Annotated_Images" / relative, expression, rng)
                valence = "-2" if index == 0 and split == "training" else f"{expression / 8 - 0.4:.3f}"
                arousal = f"{0.5 - expression / 10:.3f}"
                lines.append(f"{relative},{x},{y},{w},{h},{landmarks},{expression},{valence},{arousal}")
        (lists / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return 8 * train_per_class


def write_fec(root: Path, *, train_triplets: int = 12, test_triplets: int = 6, seed: int = 1) -> int:
    """FEC lists + images named by ``fec_image_filename``; returns the number of training triplets."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    lists = root / "FEC_dataset"
    lists.mkdir(parents=True)
    urls = []
    for index in range(12):
        url = f"http://farm1.example.org/{index}/face_{index}.jpg"
        x, y, w, h = _face_image(images / fec_image_filename(url), index % 8, rng)
        urls.append((url, index % 8, (x / 48, (x + w) / 48, y / 48, (y + h) / 48)))
    types = ["ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"]
    for name, count in (("train", train_triplets), ("test", test_triplets)):
        lines = []
        for triplet in range(count):
            picks = rng.choice(len(urls), size=3, replace=False)
            fields = []
            for pick in picks:
                url, _, box = urls[pick]
                fields += [f'"{url}"', *(f"{v:.4f}" for v in box)]
            fields.append(types[triplet % 3])
            odd = int(rng.integers(1, 4))
            for rater in range(6):
                fields += [f"rater{rater}", str(odd)]
            lines.append(",".join(fields))
        (lists / f"faceexp-comparison-data-{name}-public.csv").write_text("\n".join(lines) + "\n")
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

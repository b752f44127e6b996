"""Training rows -> model inputs, through the ONE ``DeepFeverImageProcessor``, with face augmentation.

Rows come from :mod:`hf_deepfever.training.data` in two shapes (see there): *face rows* (one image, a face
box, optional expression / valence-arousal labels) and *triplet rows* (three FEC faces + the odd one out).
The transforms here are attached with ``datasets.Dataset.with_transform`` so image decoding, cropping and
augmentation run inside the DataLoader workers, a whole batch at a time.

Images are decoded by the one opener (:func:`hf_deepfever.core.images.open_image`, with ``exif=False``: corpus
boxes and landmarks refer to the stored pixels). Cropping goes through the image processor
(``do_rescale=False, do_normalize=False``: square crop of the face box with margin, rotated by the face's
landmarks when the processor has ``align_faces``, resized), so training crops are exactly the crops inference
sees; augmentation is applied to that crop, then the processor's own ``image_mean`` / ``image_std`` normalise it.

Augmentation randomness is a pure function of ``(seed, epoch, row_index)``: a run resumed from a
checkpoint, or run with any number of DataLoader workers or processes, sees the very same crops.

An image that cannot be decoded (a truncated JPEG whose header read fine when the corpus was indexed, a file
removed since) does not stop training: its row keeps its place in the batch, so every process keeps the same
batch size and the sampler's order is untouched (resumes and DDP stay exact), but as a *marker row* that
every loss ignores: a flat crop of the normalisation mean (zeros after normalising), ``labels`` -100,
``valence_arousal`` NaN, ``odd_one_out`` -1 for a triplet with such a face, and ``usable`` False (terms without
targets of their own, e.g. distillation against a teacher, select ``usable`` rows). Each one is reported by a
:class:`SkippedImageWarning` naming the file and the reason, with the count so far in that process.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from ..core.images import ImageFileError, open_image

IGNORE_INDEX = -100
"""Expression label of rows without one (``expression_cross_entropy`` ignores it)."""

NO_TRIPLET = -1
"""``odd_one_out`` of a triplet row that takes no part in the loss (``triplet_hinge_loss`` ignores it)."""


class SkippedImageWarning(UserWarning):
    """A training image could not be decoded; its row was left out of every loss (see the module docstring)."""


@dataclass(frozen=True)
class FaceAugmentation:
    """Mild, label-preserving augmentation for face crops: flip, rotation/scale/translation about the crop
    centre, brightness/contrast/saturation jitter. Applied to a whole batch at once (one ``grid_sample``)."""

    flip_probability: float = 0.5
    max_rotation_degrees: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_translation: float = 0.05  # fraction of the crop side
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, crops: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """Augment ``(B, 3, S, S)`` float crops in [0, 1]; row ``i`` draws its randomness from ``generators[i]``."""
        uniform = torch.stack([torch.rand(8, generator=generator) for generator in generators]).to(crops)
        flip = torch.where(uniform[:, 0] < self.flip_probability, -1.0, 1.0)
        angle = torch.deg2rad((2 * uniform[:, 1] - 1) * self.max_rotation_degrees)
        scale = self.scale_range[0] + uniform[:, 2] * (self.scale_range[1] - self.scale_range[0])
        shift = (2 * uniform[:, 3:5] - 1) * self.max_translation * 2  # normalised coordinates span 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # Output -> input sampling grid; negating the input x flips the face horizontally.
        theta = torch.stack(
            [torch.stack([cos * flip, -sin * flip, shift[:, 0] * flip], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        )
        grid = F.affine_grid(theta, list(crops.shape), align_corners=False)
        crops = F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

        def per_row(values: torch.Tensor) -> torch.Tensor:
            return values.view(-1, 1, 1, 1)

        crops = crops * per_row(1 + (2 * uniform[:, 5] - 1) * self.brightness)
        gray = (crops * _LUMA.to(crops).view(1, 3, 1, 1)).sum(1, keepdim=True)
        mean_gray = gray.mean(dim=(2, 3), keepdim=True)
        crops = (crops - mean_gray) * per_row(1 + (2 * uniform[:, 6] - 1) * self.contrast) + mean_gray
        gray = (crops * _LUMA.to(crops).view(1, 3, 1, 1)).sum(1, keepdim=True)
        crops = gray + (crops - gray) * per_row(1 + (2 * uniform[:, 7] - 1) * self.saturation)
        return crops.clamp_(0.0, 1.0)


_LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 weights, as torchvision's rgb_to_grayscale


def sample_generator(seed: int, epoch: int, row_index: int) -> torch.Generator:
    """A generator whose stream depends only on (seed, epoch, row): augmentation independent of workers/resume."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, row_index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def relative_box_to_pixels(box_lrtb: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """FEC's normalised ``[left, right, top, bottom]`` -> ``(x, y, w, h)`` in pixels of a ``width x height`` image."""
    left, right, top, bottom = (float(v) for v in box_lrtb)
    return left * width, top * height, (right - left) * width, (bottom - top) * height


def pixel_box(image: PIL.Image.Image, face_box: Any, relative_box: Any) -> tuple[float, float, float, float] | None:
    """The face box of a row in pixels: a pixel ``face_box`` wins, else a relative box, else the whole image."""
    if face_box is not None:
        return tuple(float(v) for v in face_box)
    if relative_box is not None:
        return relative_box_to_pixels(relative_box, *image.size)
    return None


class FaceCropper:
    """Image + face box -> normalised ``pixel_values``, via the model's image processor (the one code path)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.mean = torch.tensor(processor.image_mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(processor.image_std, dtype=torch.float32).view(3, 1, 1)

    def crops(
        self, images: list[PIL.Image.Image], boxes: list[Any], landmarks: list[Any] | None = None
    ) -> torch.Tensor:
        """Square face crops ``(B, 3, S, S)``, float in [0, 1], not yet normalised (aligned by the landmarks when
        the processor has ``align_faces``)."""
        options = {"do_rescale": False, "do_normalize": False, "return_tensors": "pt"}
        pixels = self.processor(images, face_boxes=boxes, face_landmarks=landmarks, **options)["pixel_values"]
        return pixels.float().div_(255.0)

    def normalise(self, crops: torch.Tensor) -> torch.Tensor:
        return (crops - self.mean) / self.std


class _AugmentingTransform:
    """Shared by the face and triplet transforms: epoch-aware, seeded per-row augmentation."""

    def __init__(self, processor: Any, *, augment: bool, seed: int, augmentation: FaceAugmentation | None = None):
        self.cropper = FaceCropper(processor)
        self.side = int(processor.size["height"])
        self.augment = augment
        self.seed = seed
        self.augmentation = augmentation or FaceAugmentation()
        self.epoch = 0
        self.skipped = 0  # unreadable images met by this copy of the transform (each DataLoader worker has its own)

    def set_epoch(self, epoch: int) -> None:
        """Called before each epoch's iterator is created (workers receive a copy at that moment)."""
        self.epoch = epoch

    def _pixel_values(
        self,
        paths: list[str],
        boxes: list[Any],
        relative: list[Any],
        rows: list[int],
        slot: int = 0,
        landmarks: list[Any] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised crops ``(B, 3, S, S)`` and ``usable`` ``(B,)``: False where the image could not be decoded
        (its crop is then all zeros: the normalisation mean)."""
        images = [self._open(path, row) for path, row in zip(paths, rows)]
        usable = torch.tensor([image is not None for image in images], dtype=torch.bool)
        normalised = torch.zeros(len(paths), 3, self.side, self.side)
        good = usable.nonzero().flatten().tolist()
        if not good:
            return normalised, usable
        pick = [images[i] for i in good]
        pixel_boxes = [pixel_box(image, boxes[i], relative[i]) for image, i in zip(pick, good)]
        try:
            crops = self.cropper.crops(pick, pixel_boxes, None if landmarks is None else [landmarks[i] for i in good])
        except ValueError as error:  # a degenerate box: name the files of the batch
            raise ValueError(f"cannot crop faces of {paths}: {error}") from error
        if self.augment:
            generators = [sample_generator(self.seed, self.epoch, 3 * rows[i] + slot) for i in good]
            crops = self.augmentation(crops, generators)
        normalised[good] = self.cropper.normalise(crops)
        return normalised, usable

    def _open(self, path: str, row: int) -> PIL.Image.Image | None:
        # Corpus boxes and landmarks refer to the stored pixels: EXIF orientation is not applied (exif=False).
        try:
            return open_image(path, exif=False)
        except ImageFileError as error:
            self.skipped += 1
            warnings.warn(
                f"training row {row}: {error}; the row is left out of every loss "
                f"({self.skipped} unreadable image(s) so far in this process)",
                SkippedImageWarning,
                stacklevel=2,
            )
            return None


class FaceRowTransform(_AugmentingTransform):
    """``with_transform`` callable for face rows -> ``pixel_values``, ``labels``, ``valence_arousal``, ``row_index``,
    ``usable`` (False for the marker row of an image that could not be decoded, whose targets are then ignored)."""

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, torch.Tensor]:
        rows = [int(r) for r in batch["row_index"]]
        pixel_values, usable = self._pixel_values(
            batch["path"], batch["face_box"], batch["face_box_relative"], rows, landmarks=batch.get("landmarks")
        )
        va = [[math.nan if v is None else float(v) for v in pair] for pair in batch["valence_arousal"]]
        labels = torch.tensor(batch["labels"], dtype=torch.long)
        valence_arousal = torch.tensor(va, dtype=torch.float32).reshape(-1, 2)
        return {
            "pixel_values": pixel_values,
            "labels": labels.masked_fill(~usable, IGNORE_INDEX),
            "valence_arousal": valence_arousal.masked_fill(~usable[:, None], math.nan),
            "row_index": torch.tensor(rows, dtype=torch.long),
            "usable": usable,
        }


class TripletRowTransform(_AugmentingTransform):
    """``with_transform`` callable for FEC triplet rows -> ``pixel_values (B, 3, C, S, S)``, ``odd_one_out``,
    ``triplet_type``, ``row_index``, ``usable`` (False when one of the three images could not be decoded: the
    triplet's ``odd_one_out`` is then :data:`NO_TRIPLET`, which the hinge ignores)."""

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, torch.Tensor]:
        rows = [int(r) for r in batch["row_index"]]
        faces, usable = zip(*(
            self._pixel_values(batch[f"path_{k}"], [None] * len(rows), batch[f"box_{k}"], rows, slot=k - 1)
            for k in (1, 2, 3)
        ))
        usable = torch.stack(usable).all(dim=0)
        odd_one_out = torch.tensor(batch["odd_one_out"], dtype=torch.long)
        return {
            "pixel_values": torch.stack(faces, dim=1),
            "odd_one_out": odd_one_out.masked_fill(~usable, NO_TRIPLET),
            "triplet_type": torch.tensor(batch["triplet_type"], dtype=torch.long),
            "row_index": torch.tensor(rows, dtype=torch.long),
            "usable": usable,
        }


def collate_rows(rows: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack per-row tensors (from either transform) into a batch."""
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}


__all__ = [
    "IGNORE_INDEX",
    "NO_TRIPLET",
    "FaceAugmentation",
    "FaceCropper",
    "FaceRowTransform",
    "SkippedImageWarning",
    "TripletRowTransform",
    "collate_rows",
    "pixel_box",
    "relative_box_to_pixels",
    "sample_generator",
]

"""Batched, augmentation-free inference of a DeepFEVER model over one image column of a dataset.

The image processor is the one place that turns a corpus row (image + face box + landmarks) into model inputs;
images are decoded by :func:`hf_deepfever.core.images.open_image` (the decoder of the CLI and of training, with
the stored pixels: ``exif=False``); this module only batches rows through them. Under ``accelerate launch``
each process runs a shard of the rows and the results are gathered (``gather_for_metrics`` drops the padding
of the last uneven batch), then put back in dataset order by row index, so every process ends with the same
full arrays.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..core.images import decode_dataset_image
from .inputs import relative_box_to_pixels

logger = logging.getLogger(__name__)

FACE_BOX_FORMATS = ("xywh", "ltrb_normalized")
"""``xywh``: ``[x, y, w, h]`` in pixels (AffectNet). ``ltrb_normalized``: ``[left, right, top, bottom]`` as
fractions of the image size (FEC)."""


@dataclass
class ImagePredictions:
    """Model outputs for every row, in dataset order.

    Attributes:
        vectors: ``(N, embedding_dim)`` L2-normalised expression vectors (``pooler_output``).
        logits: ``(N, num_labels)`` expression logits, or ``None`` for a model without heads.
        valence_arousal: ``(N, 2)`` predicted (valence, arousal), or ``None`` for a model without heads.
    """

    vectors: np.ndarray
    logits: np.ndarray | None = None
    valence_arousal: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


def face_box_in_pixels(box: Sequence[float] | None, width: int, height: int, box_format: str) -> list[float] | None:
    """Return ``box`` as ``[x, y, w, h]`` pixels, the image processor's format (``None`` stays ``None``)."""
    if box is None:
        return None
    if box_format == "xywh":
        return [float(value) for value in box]
    if box_format == "ltrb_normalized":
        return list(relative_box_to_pixels(box, width, height))
    raise ValueError(f"unknown face box format {box_format!r}; expected one of {FACE_BOX_FORMATS}")


class _FaceRows(Dataset):
    """Rows of one image column (and its optional box and landmarks columns), decoded one at a time by the one
    image opener, with their index."""

    def __init__(
        self,
        dataset: Any,
        image_column: str,
        box_column: str | None,
        box_format: str,
        landmarks_column: str | None = None,
    ) -> None:
        from datasets import Image

        if box_format not in FACE_BOX_FORMATS:
            raise ValueError(f"unknown face box format {box_format!r}; expected one of {FACE_BOX_FORMATS}")
        for column in (image_column, box_column, landmarks_column):
            if column is not None and column not in dataset.column_names:
                raise ValueError(f"the dataset has no column {column!r}; its columns are {dataset.column_names}")
        if not isinstance(dataset.features[image_column], Image):
            raise ValueError(f"column {image_column!r} is not a datasets Image column")
        # Keep only what this pass needs, so FEC rows do not touch their other two images; images are read as
        # {"path", "bytes"} and decoded by open_image, the decoder of the CLI and of training.
        columns = [image_column] + [column for column in (box_column, landmarks_column) if column]
        self.dataset = dataset.select_columns(columns).cast_column(image_column, Image(decode=False))
        self.image_column, self.box_column, self.box_format = image_column, box_column, box_format
        self.landmarks_column = landmarks_column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Any, list[float] | None, Any]:
        row = self.dataset[index]
        # Corpus boxes and landmarks refer to the stored pixels, so EXIF orientation is not applied.
        image = decode_dataset_image(row[self.image_column], f"row {index} of column {self.image_column!r}", exif=False)
        box = row[self.box_column] if self.box_column else None
        if box is not None:
            box = face_box_in_pixels(box, image.width, image.height, self.box_format)
        return index, image, box, row[self.landmarks_column] if self.landmarks_column else None


class _ProcessorCollator:
    """``(index, image, box, landmarks)`` items -> ``{"index", "pixel_values"}``, through the image processor."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, items: list[tuple[int, Any, list[float] | None, Any]]) -> dict[str, torch.Tensor]:
        indices, images, boxes, landmarks = zip(*items)
        pixel_values = self.processor(
            list(images), face_boxes=list(boxes), face_landmarks=list(landmarks), return_tensors="pt"
        )["pixel_values"]
        return {"index": torch.tensor(indices, dtype=torch.long), "pixel_values": pixel_values}


def _unwrap(model: Any, accelerator: Any) -> Any:
    return accelerator.unwrap_model(model) if accelerator is not None else model


@torch.no_grad()
def predict_images(
    model: Any,
    processor: Any,
    dataset: Any,
    *,
    image_column: str = "image",
    box_column: str | None = None,
    box_format: str = "xywh",
    landmarks_column: str | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    accelerator: Any = None,
    progress_description: str | None = None,
) -> ImagePredictions:
    """Run ``model`` over every row of ``dataset`` and return its outputs in dataset order.

    Args:
        model: a ``DeepFeverForExpressionRecognition`` (vectors, logits, valence/arousal) or a
            ``DeepFeverModel`` (vectors only). It is put in eval mode; its device is the accelerator's, or
            its own without one.
        processor: the ``DeepFeverImageProcessor`` of the model (no augmentation is ever applied here).
        dataset: a ``datasets.Dataset`` with an ``Image`` column.
        image_column, box_column: the columns holding the image and its face box (``None``: the whole
            image is the face, e.g. RAF-DB's aligned crops).
        box_format: see :data:`FACE_BOX_FORMATS`.
        landmarks_column: a column of face landmarks in the processor's ``face_landmarks`` format (AffectNet's
            ``landmarks``), used when the processor has ``align_faces``, as in training; ``None``: no landmarks.
        accelerator: an ``accelerate.Accelerator``; with several processes, rows are sharded and gathered.
    """
    if len(dataset) == 0:
        raise ValueError(f"cannot run inference over an empty dataset (column {image_column!r})")
    loader = DataLoader(
        _FaceRows(dataset, image_column, box_column, box_format, landmarks_column),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_ProcessorCollator(processor),
        # Its own generator (for the workers' base seed): an evaluation in the middle of a training run must not
        # move the training's random stream (dropout), or the figures would depend on how often it evaluates.
        generator=torch.Generator().manual_seed(0),
    )
    model = _unwrap(model, accelerator)
    is_main = True
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
        model = model.to(accelerator.device)
        is_main = accelerator.is_local_main_process
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    parts: dict[str, list[torch.Tensor]] = {"index": [], "vectors": [], "logits": [], "valence_arousal": []}
    iterator = loader
    if progress_description and is_main:
        from tqdm.auto import tqdm

        iterator = tqdm(loader, desc=progress_description, leave=False)
    try:
        for batch in iterator:
            pixel_values = batch["pixel_values"].to(device)
            with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
                outputs = model(pixel_values=pixel_values)
            step = {
                "index": batch["index"].to(device),
                "vectors": outputs.pooler_output.float(),
                "logits": outputs.logits.float() if getattr(outputs, "logits", None) is not None else None,
                "valence_arousal": (
                    outputs.valence_arousal.float() if getattr(outputs, "valence_arousal", None) is not None else None
                ),
            }
            present = {name: value for name, value in step.items() if value is not None}
            if accelerator is not None:
                present = accelerator.gather_for_metrics(present)
            for name, value in present.items():
                parts[name].append(value.cpu())
    finally:
        model.train(was_training)

    order = torch.argsort(torch.cat(parts["index"]))

    def stacked(name: str) -> np.ndarray | None:
        return torch.cat(parts[name])[order].numpy() if parts[name] else None

    predictions = ImagePredictions(
        vectors=stacked("vectors"), logits=stacked("logits"), valence_arousal=stacked("valence_arousal")
    )
    if len(predictions) != len(dataset):
        raise RuntimeError(f"gathered {len(predictions)} predictions for {len(dataset)} rows")
    return predictions


__all__ = ["FACE_BOX_FORMATS", "ImagePredictions", "face_box_in_pixels", "predict_images"]

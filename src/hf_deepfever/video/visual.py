"""The visual stream of a video, step by step: decode, follow the main face, crop it, run a model on the crops.

One function (:func:`run_on_faces`) serves DeepFEVER-AV training (the cached expression vectors of every RECOLA
recording), ``deepfever video`` with a DeepFEVER-AV model (the same vectors) and with a DeepFEVER image model
(expression probabilities, valence and arousal per step): the frames, the face track, the crops and the landmarks
passed for alignment are the same in all three.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..models.deepfever.face_detection_deepfever import DetectedFace
from .decode import frames_at_steps
from .faces import FaceLocator

FRAME_BATCH = 64
"""Face crops run through the model at once."""


@dataclass
class FaceSteps:
    """Per step of a video (``num_steps`` of them, as decoded): whether the main face was found, its box
    ``(x, y, w, h)`` and detection score (NaN without a face), and the model's outputs on its crop (``outputs``:
    name -> ``(num_steps, ...)`` float32 array, ``fill`` where there is no face)."""

    num_steps: int
    face_found: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def crop_faces(processor: Any, frames: list[np.ndarray], faces: list[DetectedFace]) -> torch.Tensor:
    """`(n, 3, S, S)` crops of the faces, landmarks passed along (the processor's `align_faces` decides whether they
    level the eyes). `processor`: a DeepFEVER-AV processor (its `__call__` with `images`) or a DeepFEVER image
    processor, which the AV processor calls for its frames: the same crops either way."""
    boxes = [face.box for face in faces]
    landmarks = [face.landmarks for face in faces]
    if hasattr(processor, "feature_extractor"):
        return processor(images=frames, face_boxes=boxes, face_landmarks=landmarks)["pixel_values"][0]
    return processor(frames, face_boxes=boxes, face_landmarks=landmarks, return_tensors="pt")["pixel_values"]


@torch.no_grad()
def run_on_faces(
    video: str | os.PathLike,
    step_s: float,
    face_locator: FaceLocator,
    processor: Any,
    encode: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    *,
    num_steps: int | None = None,
    fill: float = 0.0,
    notes: list[str] | None = None,
) -> FaceSteps:
    """Stream ``video``'s frames at label steps, follow its main face and ``encode`` the crops in batches.

    ``encode(pixel_values)`` returns a dict of per-crop tensors. A frame shown at several steps is cropped and
    encoded once. Steps stop where the frames do (or at ``num_steps``); ``notes`` collects what decoding noticed.
    """
    track = face_locator.track()
    steps_seen = 0
    found: list[int] = []
    boxes: list[tuple[float, ...]] = []
    scores: list[float] = []
    pending: list[tuple[list[int], np.ndarray, DetectedFace]] = []  # (steps showing the frame, frame, face)
    encoded: dict[str, list[tuple[list[int], np.ndarray]]] = {}

    def flush() -> None:
        if not pending:
            return
        crops = crop_faces(processor, [frame for _, frame, _ in pending], [face for _, _, face in pending])
        for name, values in encode(crops).items():
            values = values.float().cpu().numpy()
            encoded.setdefault(name, []).extend((steps, values[row]) for row, (steps, _, _) in enumerate(pending))
        pending.clear()

    for step, frame in frames_at_steps(video, step_s, num_steps, notes):
        steps_seen = step + 1
        face = track(frame)
        if face is None:
            continue
        found.append(step)
        boxes.append(face.box)
        scores.append(face.score)
        if pending and pending[-1][1] is frame:
            pending[-1][0].append(step)
            continue
        if len(pending) >= FRAME_BATCH:
            flush()
        pending.append(([step], frame, face))
    flush()

    result = FaceSteps(
        num_steps=steps_seen,
        face_found=np.zeros(steps_seen, dtype=bool),
        boxes=np.full((steps_seen, 4), np.nan, dtype=np.float64),
        scores=np.full(steps_seen, np.nan, dtype=np.float64),
    )
    if found:
        result.face_found[found] = True
        result.boxes[found] = np.asarray(boxes, dtype=np.float64)
        result.scores[found] = np.asarray(scores, dtype=np.float64)
    for name, rows in encoded.items():
        array = np.full((steps_seen, *rows[0][1].shape), fill, dtype=np.float32)
        for steps, values in rows:
            array[steps] = values
        result.outputs[name] = array
    return result


def vector_encoder(vision_model: Any, device: torch.device | str) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """Crops -> ``{"vectors": DeepFEVER expression vectors}`` (the visual stream of DeepFEVER-AV)."""

    def encode(crops: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"vectors": vision_model(crops.to(device=device, dtype=vision_model.dtype)).pooler_output}

    return encode


@torch.no_grad()
def compute_visual_features(
    video: str | os.PathLike | None,
    num_steps: int,
    vision_model: Any,
    processor: Any,
    face_locator: FaceLocator,
    step_s: float,
    device: torch.device | str = "cpu",
    notes: list[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(num_steps, embedding_dim)`` DeepFEVER vectors and ``(num_steps,)`` face mask of one video (DeepFEVER-AV's
    visual stream; ``processor``: the AV processor or its image processor).

    Steps without a frame, or whose frame has no face, get a zero vector and ``face_mask`` False.
    """
    vectors = torch.zeros((num_steps, vision_model.config.embedding_dim))
    face_mask = torch.zeros(num_steps, dtype=torch.bool)
    if video is None:
        return vectors, face_mask
    vision_model.eval()
    steps = run_on_faces(
        video, step_s, face_locator, processor, vector_encoder(vision_model, device), num_steps=num_steps, notes=notes
    )
    if "vectors" in steps.outputs:
        vectors[: steps.num_steps] = torch.from_numpy(steps.outputs["vectors"])
    face_mask[: steps.num_steps] = torch.from_numpy(steps.face_found)
    return vectors, face_mask


__all__ = ["FRAME_BATCH", "FaceSteps", "compute_visual_features", "crop_faces", "run_on_faces", "vector_encoder"]

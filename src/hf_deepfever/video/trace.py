"""Valence/arousal traces of a face video with DeepFEVER-AV: decode, locate faces, run the model step by step.

A file without an audio track runs on the face alone (no audio features; the model's audio mask marks every
step as missing). A file without a video stream runs on the voice alone (``face_mask`` all False). Long files
are processed in chunks of ``chunk_steps`` steps (the recurrent state starts afresh in each chunk), so memory
stays bounded whatever the length.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.vocabulary import VALENCE_AROUSAL
from .decode import decode_audio, frames_at_steps, probe_video, steps_for_duration
from .faces import FaceLocator

logger = logging.getLogger(__name__)

_FRAME_BATCH = 64


@dataclass
class Trace:
    """Predictions every step: time (s), valence, arousal, whether a face / audio was there."""

    time: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    face_found: np.ndarray
    audio_present: np.ndarray
    notes: list[str]


@torch.no_grad()
def compute_visual_features(
    video: str | os.PathLike | None,
    num_steps: int,
    vision_model: Any,
    image_processor: Any,
    face_locator: FaceLocator,
    step_s: float,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(num_steps, embedding_dim)`` DeepFEVER vectors and ``(num_steps,)`` face mask of one video.

    Steps without a frame, or whose frame has no face, get a zero vector and ``face_mask`` False. Frames are
    streamed and cropped/encoded in batches.
    """
    vectors = torch.zeros((num_steps, vision_model.config.embedding_dim))
    face_mask = torch.zeros(num_steps, dtype=torch.bool)
    if video is None:
        return vectors, face_mask
    vision_model.eval()
    pending: list[tuple[int, np.ndarray, Any]] = []

    def flush() -> None:
        if not pending:
            return
        steps = [step for step, _, _ in pending]
        crops = image_processor(
            [frame for _, frame, _ in pending], face_boxes=[box for _, _, box in pending], return_tensors="pt"
        )["pixel_values"]
        encoded = vision_model(crops.to(device=device, dtype=vision_model.dtype)).pooler_output
        vectors[steps] = encoded.float().cpu()
        face_mask[steps] = True
        pending.clear()

    for step, frame in frames_at_steps(video, step_s, num_steps):
        box = face_locator(frame)
        if box is not None:
            pending.append((step, frame, box))
        if len(pending) >= _FRAME_BATCH:
            flush()
    flush()
    return vectors, face_mask


@torch.no_grad()
def predict_trace(
    model: Any,
    processor: Any,
    path: str | os.PathLike,
    *,
    face_locator: FaceLocator | None = None,
    device: torch.device | str = "cpu",
    chunk_steps: int = 1500,
) -> Trace:
    """Valence and arousal of ``path`` every label step (the feature extractor's ``step_ms``)."""
    info = probe_video(path)
    if not info.has_video and not info.has_audio:
        raise ValueError(f"{path}: no video stream and no audio track; nothing to predict from")
    extractor = processor.feature_extractor
    step_s = extractor.step_ms / 1000.0
    notes = []
    audio = decode_audio(path, extractor.sampling_rate) if info.has_audio else None
    if audio is not None and audio.size == 0:
        audio = None
    if audio is None:
        notes.append("no audio track: predicting from the face alone (audio marked missing at every step)")
    if not info.has_video:
        notes.append("no video stream: predicting from the voice alone (face_mask all false)")
    audio_steps = extractor.num_steps(audio.shape[0]) if audio is not None else 0
    num_steps = max(audio_steps, steps_for_duration(info.duration_s, step_s) if info.has_video else 0)

    model.eval().to(device)
    faces = face_locator or FaceLocator("auto")
    vectors, face_mask = compute_visual_features(
        path if info.has_video else None, num_steps, model.vision_model, processor.image_processor, faces, step_s, device
    )
    if info.has_video and not face_mask.any():
        notes.append("no face found in any frame: predicting from the voice alone")
    audio_present = torch.arange(num_steps) < audio_steps
    predictions = []
    for first in range(0, num_steps, chunk_steps):
        count = min(chunk_steps, num_steps - first)
        inputs: dict[str, torch.Tensor] = {
            "visual_features": vectors[None, first : first + count],
            "face_mask": face_mask[None, first : first + count],
        }
        if audio is not None:
            inputs["input_features"] = extractor.step_features(audio, first, count, extractor.sampling_rate)[None]
            inputs["audio_mask"] = audio_present[None, first : first + count]
        inputs = {key: value.to(device) for key, value in inputs.items()}
        predictions.append(model(**inputs).valence_arousal[0].float().cpu())
    values = dict(zip(VALENCE_AROUSAL, torch.cat(predictions).numpy().T))
    return Trace(
        time=np.arange(num_steps) * step_s,
        valence=values["valence"],
        arousal=values["arousal"],
        face_found=face_mask.numpy(),
        audio_present=audio_present.numpy(),
        notes=notes,
    )


__all__ = ["Trace", "compute_visual_features", "predict_trace"]

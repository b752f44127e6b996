"""Traces of a face video, step by step: valence and arousal with DeepFEVER-AV, or expression, valence and arousal
of the main face with a DeepFEVER image model.

DeepFEVER-AV: a file without an audio track runs on the face alone (the model's audio mask marks every step as
missing); a file without a video stream runs on the voice alone (``face_mask`` all False). The model runs on
windows of ``chunk_steps`` steps, each with ``warmup_steps`` more on both sides whose predictions are discarded,
so memory stays bounded on long files and the recurrent network (bidirectional by default) sees context across
every window border: the trace matches one pass over the whole file to within the memory of the network over
``warmup_steps`` steps (measured in tests/test_video_windows.py).

A DeepFEVER image model gives, per step, the expression probabilities, valence and arousal of the main face's
crop; steps without a face have none (NaN).

The number of steps is what decodes (frames and audio samples), never what the container claims; a note says so
when the two differ.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.vocabulary import VALENCE_AROUSAL
from ..models.deepfever.feature_extraction_deepfever_av import EmptyAudioError
from .audio_steps import AudioSteps
from .decode import probe_video
from .faces import FaceLocator
from .visual import FaceSteps, run_on_faces, vector_encoder

logger = logging.getLogger(__name__)

IMAGE_MODEL_STEP_MS = 40.0
"""Step of an image model's trace (the label step of DeepFEVER-AV and RECOLA)."""
DEFAULT_WARMUP_STEPS = 250
"""Steps of context on each side of a DeepFEVER-AV window (10 s at 40 ms)."""
# A container duration this far from what decodes is worth a note (absolute seconds, and fraction).
_CLAIM_SLACK_S, _CLAIM_SLACK_FRACTION = 0.5, 0.05


@dataclass
class Trace:
    """Predictions every step.

    Attributes:
        time: step times in seconds.
        valence, arousal: per step (NaN where an image model saw no face).
        face_found: whether the main face was found at the step.
        audio_present: whether the step has audio (DeepFEVER-AV), None for image models.
        notes: what the reader noticed (missing streams, rotation, container claims, no face ...).
        face_boxes: `(steps, 4)` `(x, y, w, h)` of the main face in the upright frame, NaN without one.
        detection_scores: the detector's score per step (NaN without a face).
        expression_labels / probabilities: an image model's label names and `(steps, labels)` probabilities.
    """

    time: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    face_found: np.ndarray
    audio_present: np.ndarray | None
    notes: list[str]
    face_boxes: np.ndarray
    detection_scores: np.ndarray
    expression_labels: list[str] | None = None
    probabilities: np.ndarray | None = None


def is_audio_visual(model: Any) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "deepfever-av"


def _claim_note(claimed_s: float, steps: int, step_s: float) -> list[str]:
    decoded_s = max(0, steps - 1) * step_s
    if claimed_s > 0 and abs(claimed_s - decoded_s) > max(_CLAIM_SLACK_S, _CLAIM_SLACK_FRACTION * decoded_s):
        return [f"the container claims {claimed_s:.2f} s but {decoded_s:.2f} s decode: the trace covers what decodes"]
    return []


def _padded(rows: FaceSteps, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face found, boxes and scores of `rows` extended to `steps` (no face after the last frame)."""
    found = np.zeros(steps, dtype=bool)
    boxes = np.full((steps, 4), np.nan)
    scores = np.full(steps, np.nan)
    found[: rows.num_steps] = rows.face_found[:steps]
    boxes[: rows.num_steps] = rows.boxes[:steps]
    scores[: rows.num_steps] = rows.scores[:steps]
    return found, boxes, scores


@torch.no_grad()
def _audio_visual_trace(
    model: Any, processor: Any, path: str | os.PathLike, locator: FaceLocator, device: Any, chunk_steps: int, warmup: int
) -> Trace:
    info = probe_video(path)
    if not info.has_video and not info.has_audio:
        raise ValueError(f"{path}: no video stream and no audio track; nothing to predict from")
    extractor = processor.feature_extractor
    step_s = extractor.step_ms / 1000.0
    notes: list[str] = []
    model.eval().to(device)
    embedding = model.config.vision_config.embedding_dim
    faces = FaceSteps(0, np.zeros(0, bool), np.zeros((0, 4)), np.zeros(0))
    if info.has_video:
        faces = run_on_faces(path, step_s, locator, processor, vector_encoder(model.vision_model, device), notes=notes)
        notes += locator.notes
    vectors = torch.from_numpy(faces.outputs["vectors"]) if "vectors" in faces.outputs else torch.zeros((faces.num_steps, embedding))
    face_mask = torch.from_numpy(faces.face_found)
    audio = AudioSteps(extractor, path) if info.has_audio else None
    window_shape = (extractor.feature_size, extractor.context_frames)
    predictions: list[torch.Tensor] = []
    start = 0
    try:
        while True:
            lo, hi = max(0, start - warmup), start + chunk_steps + warmup
            features = None
            if audio is not None:
                try:
                    features = audio.get(lo, hi)
                except EmptyAudioError:
                    audio = None
                    notes.append("the audio track holds no samples: predicting from the face alone")
            # Until the audio is read to its end, every step asked for exists; then the longer stream sets the end.
            total = None if audio is not None and audio.total is None else max(faces.num_steps, audio.total if audio else 0)
            if total is not None:
                if start >= total:
                    break
                hi = min(hi, total)
            stop = min(start + chunk_steps, hi)
            visual = torch.zeros((hi - lo, embedding))
            visual_mask = torch.zeros(hi - lo, dtype=torch.bool)
            seen = max(0, min(hi, faces.num_steps) - lo)
            visual[:seen], visual_mask[:seen] = vectors[lo : lo + seen], face_mask[lo : lo + seen]
            inputs = {"visual_features": visual[None], "face_mask": visual_mask[None]}
            if features is not None:
                inputs["input_features"] = torch.zeros((1, hi - lo, *window_shape))
                inputs["input_features"][0, : features.shape[0]] = features
                inputs["audio_mask"] = (torch.arange(hi - lo) < features.shape[0])[None]
            inputs = {key: value.to(device) for key, value in inputs.items()}
            predictions.append(model(**inputs).valence_arousal[0, start - lo : stop - lo].float().cpu())
            start = stop
    finally:
        if audio is not None:
            audio.close()
    steps = start
    if steps == 0:
        raise ValueError(f"{path}: no frame and no audio sample decodes; nothing to predict from")
    audio_steps = audio.total if audio is not None else 0
    if not info.has_audio:
        notes.append("no audio track: predicting from the face alone (audio marked missing at every step)")
    if not info.has_video:
        notes.append("no video stream: predicting from the voice alone (face_mask all false)")
    elif not faces.face_found.any():
        notes.append("no face found in any frame: predicting from the voice alone" if audio_steps else "no face found in any frame")
    notes += _claim_note(info.duration_s, steps, step_s)
    values = dict(zip(VALENCE_AROUSAL, torch.cat(predictions).numpy().T))
    found, boxes, scores = _padded(faces, steps)
    return Trace(
        time=np.arange(steps) * step_s,
        valence=values["valence"],
        arousal=values["arousal"],
        face_found=found,
        audio_present=np.arange(steps) < audio_steps,
        notes=notes,
        face_boxes=boxes,
        detection_scores=scores,
    )


@torch.no_grad()
def _expression_trace(
    model: Any, processor: Any, path: str | os.PathLike, locator: FaceLocator, device: Any, step_ms: float
) -> Trace:
    if not hasattr(model, "heads"):
        raise ValueError(
            f"{getattr(model, 'name_or_path', '') or 'the model'} is a DeepFEVER extractor without expression heads: a "
            "video trace needs a DeepFEVER model with heads (DeepFeverForExpressionRecognition) or a DeepFEVER-AV model"
        )
    info = probe_video(path)
    if not info.has_video:
        raise ValueError(f"{path}: no video stream; a DeepFEVER image model reads faces (a DeepFEVER-AV model also hears)")
    step_s = step_ms / 1000.0
    notes: list[str] = []
    model.eval().to(device)
    dtype = next(model.parameters()).dtype

    def encode(crops: torch.Tensor) -> dict[str, torch.Tensor]:
        output = model(pixel_values=crops.to(device=device, dtype=dtype))
        return {"probabilities": output.logits.float().softmax(-1), "valence_arousal": output.valence_arousal}

    faces = run_on_faces(path, step_s, locator, processor, encode, fill=float("nan"), notes=notes)
    notes += locator.notes
    if faces.num_steps == 0:
        raise ValueError(f"{path}: no frame decodes; nothing to predict from")
    if not faces.face_found.any():
        notes.append("no face found in any frame: no predictions")
    if info.has_audio:
        notes.append("the audio track is not used: an image model reads faces only")
    notes += _claim_note(info.duration_s, faces.num_steps, step_s)
    labels = [str(model.config.id2label[index]) for index in range(model.config.num_labels)]
    steps = faces.num_steps
    va = faces.outputs.get("valence_arousal", np.full((steps, 2), np.nan, dtype=np.float32))
    values = dict(zip(VALENCE_AROUSAL, va.T))
    return Trace(
        time=np.arange(steps) * step_s,
        valence=values["valence"],
        arousal=values["arousal"],
        face_found=faces.face_found,
        audio_present=None,
        notes=notes,
        face_boxes=faces.boxes,
        detection_scores=faces.scores,
        expression_labels=labels,
        probabilities=faces.outputs.get("probabilities", np.full((steps, len(labels)), np.nan, dtype=np.float32)),
    )


def predict_trace(
    model: Any,
    processor: Any,
    path: str | os.PathLike,
    *,
    face_locator: FaceLocator | None = None,
    device: torch.device | str = "cpu",
    chunk_steps: int = 1500,
    warmup_steps: int = DEFAULT_WARMUP_STEPS,
    step_ms: float = IMAGE_MODEL_STEP_MS,
) -> Trace:
    """The trace of `path` every label step: with a DeepFEVER-AV model (and its `DeepFeverAVProcessor`), valence and
    arousal from face and voice, every `processor.feature_extractor.step_ms`; with a DeepFEVER image model with
    heads (and its image processor), the main face's expression probabilities, valence and arousal every `step_ms`.

    Args:
        face_locator: how faces are found and followed (default: `FaceLocator("auto")`).
        chunk_steps: DeepFEVER-AV steps per model window (bounds memory on long files).
        warmup_steps: extra steps on each side of a window whose predictions are discarded (context across the
            window's borders; 0 restarts the recurrent network at every border).
    """
    if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
        raise ValueError(f"chunk_steps must be an integer >= 1, got {chunk_steps!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    locator = face_locator or FaceLocator("auto")
    if is_audio_visual(model):
        return _audio_visual_trace(model, processor, path, locator, device, chunk_steps, warmup_steps)
    return _expression_trace(model, processor, path, locator, device, step_ms)


__all__ = ["DEFAULT_WARMUP_STEPS", "IMAGE_MODEL_STEP_MS", "Trace", "is_audio_visual", "predict_trace"]

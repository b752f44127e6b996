"""The face front end: the faces of a photo found (detector), aligned and cropped (the model's processor), and run
through the model. It sits in ``core/`` so that ``inference/``, ``search/``, ``app/`` and ``video/`` may all use it.

``deepfever extract --detect-faces``, ``deepfever similar`` and the web app turn a photo into model inputs and
outputs here, by the rule of the ``face-expression`` pipeline
(:mod:`hf_deepfever.models.deepfever.pipeline_face_expression`): the upright RGB image, :func:`detect_faces` for
the boxes (largest first), and one processor call for every face with ``face_boxes`` (and ``face_landmarks`` when
the processor takes them). Unlike the pipeline it also serves models without expression heads (a bare extractor,
DeepFEVER-AV's visual stream), which give vectors only.

:func:`find_faces` is the one place a detector is called for photos (a video's main face is followed by
:mod:`hf_deepfever.video.faces`). Until 0.3 the old path ``hf_deepfever.search.photo_faces`` is a deprecated alias.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import open_image


@dataclass
class PhotoFace:
    """One face of a photo (or the whole photo, ``box`` None) and what the model says of it."""

    box: tuple[float, float, float, float] | None  # (x, y, w, h) in the upright image
    detection_score: float | None
    vector: np.ndarray  # (D,) L2-normalised
    probabilities: np.ndarray | None = None  # (num_labels,) for a model with expression heads
    valence: float | None = None
    arousal: float | None = None
    label: str | None = None


@dataclass
class PhotoAnalysis:
    """An upright photo and its faces, largest first (empty when the detector found none)."""

    image: np.ndarray  # (H, W, 3) uint8, upright
    faces: list[PhotoFace]
    whole_image: bool = False  # True: analysed as one face covering the whole image, no detection


@dataclass
class VisualModel:
    """The image side of a saved model: DeepFEVER itself, or DeepFEVER-AV's visual stream (vectors only)."""

    model: Any
    processor: Any  # the DeepFEVER image processor
    name: str
    family: str  # "deepfever" or "deepfever-av"
    full_model: Any = None  # the DeepFEVER-AV model (for video traces), None for an image model
    full_processor: Any = None

    @property
    def has_expression_heads(self) -> bool:
        return hasattr(self.model, "heads")


def load_visual_model(name_or_path: str, *, device: Any = None, trust_remote_code: bool = False) -> VisualModel:
    """Load a DeepFEVER image model (with its heads when saved with them) or a DeepFEVER-AV model's visual stream."""
    from transformers import AutoConfig

    from .loading import load_model_and_processor

    config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    if getattr(config, "model_type", None) == "deepfever-av":
        model, processor = load_model_and_processor(
            name_or_path, kind="audio-visual", device=device, trust_remote_code=trust_remote_code
        )
        return VisualModel(model.vision_model, processor.image_processor, str(name_or_path), "deepfever-av", model, processor)
    model, processor = load_model_and_processor(name_or_path, kind="image", device=device, trust_remote_code=trust_remote_code)
    return VisualModel(model, processor, str(name_or_path), "deepfever")


def upright_photo(photo: Any) -> np.ndarray:
    """A path (opened with the one image opener: errors name the file), PIL image or RGB array -> upright RGB."""
    from ..models.deepfever.face_detection_deepfever import upright_rgb_array

    if isinstance(photo, (str, os.PathLike)):
        photo = open_image(photo)
    return upright_rgb_array(photo)


def find_faces(rgb: np.ndarray, *, detector: Any = "auto", every_face: bool = True, min_face_size: float | None = None) -> list[Any]:
    """The detected faces of an upright RGB image, largest first (only the largest unless ``every_face``).

    The one call of a face detector for photos; returns ``DetectedFace`` objects (``box``, ``score``, ``landmarks``).
    """
    from ..models.deepfever.face_detection_deepfever import DEFAULT_MIN_FACE_SIZE, detect_faces

    return detect_faces(
        rgb,
        detector,
        min_face_size=DEFAULT_MIN_FACE_SIZE if min_face_size is None else min_face_size,
        max_faces=None if every_face else 1,
    )


def _processor_takes_landmarks(processor: Any) -> bool:
    accepted = getattr(processor, "valid_kwargs", None)
    return "face_landmarks" in getattr(accepted, "__annotations__", {})


def face_pixel_values(processor: Any, image: Any, faces: list[Any]) -> Any:
    """``pixel_values`` of every detected face of ``image``, in one processor call: each face's box and, for a
    processor that aligns, its landmarks (the ``face-expression`` pipeline's rule; ``deepfever extract
    --detect-faces`` and the app use it too)."""
    kwargs: dict[str, Any] = {"face_boxes": [face.box for face in faces]}
    if _processor_takes_landmarks(processor):
        kwargs["face_landmarks"] = [face.landmarks for face in faces]
    return processor([image] * len(faces), return_tensors="pt", **kwargs)["pixel_values"]


def run_model_on_faces(model: Any, processor: Any, rgb: np.ndarray, faces: list[Any] | None) -> list[PhotoFace]:
    """Model outputs for each detected face of ``rgb`` (``faces`` None: the whole image, as extract does)."""
    import torch

    boxes = [None] if faces is None else [face.box for face in faces]
    if not boxes:
        return []
    if faces is None:
        pixels = processor([rgb], return_tensors="pt", face_boxes=[None])["pixel_values"]
    else:
        pixels = face_pixel_values(processor, rgb, faces)
    parameter = next(model.parameters())
    with torch.inference_mode():
        outputs = model(pixel_values=pixels.to(device=parameter.device, dtype=parameter.dtype))
    vectors = outputs.pooler_output.float().cpu().numpy()
    has_heads = getattr(outputs, "logits", None) is not None
    probabilities = outputs.logits.float().softmax(-1).cpu().numpy() if has_heads else None
    affect = outputs.valence_arousal.float().cpu().numpy() if has_heads else None
    id2label = {int(k): v for k, v in getattr(model.config, "id2label", {}).items()}
    results = []
    for position, box in enumerate(boxes):
        face = PhotoFace(
            box=None if box is None else tuple(float(v) for v in box),
            detection_score=None if faces is None else float(faces[position].score),
            vector=vectors[position],
        )
        if has_heads:
            best = int(probabilities[position].argmax())
            face.probabilities = probabilities[position]
            face.label = id2label.get(best, str(best))
            face.valence, face.arousal = float(affect[position, 0]), float(affect[position, 1])
        results.append(face)
    return results


def analyse_photo(
    photo: Any, model: Any, processor: Any, *, detector: Any = "auto", every_face: bool = True, whole_image: bool = False
) -> PhotoAnalysis:
    """Find the faces of ``photo`` and run ``model`` on each (``whole_image``: no detection, the whole photo).

    ``model`` is a DeepFEVER image model (with or without expression heads) or DeepFEVER-AV's ``vision_model``.
    """
    rgb = upright_photo(photo)
    if whole_image:
        return PhotoAnalysis(rgb, run_model_on_faces(model, processor, rgb, None), whole_image=True)
    return PhotoAnalysis(rgb, run_model_on_faces(model, processor, rgb, find_faces(rgb, detector=detector, every_face=every_face)))


__all__ = [
    "PhotoAnalysis",
    "PhotoFace",
    "VisualModel",
    "analyse_photo",
    "face_pixel_values",
    "find_faces",
    "load_visual_model",
    "run_model_on_faces",
    "upright_photo",
]

"""The `face-expression` pipeline: raw photos in, one result per face out.

Each image is made upright (EXIF orientation), its faces are found with [`detect_faces`], and every face is cropped by
the model's own image processor (`face_boxes=[box]`, plus `face_landmarks` for alignment when the detector gives
them and the processor takes them), so a face's vector is exactly what `processor(image, face_boxes=[box])` and the
model give.

This file travels to the Hub as remote code: it imports only numpy, torch, transformers and its siblings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from transformers.pipelines.base import ChunkPipeline

from .face_detection_deepfever import DEFAULT_MIN_FACE_SIZE, DetectedFace, detect_faces, upright_rgb_array

FACE_EXPRESSION_TASK = "face-expression"

_EXPRESSION_MODEL_CLASS = "DeepFeverForExpressionRecognition"


def face_expression_pipeline_entry() -> dict[str, Any]:
    """The `custom_pipelines` entry a saved model's `config.json` carries, so that remote-code users (without
    hf_deepfever installed) get the pipeline with `pipeline("face-expression", model=..., trust_remote_code=True)`."""
    return {
        "impl": "pipeline_face_expression.FaceExpressionPipeline",
        "pt": ["AutoModelForImageClassification"],
        "type": "image",
    }


class FaceExpressionPipeline(ChunkPipeline):
    r"""
    Facial expression, valence and arousal of every face in a photo, with a DeepFEVER expression model.

    Returns, per image, a list with one dict per face, largest face first (`[]` when no face is found):

    - **box** (`dict`): `{"x", "y", "w", "h"}` in pixels of the upright image (clipped to it);
    - **label** (`str`) and **score** (`float`): the most probable expression and its probability;
    - **valence**, **arousal** (`float`): in [-1, 1];
    - **detection_score** (`float`): the detector's confidence (its own scale, see [`DetectedFace`]);
    - **vector** (`list[float]`): the L2-normalised expression vector, with `return_vectors=True`.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> faces = pipeline("face-expression", model="path/to/deepfever")
    >>> faces("group_photo.jpg", detector="dlib", min_face_size=48)
    [{'box': {'x': 181.0, 'y': 140.0, 'w': 186.5, 'h': 186.0}, 'label': 'happy', 'score': 0.71, ...}, ...]
    ```

    Detector options (`detector`, `min_face_size`, `score_threshold`, `max_faces`; see [`detect_faces`]) and
    `return_vectors` may be given when creating the pipeline or per call. A list of images gives a list of results;
    `batch_size` batches the faces through the model.
    """

    _load_processor = False
    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _check_expression_model(self.model)
        accepted = getattr(self.image_processor, "valid_kwargs", None)
        # Older saved processors have no alignment: hand landmarks only to one that takes them.
        self._processor_takes_landmarks = "face_landmarks" in getattr(accepted, "__annotations__", {})

    def _sanitize_parameters(
        self,
        detector: Any = None,
        min_face_size: float | None = None,
        score_threshold: float | None = None,
        max_faces: int | None = None,
        return_vectors: bool | None = None,
        **unknown: Any,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if unknown:
            raise TypeError(f"the face-expression pipeline got unexpected arguments: {', '.join(sorted(unknown))}")
        preprocess = {}
        if detector is not None:
            preprocess["detector"] = detector
        if min_face_size is not None:
            preprocess["min_face_size"] = min_face_size
        if score_threshold is not None:
            preprocess["score_threshold"] = score_threshold
        if max_faces is not None:
            preprocess["max_faces"] = max_faces
        postprocess = {} if return_vectors is None else {"return_vectors": bool(return_vectors)}
        return preprocess, {}, postprocess

    def __call__(self, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """
        Find the faces in the image(s) and describe each one.

        Args:
            inputs (`str`, `PIL.Image.Image`, `np.ndarray` or a list of them):
                File paths, PIL images (both turned upright by their EXIF orientation) or `(H, W, 3)` uint8 RGB arrays.
            detector (`str`, *optional*, defaults to `"auto"`):
                `"auto"`, `"haar"`, `"dlib"`, `"yunet"` or `"yunet:/path/to/model.onnx"`, or a loaded `FaceDetector`.
            min_face_size (`float`, *optional*, defaults to 40):
                Smallest face kept, in pixels of the upright image.
            score_threshold (`float`, *optional*):
                Minimum detection score (default: the detector's own).
            max_faces (`int`, *optional*):
                Keep only the largest `max_faces` faces of each image.
            return_vectors (`bool`, *optional*, defaults to `False`):
                Add each face's expression vector under `"vector"`.

        Return:
            For one image, a list of dicts (one per face, largest first); for a list of images, a list of such lists.
        """
        return super().__call__(inputs, **kwargs)

    def preprocess(
        self,
        image: Any,
        detector: Any = "auto",
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        score_threshold: float | None = None,
        max_faces: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        rgb = upright_rgb_array(image)
        faces = detect_faces(
            rgb, detector, min_face_size=min_face_size, score_threshold=score_threshold, max_faces=max_faces
        )
        if not faces:
            # One empty chunk keeps the image's place in the stream; no model call is made for it.
            side = self._crop_side()
            yield {
                "pixel_values": torch.zeros(0, 3, side, side, dtype=self.dtype),
                "has_face": torch.tensor([False]),
                "face": None,
                "is_last": True,
            }
            return
        pixel_values = self._crops(rgb, faces)
        for index, face in enumerate(faces):
            yield {
                "pixel_values": pixel_values[index : index + 1],
                "has_face": torch.tensor([True]),
                "face": face,
                "is_last": index == len(faces) - 1,
            }

    def _crops(self, rgb: np.ndarray, faces: list[DetectedFace]) -> torch.Tensor:
        """All faces of one image through the image processor in one call (the same code path as a single face)."""
        kwargs: dict[str, Any] = {"face_boxes": [face.box for face in faces]}
        if self._processor_takes_landmarks:
            kwargs["face_landmarks"] = [face.landmarks for face in faces]
        batch = self.image_processor([rgb] * len(faces), return_tensors="pt", **kwargs)
        return batch["pixel_values"].to(self.dtype)

    def _crop_side(self) -> int:
        size = getattr(self.image_processor, "size", None)
        height = getattr(size, "height", None) or (size.get("height") if isinstance(size, dict) else None)
        return int(height or self.model.config.image_size)

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        # Batches are concatenated: `pixel_values` holds one row per chunk that has a face, in order.
        has_face = model_inputs["has_face"].bool()
        rows = has_face.shape[0]
        num_labels, width = self.model.config.num_labels, self.model.config.embedding_dim
        probabilities = torch.zeros(rows, num_labels)
        valence_arousal = torch.zeros(rows, 2)
        vectors = torch.zeros(rows, width)
        pixel_values = model_inputs["pixel_values"]
        if pixel_values.shape[0] != int(has_face.sum()):
            raise RuntimeError(f"{pixel_values.shape[0]} face crops for {int(has_face.sum())} faces")
        if pixel_values.shape[0]:
            outputs = self.model(pixel_values=pixel_values)
            cpu = has_face.cpu()
            probabilities[cpu] = outputs.logits.float().softmax(-1).cpu()
            valence_arousal[cpu] = outputs.valence_arousal.float().cpu()
            vectors[cpu] = outputs.pooler_output.float().cpu()
        return {  # `has_face` first: the batch size is read from the first entry when a batch is split again
            "has_face": has_face,
            "probabilities": probabilities,
            "valence_arousal": valence_arousal,
            "vector": vectors,
            "face": model_inputs["face"],
            "is_last": model_inputs["is_last"],
        }

    def postprocess(self, all_outputs: list[dict[str, Any]], return_vectors: bool = False) -> list[dict[str, Any]]:
        id2label = self.model.config.id2label
        results = []
        for output in all_outputs:
            if not bool(output["has_face"].reshape(-1)[0]):
                continue
            face: DetectedFace = output["face"]
            probabilities = output["probabilities"].reshape(-1)
            best = int(probabilities.argmax())
            valence, arousal = (float(v) for v in output["valence_arousal"].reshape(-1))
            result = {
                "box": face.box_as_dict(),
                "label": id2label[best],
                "score": float(probabilities[best]),
                "valence": valence,
                "arousal": arousal,
                "detection_score": face.score,
            }
            if return_vectors:
                result["vector"] = output["vector"].reshape(-1).tolist()
            results.append(result)
        return results


def _check_expression_model(model: Any) -> None:
    """Only a DeepFEVER model with trained expression heads gives meaningful labels, valence and arousal."""
    config = model.config
    if getattr(config, "model_type", None) != "deepfever" or not hasattr(model, "heads"):
        raise ValueError(
            f"the face-expression pipeline needs a DeepFEVER expression model ({_EXPRESSION_MODEL_CLASS}), "
            f"got {type(model).__name__} (model_type={getattr(config, 'model_type', None)!r})"
        )
    saved_as = getattr(config, "architectures", None) or []
    if saved_as and _EXPRESSION_MODEL_CLASS not in saved_as:
        raise ValueError(
            f"this checkpoint was saved as {', '.join(saved_as)}, without expression heads (they would be random); "
            "use pipeline('image-feature-extraction', ...) for its vectors"
        )


def register_face_expression_pipeline() -> None:
    """Register `pipeline("face-expression")` with transformers (safe to call again)."""
    from transformers import AutoModelForImageClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    if PIPELINE_REGISTRY.supported_tasks.get(FACE_EXPRESSION_TASK, {}).get("impl") is FaceExpressionPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(
        FACE_EXPRESSION_TASK,
        pipeline_class=FaceExpressionPipeline,
        pt_model=AutoModelForImageClassification,
        type="image",
    )


__all__ = [
    "FACE_EXPRESSION_TASK",
    "FaceExpressionPipeline",
    "face_expression_pipeline_entry",
    "register_face_expression_pipeline",
]

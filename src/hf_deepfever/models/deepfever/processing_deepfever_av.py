"""DeepFEVER-AV processor: the DeepFEVER image processor (face crops) + the log-mel audio feature extractor.

This file travels to the Hub as remote code: it imports only torch, transformers and its sibling files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from .image_processing_deepfever import DeepFeverImageProcessor


def _is_frame_list(value: Any) -> bool:
    """True for one clip (a list of frames), False for a batch (a list of lists of frames)."""
    return isinstance(value, (list, tuple)) and (len(value) == 0 or not isinstance(value[0], (list, tuple)))


class DeepFeverAVProcessor(ProcessorMixin):
    r"""
    Turns a clip's audio and face frames into [`DeepFeverAVModel`] inputs; saved as one `processor_config.json`.

    Args:
        image_processor ([`DeepFeverImageProcessor`]): crops and normalises the face of each frame.
        feature_extractor ([`DeepFeverAudioFeatureExtractor`]): log-mel context windows, one per label step.
    """

    def __init__(self, image_processor: Any = None, feature_extractor: Any = None, **kwargs: Any) -> None:
        if image_processor is None:
            image_processor = DeepFeverImageProcessor()
        if feature_extractor is None:
            feature_extractor = DeepFeverAudioFeatureExtractor()
        super().__init__(image_processor, feature_extractor, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_features", "attention_mask", "pixel_values", "face_mask"]

    def __call__(
        self,
        audio: Any = None,
        images: Any = None,
        face_boxes: Any = None,
        face_landmarks: Any = None,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """
        Args:
            audio: one recording or a list of recordings: arrays or audio/video file paths (see
                [`DeepFeverAudioFeatureExtractor.__call__`]).
            images: one clip (a list of frames, one per label step) or a list of clips.
            face_boxes: per frame `(x, y, w, h)` in pixels or `None` when no face was found (that step's
                `face_mask` is then False); same nesting as `images`. Omitted: every whole frame is a face.
            face_landmarks: per frame the face's 5 (or 68) landmark points or `None`, same nesting as `images`;
                used when the image processor's `align_faces` is on (see [`DeepFeverImageProcessor`]).
            sampling_rate: rate of array `audio` (files carry their own).

        Returns:
            `BatchFeature` with `input_features` and `attention_mask` (from the audio), `pixel_values`
            `(batch, steps, 3, S, S)` and `face_mask` `(batch, steps)` (from the frames). When both are given,
            clips are cut or padded to the audio's steps; without audio, `attention_mask` comes from the frames.
        """
        if audio is None and images is None:
            raise ValueError("give audio and/or images")
        if return_tensors not in (None, "pt"):
            raise ValueError(f"DeepFeverAVProcessor returns torch tensors only; got return_tensors={return_tensors!r}")
        data: dict[str, Any] = {}
        if audio is not None:
            data.update(self.feature_extractor(audio, sampling_rate=sampling_rate, return_tensors="pt"))
        if images is not None:
            clips = [images] if _is_frame_list(images) else list(images)
            boxes = self._per_clip(face_boxes, images, len(clips), "face_boxes")
            landmarks = self._per_clip(face_landmarks, images, len(clips), "face_landmarks")
            steps = data["input_features"].shape[1] if audio is not None else max(len(clip) for clip in clips)
            if audio is not None and len(clips) != data["input_features"].shape[0]:
                raise ValueError(f"got audio for {data['input_features'].shape[0]} clips and images for {len(clips)}")
            pixel_values, face_mask = self._frames(clips, boxes, landmarks, steps, **kwargs)
            data["pixel_values"] = pixel_values
            data["face_mask"] = face_mask
            if audio is None:
                lengths = torch.tensor([min(len(clip), steps) for clip in clips])
                data["attention_mask"] = (torch.arange(steps)[None, :] < lengths[:, None]).long()
        return BatchFeature(data=data)

    @staticmethod
    def _per_clip(values: Any, images: Any, clips: int, name: str) -> list[Sequence[Any] | None]:
        if values is None:
            return [None] * clips
        per_clip = [values] if _is_frame_list(images) else list(values)
        if len(per_clip) != clips:
            raise ValueError(f"got {name} for {len(per_clip)} clips and images for {clips}")
        return per_clip

    def _frames(
        self,
        clips: list[Any],
        boxes: list[Sequence[Any] | None],
        landmarks: list[Sequence[Any] | None],
        steps: int,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.image_processor.size
        height, width = (size["height"], size["width"]) if isinstance(size, dict) else (size.height, size.width)
        pixel_values = torch.zeros((len(clips), steps, 3, height, width), dtype=torch.float32)
        face_mask = torch.zeros((len(clips), steps), dtype=torch.bool)
        for row, (clip, clip_boxes, clip_landmarks) in enumerate(zip(clips, boxes, landmarks)):
            frames = list(clip)[:steps]
            for name, values in (("face_boxes", clip_boxes), ("face_landmarks", clip_landmarks)):
                if values is not None and len(values) < len(frames):
                    raise ValueError(f"clip {row}: {len(frames)} frames but only {len(values)} {name}")
            found = [True] * len(frames) if clip_boxes is None else [box is not None for box in clip_boxes[: len(frames)]]
            if not frames:
                continue
            crops = self.image_processor(
                frames,
                face_boxes=None if clip_boxes is None else list(clip_boxes[: len(frames)]),
                face_landmarks=None if clip_landmarks is None else list(clip_landmarks[: len(frames)]),
                return_tensors="pt",
                **kwargs,
            )["pixel_values"]
            pixel_values[row, : len(frames)] = crops
            face_mask[row, : len(frames)] = torch.tensor(found)
        return pixel_values, face_mask


DeepFeverAVProcessor.register_for_auto_class("AutoProcessor")

__all__ = ["DeepFeverAVProcessor"]

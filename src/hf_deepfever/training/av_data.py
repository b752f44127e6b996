"""DeepFEVER-AV training data: RECOLA recordings on the label-step grid, cached visual vectors, chunks of steps.

* A recording's steps follow the audio feature extractor's grid (centres 0, 40 ms, ...), counted from the samples
  its audio file holds (``DeepFeverAudioFeatureExtractor.count_steps``); gold labels are placed on it by their
  time (``round(time / step)``); steps without a label hold NaN (ignored by the loss).
* Visual vectors (the frozen DeepFEVER expression vector of the main face at each step) come from
  :func:`hf_deepfever.video.visual.compute_visual_features`, the code ``deepfever video`` runs: the same frames,
  face detector and track, crops and landmarks. They are a pure function of the video, the face locator's
  settings, the image processor and the extractor's weights, computed ONCE per recording and cached as
  safetensors under ``<cache_root>/<fingerprint>/<recording key>.safetensors`` (atomic writes; a changed video,
  processor, locator or extractor changes the key or the fingerprint).
* Training rows are fixed chunks of ``chunk_steps`` steps; audio features of a chunk are read on the fly by the
  feature extractor's ``step_features`` (only that chunk's samples, through the reader and resampler that
  ``__call__``, ``iter_chunks`` and ``deepfever video`` use), so no recording's features are ever held whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from ..core.files import atomic_output
from ..core.vocabulary import VALENCE_AROUSAL
from ..video.faces import FaceLocator
from ..video.visual import compute_visual_features
from .teacher_cache import teacher_fingerprint

logger = logging.getLogger(__name__)

VISUAL_CACHE_VERSION = 2  # 2: package face detectors, main-face tracking, landmarks


@dataclass
class Recording:
    """One recording on the step grid."""

    id: str
    audio: str
    video: str | None
    num_steps: int
    labels: torch.Tensor  # (num_steps, 2) in VALENCE_AROUSAL order (valence, arousal); NaN where unlabelled
    visual: torch.Tensor | None = None  # (num_steps, embedding_dim)
    face_mask: torch.Tensor | None = None  # (num_steps,) bool


def recordings_from_split(split: Any, extractor: Any, max_recordings: int | None = None) -> list[Recording]:
    """``load_recola`` rows -> recordings with labels on the extractor's step grid."""
    step_s = extractor.step_ms / 1000.0
    recordings = []
    for row in split:
        num_steps = extractor.count_steps(row["audio"])
        labels = torch.full((num_steps, 2), float("nan"))
        times = np.asarray(row["time"], dtype=np.float64)
        if times.size:
            index = np.rint(times / step_s).astype(np.int64)
            keep = (index >= 0) & (index < num_steps)
            values = np.stack([np.asarray(row[name]) for name in VALENCE_AROUSAL], axis=1)[keep]
            labels[torch.from_numpy(index[keep])] = torch.from_numpy(values.astype(np.float32))
        recordings.append(Recording(row["id"], row["audio"], row["video"], num_steps, labels))
        if max_recordings is not None and len(recordings) >= max_recordings:
            break
    return recordings


def visual_fingerprint(vision_model: Any, image_processor: Any, face_locator: FaceLocator, step_ms: float) -> str:
    """Hash of everything besides the video that determines the cached vectors."""
    digest = hashlib.sha256()
    digest.update(teacher_fingerprint(vision_model, image_processor).encode())
    settings = {"version": VISUAL_CACHE_VERSION, "faces": face_locator.settings(), "step_ms": step_ms}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _recording_key(recording: Recording) -> str:
    stat = os.stat(recording.video) if recording.video else None
    text = json.dumps([recording.video, stat.st_size if stat else 0, stat.st_mtime_ns if stat else 0, recording.num_steps])
    return hashlib.sha1(text.encode()).hexdigest()


def attach_visual_features(
    recordings: Sequence[Recording],
    vision_model: Any,
    image_processor: Any,
    face_locator: FaceLocator,
    cache_root: str | os.PathLike,
    step_ms: float,
    accelerator: Any,
) -> dict[str, int]:
    """Fill ``recording.visual`` / ``face_mask`` from the cache, computing the missing ones (shared across processes).

    Returns counts: ``computed`` (by this process) and ``cached``.
    """
    folder = Path(cache_root) / visual_fingerprint(vision_model, image_processor, face_locator, step_ms)
    folder.mkdir(parents=True, exist_ok=True)
    device = accelerator.device
    vision_model.to(device)
    counts = {"computed": 0, "cached": 0}
    paths = [folder / f"{_recording_key(r)}.safetensors" for r in recordings]
    for index, (recording, path) in enumerate(zip(recordings, paths)):
        if path.is_file() or index % accelerator.num_processes != accelerator.process_index:
            continue
        vectors, face_mask = compute_visual_features(
            recording.video, recording.num_steps, vision_model, image_processor, face_locator, step_ms / 1000.0, device
        )
        with atomic_output(path) as temporary:
            save_file({"vectors": vectors.contiguous(), "face_mask": face_mask.to(torch.uint8)}, str(temporary))
        counts["computed"] += 1
    accelerator.wait_for_everyone()
    for recording, path in zip(recordings, paths):
        stored = load_file(str(path))
        if stored["vectors"].shape[0] != recording.num_steps:
            raise ValueError(f"visual cache {path} holds {stored['vectors'].shape[0]} steps, expected {recording.num_steps}")
        recording.visual = stored["vectors"]
        recording.face_mask = stored["face_mask"].bool()
    counts["cached"] = len(recordings) - counts["computed"]
    return counts


class RecordingChunks(Dataset):
    """Fixed chunks of ``chunk_steps`` steps of every recording, padded to that length (``attention_mask``)."""

    def __init__(self, recordings: Sequence[Recording], extractor: Any, chunk_steps: int) -> None:
        if chunk_steps < 2:
            raise ValueError(f"chunk_steps must be >= 2 (CCC needs two steps), got {chunk_steps}")
        self.recordings = list(recordings)
        self.extractor = extractor
        self.chunk_steps = chunk_steps
        self.index = [(r, first) for r, rec in enumerate(self.recordings) for first in range(0, rec.num_steps, chunk_steps)]

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Chunks are fixed; present for the training loop's transform protocol."""

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        position, first = self.index[item]
        recording = self.recordings[position]
        size = self.chunk_steps
        count = min(size, recording.num_steps - first)
        # Steps past the recording's end read as silence; the attention mask drops them.
        features = self.extractor.step_features(recording.audio, first, size)
        visual = torch.zeros((size, recording.visual.shape[1]))
        visual[:count] = recording.visual[first : first + count]
        face_mask = torch.zeros(size, dtype=torch.bool)
        face_mask[:count] = recording.face_mask[first : first + count]
        labels = torch.full((size, 2), float("nan"))
        labels[:count] = recording.labels[first : first + count]
        return {
            "input_features": features,
            "visual_features": visual,
            "face_mask": face_mask,
            "attention_mask": (torch.arange(size) < count).long(),
            "labels": labels,
        }


__all__ = [
    "Recording",
    "RecordingChunks",
    "attach_visual_features",
    "compute_visual_features",
    "recordings_from_split",
    "visual_fingerprint",
]

"""Audio features of a video's steps, any window at a time, moving forward: a bounded buffer over
:meth:`DeepFeverAudioFeatureExtractor.iter_chunks` (the extractor's own chunking, the same features as training)."""

from __future__ import annotations

import os
from typing import Any

import torch


class AudioSteps:
    """Features of step windows ``[lo, hi)`` of one recording, requested with non-decreasing ``lo``.

    Only the steps from the current ``lo`` to the end of the last chunk read are held. The number of steps is
    known once the track has been read to its end (``total``); until then, every step asked for exists.
    """

    def __init__(self, extractor: Any, path: str | os.PathLike, chunk_steps: int = 250) -> None:
        self._chunks = extractor.iter_chunks(path, chunk_steps=chunk_steps)
        self._held: list[torch.Tensor] = []
        self._held_first = 0  # step of the first held row
        self._end = 0  # steps read so far
        self.total: int | None = None

    def _read_until(self, stop: int) -> None:
        while self.total is None and self._end < stop:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.total = self._end
                break
            features = chunk["input_features"][0]
            self._held.append(features)
            self._end += features.shape[0]

    def get(self, lo: int, hi: int) -> torch.Tensor:
        """`(n, mels, context)` features of steps `[lo, min(hi, total))`; `lo` must not go back."""
        if lo < self._held_first:
            raise RuntimeError(f"audio windows must move forward (step {lo} < {self._held_first})")
        self._read_until(hi)
        held = torch.cat(self._held) if len(self._held) != 1 else self._held[0]
        start = min(lo, self._end) - self._held_first
        self._held = [held[start:]] if start < held.shape[0] else []
        self._held_first += start
        return held[start : start + max(0, min(hi, self._end) - lo)]

    def close(self) -> None:
        """Close the recording (also done when the object is collected)."""
        self._chunks.close()

    @property
    def known_steps(self) -> int:
        """Steps known to exist so far."""
        return self._end


__all__ = ["AudioSteps"]

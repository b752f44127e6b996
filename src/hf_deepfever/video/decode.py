"""Decode a video file with PyAV (``av``, a dependency of hf_deepfever): one frame per label step, and the audio track.

PyAV ships its own FFmpeg, so nothing else needs installing. Frames are streamed (never all in memory);
the audio track is decoded to 16 kHz mono float32 (3.8 MB per minute).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.dependencies import require_module


def import_av() -> Any:
    """PyAV, or a :class:`~hf_deepfever.core.dependencies.MissingDependencyError` saying how to get it."""
    return require_module("av", install="pip install 'av>=12'", purpose="reading and writing videos (PyAV, a dependency of hf_deepfever)")


@dataclass(frozen=True)
class VideoInfo:
    """What a media file holds."""

    path: str
    has_video: bool
    has_audio: bool
    duration_s: float  # longest of the streams (0 when unknown and nothing decodes)
    frame_rate: float | None
    audio_rate: int | None


def _open(path: str | os.PathLike) -> Any:
    av = import_av()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: not a readable media file ({error})") from error


def _stream_duration(stream: Any, container: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Streams and duration of ``path`` (raises FileNotFoundError / ValueError for missing or unreadable files)."""
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        durations = [_stream_duration(s, container) for s in (video, audio) if s is not None]
        return VideoInfo(
            path=str(path),
            has_video=video is not None,
            has_audio=audio is not None,
            duration_s=max(durations, default=0.0),
            frame_rate=float(video.average_rate) if video is not None and video.average_rate else None,
            audio_rate=int(audio.rate) if audio is not None and audio.rate else None,
        )


def frames_at_steps(
    path: str | os.PathLike, step_s: float = 0.04, num_steps: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(step, frame)`` for every label step ``step`` (time ``step * step_s``) that has a frame.

    The frame shown at a step's time is the one used: the last frame whose timestamp is at or before it (up to
    half a step of tolerance for timestamp rounding). Steps before the first frame or more than two frame
    intervals after the last are skipped, so a caller marks them as "no face". Frames are RGB uint8
    ``(height, width, 3)``, streamed.
    """
    with _open(path) as container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        interval = 1.0 / float(stream.average_rate) if stream.average_rate else step_s
        tolerance = step_s / 2
        step = 0
        previous: tuple[float, np.ndarray] | None = None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            current = (float(frame.time), frame.to_ndarray(format="rgb24"))
            # Steps whose time is before this frame's show the previous frame.
            while (num_steps is None or step < num_steps) and step * step_s + tolerance < current[0]:
                if previous is not None:
                    yield step, previous[1]
                step += 1
            previous = current
            if num_steps is not None and step >= num_steps:
                return
        if previous is None:
            return
        last_time = previous[0] + 2 * interval
        while (num_steps is None or step < num_steps) and step * step_s <= last_time - interval + tolerance:
            yield step, previous[1]
            step += 1


def decode_audio(path: str | os.PathLike, sampling_rate: int = 16000) -> np.ndarray | None:
    """The first audio track as mono float32 at ``sampling_rate``, or None when the file has no audio."""
    av = import_av()
    with _open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
        pieces: list[np.ndarray] = []
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                pieces.append(converted.to_ndarray().reshape(-1))
        for converted in resampler.resample(None):
            pieces.append(converted.to_ndarray().reshape(-1))
    if not pieces:
        return None
    return np.concatenate(pieces).astype(np.float32, copy=False)


def steps_for_duration(duration_s: float, step_s: float) -> int:
    """Label steps covering ``duration_s`` (centres 0, step, ..., the same rule as the audio feature extractor)."""
    return int(math.floor(duration_s / step_s + 1e-9)) + 1


__all__ = ["VideoInfo", "decode_audio", "frames_at_steps", "import_av", "probe_video", "steps_for_duration"]

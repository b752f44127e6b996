"""Decode a video file with PyAV (``av``, a dependency of hf_deepfever): one upright frame per label step.

PyAV ships its own FFmpeg, so nothing else needs installing. Frames are streamed (never all in memory) and turned
upright by the stream's display matrix (the rotation phones record). How many steps a video has comes from the
frames that decode, never from the duration the container claims (a header is not evidence). The audio track
is read by the DeepFEVER-AV feature extractor's one reader
(:func:`~hf_deepfever.models.deepfever.feature_extraction_deepfever_av.open_audio`), as in training.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.dependencies import require_module

# A gap between two decoded frames longer than this ends the video: a timestamp jump of hours in a few frames is
# a broken or hostile file, and filling it with the held frame would cost work the file never paid for.
MAX_FRAME_GAP_S = 60.0
# When the frame rate is unknown from the decoded timestamps, the last frame is held at most this long.
_MAX_FALLBACK_INTERVAL_S = 1.0


def import_av() -> Any:
    """PyAV, or a :class:`~hf_deepfever.core.dependencies.MissingDependencyError` saying how to get it."""
    return require_module("av", install="pip install 'av>=12'", purpose="reading and writing videos (PyAV, a dependency of hf_deepfever)")


@dataclass(frozen=True)
class VideoInfo:
    """What a media file's header says it holds (claims: the steps of a trace come from what decodes)."""

    path: str
    has_video: bool
    has_audio: bool
    duration_s: float  # longest duration the header claims for a stream (0 when it claims none)
    frame_rate: float | None
    audio_rate: int | None


def open_media(path: str | os.PathLike) -> Any:
    """An open PyAV container (FileNotFoundError / ValueError naming the file when it is missing or unreadable)."""
    av = import_av()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: not a readable media file ({error})") from error


def _claimed_duration(stream: Any, container: Any) -> float:
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    return duration if duration is not None and math.isfinite(duration) and duration > 0 else 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Streams and claimed duration of ``path`` (raises FileNotFoundError / ValueError for missing or unreadable files)."""
    with open_media(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        durations = [_claimed_duration(s, container) for s in (video, audio) if s is not None]
        return VideoInfo(
            path=str(path),
            has_video=video is not None,
            has_audio=audio is not None,
            duration_s=max(durations, default=0.0),
            frame_rate=float(video.average_rate) if video is not None and video.average_rate else None,
            audio_rate=int(audio.rate) if audio is not None and audio.rate else None,
        )


# ---------------------------------------------------------------------------------------------------------------
# Display matrix -> the turn (and mirror) that makes a decoded frame upright
# ---------------------------------------------------------------------------------------------------------------

# Each orientation as (quarter turns counter-clockwise, then mirror left-right) and its 2x2 display matrix in
# FFmpeg's layout [[a, c], [b, d]] (a point (p, q) of the decoded frame is shown at (a p + c q, b p + d q)).
_QUARTER_TURN = np.array([[0.0, 1.0], [-1.0, 0.0]])
_MIRROR = np.array([[-1.0, 0.0], [0.0, 1.0]])
_ORIENTATIONS = [
    ((turns, mirror), (_MIRROR if mirror else np.eye(2)) @ np.linalg.matrix_power(_QUARTER_TURN, turns))
    for turns in range(4)
    for mirror in (False, True)
]


@dataclass(frozen=True)
class Orientation:
    """How to turn decoded frames upright: ``turns`` quarter turns counter-clockwise, then a left-right mirror."""

    turns: int = 0
    mirror: bool = False
    exact: bool = True  # False when the matrix was not a multiple of a quarter turn (the nearest one is used)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        if self.turns:
            frame = np.rot90(frame, k=self.turns)
        if self.mirror:
            frame = frame[:, ::-1]
        return np.ascontiguousarray(frame)

    def describe(self) -> str:
        parts = [f"turned {90 * self.turns} degrees counter-clockwise"] if self.turns else []
        parts += ["mirrored"] if self.mirror else []
        return " and ".join(parts) or "as stored"


def orientation_from_display_matrix(matrix: bytes | None) -> Orientation:
    """The orientation FFmpeg's 3x3 display matrix (9 int32, 16.16 fixed point; ``AV_FRAME_DATA_DISPLAYMATRIX``)
    asks for; the nearest quarter turn (with ``exact`` False) when the matrix rotates by another angle."""
    if not matrix or len(matrix) < 36:
        return Orientation()
    a, b, _, c, d, _, _, _, _ = struct.unpack("<9i", bytes(matrix)[:36])
    shown = np.array([[a, c], [b, d]], dtype=np.float64)
    scale = np.abs(shown).sum() / 2
    if not math.isfinite(scale) or scale == 0:
        return Orientation()
    shown /= scale
    (turns, mirror), closest = max(_ORIENTATIONS, key=lambda item: float((item[1] * shown).sum()))
    return Orientation(turns, mirror, exact=bool(np.allclose(closest, shown, atol=1e-3)))


def _frame_orientation(frame: Any) -> Orientation:
    side_data = frame.side_data.get("DISPLAYMATRIX") if getattr(frame, "side_data", None) is not None else None
    return orientation_from_display_matrix(bytes(side_data) if side_data is not None else None)


# ---------------------------------------------------------------------------------------------------------------
# Frames at label steps
# ---------------------------------------------------------------------------------------------------------------


def frames_at_steps(
    path: str | os.PathLike, step_s: float = 0.04, num_steps: int | None = None, notes: list[str] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(step, frame)`` for every label step ``step`` (time ``step * step_s``) that has a frame.

    The frame shown at a step's time is the one used: the last frame whose timestamp is at or before it (up to
    half a step of tolerance for timestamp rounding); the last frame is shown for one frame interval (taken from
    the decoded timestamps). Steps before the first frame are skipped, so a caller marks them as "no face".
    Frames are upright RGB uint8 ``(height, width, 3)`` (the display matrix applied), streamed. The video ends
    where decoding ends, or at a gap of more than ``MAX_FRAME_GAP_S`` between two frames; such events, a rotation
    and a decoding error are appended to ``notes`` when given.
    """
    notes = notes if notes is not None else []
    with open_media(path) as container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        fallback_interval = min(_MAX_FALLBACK_INTERVAL_S, 1.0 / rate) if rate > 0 else step_s
        tolerance = step_s / 2
        step = 0
        previous: tuple[float, np.ndarray] | None = None
        interval: float | None = None
        orientation: Orientation | None = None
        av_error = import_av().error.FFmpegError
        frames = container.decode(stream)
        while num_steps is None or step < num_steps:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av_error as error:
                at = previous[0] if previous is not None else 0.0
                notes.append(f"the video stream stops decoding after {at:.2f} s ({error}): the trace ends there")
                break
            if frame.time is None or not math.isfinite(frame.time):
                continue
            time = float(frame.time)
            if previous is not None and time - previous[0] > MAX_FRAME_GAP_S:
                notes.append(
                    f"frame timestamps jump from {previous[0]:.2f} s to {time:.2f} s (more than {MAX_FRAME_GAP_S:g} s "
                    "without a frame): the video is taken to end at the jump"
                )
                break
            if orientation is None:
                orientation = _frame_orientation(frame)
                if orientation.turns or orientation.mirror or not orientation.exact:
                    notes.append(
                        f"frames {orientation.describe()} by the stream's display matrix"
                        + ("" if orientation.exact else " (the nearest quarter turn to its rotation)")
                    )
            if previous is not None and time > previous[0]:
                interval = time - previous[0]
            current = (time, orientation.apply(frame.to_ndarray(format="rgb24")))
            # Steps whose time is before this frame's show the previous frame.
            while (num_steps is None or step < num_steps) and step * step_s + tolerance < current[0]:
                if previous is not None:
                    yield step, previous[1]
                step += 1
            previous = current
        if previous is None:
            return
        shown_until = previous[0] + (interval if interval is not None else fallback_interval)
        while (num_steps is None or step < num_steps) and step * step_s <= shown_until + tolerance:
            yield step, previous[1]
            step += 1


def steps_for_duration(duration_s: float, step_s: float) -> int:
    """Label steps covering ``duration_s`` (centres 0, step, ..., the same rule as the audio feature extractor)."""
    return int(math.floor(duration_s / step_s + 1e-9)) + 1


__all__ = [
    "MAX_FRAME_GAP_S",
    "Orientation",
    "VideoInfo",
    "frames_at_steps",
    "import_av",
    "open_media",
    "orientation_from_display_matrix",
    "probe_video",
    "steps_for_duration",
]

"""Which face a video follows: the package's face detectors, and one main face tracked from frame to frame.

Detection is :func:`hf_deepfever.load_face_detector` / ``detect_faces`` (``haar``, ``dlib``, ``yunet:PATH``,
``auto``: the same detectors as ``deepfever extract --detect-faces`` and the face-expression pipeline), so a
frame's box and landmarks come from the code that photos use. A video adds one rule: the face followed is the
one chosen first (the largest in the first frame with a face), matched in each later frame by overlap or, when it
moved fast, by the distance of the box centres; a frame where it is not found has no face (another person does
not take its place), and after ``max_missed`` such frames in a row the largest face is chosen again.

``"centre"`` uses a centred square of every frame instead of a detector (talking-head videos framed like the demo
corpus); ``"auto"`` falls back to it, with a warning, when no detector is installed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..core.dependencies import MissingDependencyError
from ..models.deepfever.face_detection_deepfever import (
    DEFAULT_MIN_FACE_SIZE,
    DetectedFace,
    FaceDetector,
    _check_options,  # the detectors' own option check, so a bad value is refused before any video is read
    load_face_detector,
)

logger = logging.getLogger(__name__)

FaceBox = tuple[float, float, float, float]  # x, y, w, h in pixels, top-left origin

CENTRE = "centre"
DETECTOR_CHOICES = ("auto", "haar", "dlib", "yunet", "yunet:PATH", CENTRE)
"""What ``--face-detector`` accepts (``yunet:PATH`` with the path of a YuNet ONNX file)."""

# A detection continues the track when it overlaps the last box by this IoU, or its centre moved less than this
# fraction of the last box's side while its size changed by less than this factor (a quick head turn).
_MIN_IOU = 0.3
_MAX_CENTRE_SHIFT = 0.5
_MAX_SIZE_CHANGE = 2.0


def centre_box(width: int, height: int, fraction: float = 0.8) -> FaceBox:
    """A centred square covering ``fraction`` of the shorter side: where a talking-head video's face usually is."""
    side = fraction * min(width, height)
    return ((width - side) / 2, (height - side) / 2, side, side)


def box_iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def continues_track(last: FaceBox, candidate: FaceBox) -> float:
    """How well ``candidate`` continues a track last seen at ``last``: its IoU, or a small positive score for a
    nearby box of similar size (fast motion), 0 when it is another face."""
    iou = box_iou(last, candidate)
    if iou >= _MIN_IOU:
        return iou
    side = max(last[2], last[3])
    shift = np.hypot(
        (candidate[0] + candidate[2] / 2) - (last[0] + last[2] / 2),
        (candidate[1] + candidate[3] / 2) - (last[1] + last[3] / 2),
    )
    ratio = max(candidate[2], candidate[3]) / side if side > 0 else np.inf
    if shift < _MAX_CENTRE_SHIFT * side and 1 / _MAX_SIZE_CHANGE <= ratio <= _MAX_SIZE_CHANGE:
        return _MIN_IOU * (1.0 - shift / (_MAX_CENTRE_SHIFT * side)) * 0.5
    return 0.0


class FaceTrack:
    """The main face of one video, frame by frame: call it on each frame in order (a repeated frame, the same
    array object, reuses the last answer)."""

    def __init__(self, locator: FaceLocator) -> None:
        self._locator = locator
        self._last: DetectedFace | None = None
        self._missed = 0
        self._frame: np.ndarray | None = None
        self._answer: DetectedFace | None = None

    def __call__(self, frame: np.ndarray) -> DetectedFace | None:
        if frame is self._frame:
            return self._answer
        self._frame, self._answer = frame, self._follow(frame)
        return self._answer

    def _follow(self, frame: np.ndarray) -> DetectedFace | None:
        faces = self._locator.detect(frame)
        if self._last is None:
            self._last = faces[0] if faces else None
            return self._last
        scores = [continues_track(self._last.box, face.box) for face in faces]
        best = int(np.argmax(scores)) if scores else -1
        if best >= 0 and scores[best] > 0:
            self._last, self._missed = faces[best], 0
            return self._last
        self._missed += 1
        if self._missed > self._locator.max_missed:
            self._last, self._missed = None, 0  # lost for good: the next frame with a face starts a new track
        return None


class FaceLocator:
    """Finds the main face of every frame of a video, with one of the package's face detectors.

    Args:
        detector (`str` or [`FaceDetector`], *optional*, defaults to `"auto"`):
            `"auto"` (the best detector installed, see [`load_face_detector`]; a centre crop with a warning when
            none is), `"haar"`, `"dlib"`, `"yunet"` / `"yunet:/path/to/model.onnx"`, `"centre"` (no detector: a
            centred square of each frame), or a loaded [`FaceDetector`]. A named detector whose extra is missing
            raises a `MissingDependencyError` that says what to install.
        min_face_size (`float`, *optional*, defaults to 40):
            Smallest face kept, in pixels of the upright frame.
        score_threshold (`float`, *optional*):
            Minimum detector score (each detector's own default when omitted).
        max_missed (`int`, *optional*, defaults to 25):
            Frames in a row the main face may go unseen (a turn of the head, a hand in front) before the largest
            face is chosen again; 25 is one second at 25 fps.
    """

    def __init__(
        self,
        detector: str | FaceDetector = "auto",
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        score_threshold: float | None = None,
        max_missed: int = 25,
    ) -> None:
        if isinstance(max_missed, bool) or not isinstance(max_missed, int) or max_missed < 0:
            raise ValueError(f"max_missed must be a whole number of frames >= 0, got {max_missed!r}")
        _check_options(min_face_size, score_threshold, None)
        self.min_face_size = min_face_size
        self.score_threshold = score_threshold
        self.max_missed = max_missed
        self.notes: list[str] = []
        self._detector: FaceDetector | None = None
        if isinstance(detector, FaceDetector):
            self._detector = detector
        elif isinstance(detector, str) and detector.strip().lower() in (CENTRE, "center"):
            pass
        else:
            self._detector = self._load(detector)
        self.kind = self._detector.name if self._detector is not None else CENTRE

    def _load(self, detector: Any) -> FaceDetector | None:
        try:
            return load_face_detector(detector)
        except ImportError as error:
            if detector != "auto":
                raise MissingDependencyError(str(error)) from None
            message = (
                f"{error}: using a centred square of each frame as the face. For face detection: "
                "pip install 'hf_deepfever[dlib]' or 'hf_deepfever[face]'"
            )
            logger.warning(message)
            self.notes.append("no face detector is installed: each frame's centre square is used as the face")
            return None

    def settings(self) -> dict[str, Any]:
        """What determines the boxes besides the frames (part of the training cache's fingerprint)."""
        return {
            "detector": self.kind,
            "min_face_size": self.min_face_size,
            "score_threshold": self.score_threshold,
            "max_missed": self.max_missed,
            "tracking": 1,
        }

    def detect(self, frame: np.ndarray) -> list[DetectedFace]:
        """Every face of one upright RGB frame, largest first (the centre square for `"centre"`)."""
        if self._detector is None:
            return [DetectedFace(box=centre_box(frame.shape[1], frame.shape[0]), score=1.0)]
        return self._detector(frame, min_face_size=self.min_face_size, score_threshold=self.score_threshold)

    def track(self) -> FaceTrack:
        """A new track for one video."""
        return FaceTrack(self)


__all__ = ["CENTRE", "DETECTOR_CHOICES", "FaceBox", "FaceLocator", "FaceTrack", "box_iou", "centre_box", "continues_track"]

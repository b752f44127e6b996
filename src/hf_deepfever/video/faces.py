"""Where the face is in a frame: OpenCV's Haar cascade when the optional ``[face]`` extra is installed, else a
centre crop (with a warning once), so a video always gets a face box per frame."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FaceBox = tuple[float, float, float, float]  # x, y, w, h in pixels, top-left origin


def centre_box(width: int, height: int, fraction: float = 0.8) -> FaceBox:
    """A centred square covering ``fraction`` of the shorter side: where a talking-head video's face usually is."""
    side = fraction * min(width, height)
    return ((width - side) / 2, (height - side) / 2, side, side)


class FaceLocator:
    """One face box per RGB frame (the largest detection), or None when a detector finds no face.

    Args:
        detector: ``"auto"`` (Haar cascade if OpenCV is installed, else centre crop), ``"haar"`` (requires
            ``pip install 'hf_deepfever[face]'``) or ``"centre"``.
        min_face_fraction: detections smaller than this fraction of the shorter frame side are ignored.
    """

    def __init__(self, detector: str = "auto", min_face_fraction: float = 0.1) -> None:
        if detector not in ("auto", "haar", "centre"):
            raise ValueError(f"detector must be auto, haar or centre, got {detector!r}")
        self.min_face_fraction = min_face_fraction
        self._cascade: Any = None
        self._cv2: Any = None
        if detector in ("auto", "haar"):
            self._cascade = self._load_cascade(required=detector == "haar")
        self.kind = "haar" if self._cascade is not None else "centre"

    def _load_cascade(self, required: bool) -> Any:
        """OpenCV's frontal-face Haar cascade, or None (with a warning) when it is not available."""
        try:
            import cv2
        except ImportError:
            problem = "OpenCV is not installed"
        else:
            # OpenCV 5 no longer ships the Haar cascades (`CascadeClassifier`); 4.x does.
            if hasattr(cv2, "CascadeClassifier") and hasattr(cv2, "data"):
                cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
                if not cascade.empty():
                    self._cv2 = cv2
                    return cascade
            problem = f"OpenCV {getattr(cv2, '__version__', '?')} has no Haar face cascade (OpenCV 5 dropped it)"
        advice = "pip install 'hf_deepfever[face]' (opencv-python-headless>=4.8,<5)"
        if required:
            raise ImportError(f"the Haar face detector is unavailable: {problem}; {advice}")
        logger.warning("%s: using a centre crop of each frame as the face. For face detection: %s", problem, advice)
        return None

    def __call__(self, frame: np.ndarray) -> FaceBox | None:
        height, width = frame.shape[:2]
        if self._cascade is None:
            return centre_box(width, height)
        gray = self._cv2.cvtColor(np.ascontiguousarray(frame), self._cv2.COLOR_RGB2GRAY)
        side = max(16, int(self.min_face_fraction * min(width, height)))
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
        if len(found) == 0:
            return None
        x, y, w, h = max(found, key=lambda box: box[2] * box[3])
        return (float(x), float(y), float(w), float(h))


__all__ = ["FaceBox", "FaceLocator", "centre_box"]

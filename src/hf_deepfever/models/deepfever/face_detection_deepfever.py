"""Face detection for DeepFEVER: where the faces are in a user's photo, in the pixels of the upright image.

One small interface over three detectors, each an optional extra with its own licence:

- `"yunet:PATH"`: OpenCV's `FaceDetectorYN` with a YuNet ONNX file you supply (OpenCV model zoo; model MIT,
  OpenCV Apache-2.0; `pip install 'opencv-python-headless>=4.8,<5'`). Scores in [0, 1] and 5 landmarks.
- `"dlib"`: dlib's HOG frontal face detector, compiled into the `dlib-bin` wheel, no model file (Boost Software
  License 1.0; `pip install dlib-bin`). No landmarks.
- `"haar"`: OpenCV 4's frontal-face Haar cascade (Apache-2.0; `pip install 'opencv-python-headless>=4.8,<5'`,
  the `[face]` extra; OpenCV 5 dropped the cascades). No landmarks.

`"auto"` picks the best one available: YuNet when a model file is configured (`HF_DEEPFEVER_YUNET`), then dlib,
then Haar, and says which in one log line (once). Nothing here ever downloads a model file.

This file travels to the Hub as remote code with the face-expression pipeline: at the top it imports only numpy,
PIL and its sibling `image_processing_deepfever`; each detector's library is imported lazily inside a `try` block,
so a remote-code user needs only the detector they use.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import PIL.Image

from .image_processing_deepfever import apply_exif_orientation, to_rgb_tensor

logger = logging.getLogger(__name__)

DEFAULT_MIN_FACE_SIZE = 40
"""Default smallest face kept, in pixels of the upright image (shorter side of the detector's box)."""

YUNET_ENV_VAR = "HF_DEEPFEVER_YUNET"
"""Environment variable holding the path of a YuNet ONNX file; `detector="auto"` then prefers YuNet."""

DETECTOR_NAMES = ("auto", "yunet", "dlib", "haar")

# The detection image is resized so that `min_face_size` meets the detector's smallest window, but never beyond
# these bounds: upsampling costs quadratically, and a phone photo (12 Mpx) need not be searched at full size.
_MAX_UPSCALE = 2.0
_MAX_DETECTION_PIXELS = 2048 * 2048

_OPENCV_INSTALL = "pip install 'opencv-python-headless>=4.8,<5' (the hf_deepfever[face] extra; Apache-2.0)"
_DLIB_INSTALL = "pip install dlib-bin (the hf_deepfever[dlib] extra; Boost Software License 1.0)"

Point = tuple[float, float]


@dataclass(frozen=True)
class DetectedFace:
    """One face found in an image.

    Attributes:
        box (`tuple[float, float, float, float]`):
            `(x, y, w, h)` in pixels of the upright image, `(x, y)` the top-left corner. Clipped to the image: a face
            cut by the border keeps the visible part. Pass it as `face_boxes=[box]` to the DeepFEVER image processor.
        score (`float`):
            The detector's own confidence; scales differ between detectors (YuNet: a probability in [0, 1]; dlib: the
            HOG detector's SVM margin, > 0 for a detection; Haar: the cascade's final-stage weight).
        landmarks (`tuple[tuple[float, float], ...]`, *optional*):
            5 `(x, y)` points, in this order: left eye, right eye, nose tip, left mouth corner, right mouth corner,
            where "left" and "right" are as seen in the image (the left eye is the one on the viewer's left when the
            face is upright; it is the person's right eye). Not clipped to the image. `None` when the detector gives
            no landmarks (dlib, Haar).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[Point, ...] | None = None

    def box_as_dict(self) -> dict[str, float]:
        """The box as `{"x", "y", "w", "h"}` (the form the face-expression pipeline returns)."""
        x, y, w, h = self.box
        return {"x": x, "y": y, "w": w, "h": h}


# ---------------------------------------------------------------------------------------------------------------
# Input -> upright RGB array: the same pixels the image processor will crop from.
# ---------------------------------------------------------------------------------------------------------------


def _open_image_file(path: str | os.PathLike) -> PIL.Image.Image:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        image = PIL.Image.open(path)
        image.load()
    except (PIL.UnidentifiedImageError, PIL.Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read the image {path}: {error}") from error
    return image


def upright_rgb_array(image: Any) -> np.ndarray:
    """A path, PIL image or `(H, W, 3)` uint8 RGB array -> the `(H, W, 3)` uint8 RGB array a person sees.

    Paths and PIL images are turned upright by their EXIF orientation (an unreadable EXIF block is ignored with a
    warning); arrays are taken as already upright. PIL images of any mode are converted exactly as the DeepFEVER
    image processor converts them, so detection and cropping see the same pixels.
    """
    if isinstance(image, (str, os.PathLike)):
        image = _open_image_file(image)
    if isinstance(image, PIL.Image.Image):
        return np.ascontiguousarray(to_rgb_tensor(apply_exif_orientation(image)).permute(1, 2, 0).numpy())
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"an image array must be (height, width, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}"
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"an image must not be empty, got shape {image.shape}")
        return np.ascontiguousarray(image)
    raise TypeError(f"unsupported image type {type(image).__name__}: expected a path, a PIL image or a numpy array")


# ---------------------------------------------------------------------------------------------------------------
# Geometry shared by every backend.
# ---------------------------------------------------------------------------------------------------------------


def _clip_box(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float] | None:
    x, y, w, h = (float(value) for value in box)
    left, top = max(x, 0.0), max(y, 0.0)
    right, bottom = min(x + w, float(width)), min(y + h, float(height))
    if right - left < 1.0 or bottom - top < 1.0:
        return None  # (almost) entirely outside the image: nothing left to crop
    return (left, top, right - left, bottom - top)


def order_landmarks_as_seen(points: Sequence[Sequence[float]]) -> tuple[Point, ...]:
    """Order 5 points (two eyes, nose tip, two mouth corners) as left eye, right eye, nose, left, right mouth corner.

    "Left" is the viewer's left in the face's own upright frame (mouth below the eyes), found from the geometry
    rather than trusted from a detector's naming, so it also holds for tilted faces.
    """
    (eye_a, eye_b, nose, mouth_a, mouth_b) = (np.asarray(p, dtype=np.float64) for p in points)
    down = (mouth_a + mouth_b) / 2.0 - (eye_a + eye_b) / 2.0

    def viewer_left_first(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        side = second - first
        # Image y points down: for an upright face (down = +y) the right-hand point has the larger x, i.e. cross > 0.
        cross = side[0] * down[1] - side[1] * down[0]
        return (first, second) if cross >= 0 else (second, first)

    eye_left, eye_right = viewer_left_first(eye_a, eye_b)
    mouth_left, mouth_right = viewer_left_first(mouth_a, mouth_b)
    return tuple((float(p[0]), float(p[1])) for p in (eye_left, eye_right, nose, mouth_left, mouth_right))


def _detection_scale(width: int, height: int, min_face_size: float, native_min_face: float) -> float:
    """How much to resize the image so that `min_face_size` meets the detector's smallest window."""
    scale = min(native_min_face / min_face_size, _MAX_UPSCALE, math.sqrt(_MAX_DETECTION_PIXELS / (width * height)))
    return 1.0 if abs(scale - 1.0) < 0.05 else scale


def _resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(PIL.Image.fromarray(rgb).resize(size, PIL.Image.Resampling.BILINEAR))


_notes_given: set[str] = set()


def _note_once(key: str, message: str) -> None:
    """Log `message` the first time `key` comes up in this process: a note, not a warning per image."""
    if key not in _notes_given:
        _notes_given.add(key)
        logger.warning(message)


# ---------------------------------------------------------------------------------------------------------------
# Backends: each turns an RGB array into raw (box, score, landmarks) rows in that array's pixels.
# ---------------------------------------------------------------------------------------------------------------

RawDetection = tuple[Sequence[float], float, "tuple[Point, ...] | None"]


class HaarBackend:
    """OpenCV's frontal-face Haar cascade (OpenCV 4.x; Apache-2.0). No landmarks: OpenCV's eye cascades find only
    one of the two eyes behind the glasses of the real test portrait, so eye points derived from them are not robust.

    The score is the cascade's final-stage weight (`detectMultiScale3(..., outputRejectLevels=True)`); windows are
    grouped with OpenCV's usual 5 neighbours, which already rejects most false positives. The default threshold
    stays 0 (`python -m benchmarks.face_detection_precision`, 2026-12-07, OpenCV 4.14; benchmarks/RESULTS.md): on
    108 real photos (10 faces) it gives 8 faces and 1 false positive (a mirrored retina, weight 1.84), and on
    scikit-image's LFW subset 97 of 100 faces and no non-face. A threshold of 2 would drop that false positive
    on these sets, but no threshold separates it reliably: faces upscaled from 25 px score as low as 1.7-2.5
    depending on the resampling, and the weight falls with the face's size (2.8 for a 58 px portrait).
    """

    name = "haar"
    description = "OpenCV Haar cascade (opencv-python-headless<5, Apache-2.0)"
    native_min_face = 24.0  # the cascade's window
    default_score_threshold = 0.0

    def __init__(self) -> None:
        try:
            import cv2
        except ImportError as error:
            raise ImportError(
                f"the 'haar' face detector needs OpenCV 4.x, which is not installed ({error}): {_OPENCV_INSTALL}"
            ) from None
        # OpenCV 5 no longer ships the Haar cascades (`CascadeClassifier`, `cv2.data`); 4.x does.
        if not (hasattr(cv2, "CascadeClassifier") and hasattr(cv2, "data")):
            raise ImportError(
                f"OpenCV {cv2.__version__} has no Haar face cascade (OpenCV 5 dropped it): {_OPENCV_INSTALL}"
            )
        cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
        if cascade.empty():
            raise ImportError(
                f"OpenCV {cv2.__version__} could not load its frontal-face Haar cascade: {_OPENCV_INSTALL}"
            )
        self._cv2, self._cascade = cv2, cascade

    def detect(self, rgb: np.ndarray, min_side: int, score_threshold: float) -> list[RawDetection]:
        gray = self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side), outputRejectLevels=True
        )
        return [
            (tuple(float(v) for v in box), float(weight), None)
            for box, weight in zip(boxes, np.ravel(weights))
            if float(weight) >= score_threshold
        ]


class DlibBackend:
    """dlib's HOG + linear SVM frontal face detector, compiled into the `dlib-bin` wheel (Boost licence). No landmarks:
    dlib's shape predictor needs a separate model file, which hf_deepfever does not fetch.

    The score is the SVM margin; detections below `score_threshold` (default 0.2) are dropped. dlib's own cut is 0,
    but the margins just above it are false positives on real photos (`python -m benchmarks.face_detection_precision`,
    2026-12-07, dlib-bin 20.0.1, minimum face 40 px; benchmarks/RESULTS.md). On 108 photos (scikit-image's and
    matplotlib's sample photos at full and half size, and their mirror images; 10 faces) every false positive at or
    above 0 scored 0.00-0.14 (the astronaut's suit badge at 0.05, 0.12 and 0.14, a spot on a motorcycle photo at
    0.00) and every face found 0.92-1.58: precision 0.67 at 0 (8 faces, 4 false positives), 0.8 at 0.1, 1.0 from
    0.2 on, recall 0.8 throughout (the cameraman's three-quarter profile is missed). On scikit-image's LFW subset
    (100 faces, 100 non-faces, upscaled to 200 px) 0.2 finds 91 faces against 92 at 0 (0.25: 89, 0.3: 88), and no
    non-face at any threshold. 0.2 is the lowest tenth with no false positive, for one face in a hundred. Pass
    `score_threshold=0` for dlib's own cut.
    """

    name = "dlib"
    description = "dlib HOG frontal face detector (dlib-bin, Boost licence)"
    native_min_face = 80.0  # the HOG window
    default_score_threshold = 0.2

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as error:
            raise ImportError(
                f"the 'dlib' face detector needs dlib, which is not installed ({error}): {_DLIB_INSTALL}"
            ) from None
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, rgb: np.ndarray, min_side: int, score_threshold: float) -> list[RawDetection]:
        rectangles, scores, _ = self._detector.run(rgb, 0, score_threshold)
        return [
            ((float(r.left()), float(r.top()), float(r.width()), float(r.height())), float(score), None)
            for r, score in zip(rectangles, scores)
            if float(score) >= score_threshold
        ]


def yunet_rows_to_detections(rows: Any) -> list[RawDetection]:
    """YuNet's output (`FaceDetectorYN.detect`: N rows of 15 numbers) -> raw detections.

    Each row is x, y, w, h, then five (x, y) points (YuNet names them from the person's side: right eye, left
    eye, nose tip, right mouth corner, left mouth corner), then the score. The points are re-ordered as seen in the
    image (see `order_landmarks_as_seen`).
    """
    if rows is None:
        return []
    rows = np.asarray(rows, dtype=np.float64)
    if rows.size == 0:
        return []
    if rows.ndim != 2 or rows.shape[1] < 15:
        raise ValueError(f"YuNet output must be N rows of 15 numbers, got shape {rows.shape}")
    detections = []
    for row in rows:
        points = row[4:14].reshape(5, 2)
        detections.append((tuple(row[:4]), float(row[14]), order_landmarks_as_seen(points)))
    return detections


class YuNetBackend:
    """OpenCV's `FaceDetectorYN` with a YuNet ONNX model (MIT, OpenCV model zoo) that the user supplies.

    Gives a score in [0, 1] and 5 landmarks. Build it from a file with `YuNetBackend.from_file(path)`, or from an
    already created `cv2.FaceDetectorYN` (or any object with its `setInputSize`/`setScoreThreshold`/`detect`).
    """

    name = "yunet"
    description = "OpenCV YuNet (FaceDetectorYN, MIT model)"
    native_min_face = 20.0
    default_score_threshold = 0.6

    def __init__(self, net: Any) -> None:
        self._net = net

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> YuNetBackend:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"YuNet model file not found: {path}. Download a YuNet ONNX file (e.g. "
                "face_detection_yunet_2023mar.onnx) from OpenCV's model zoo yourself and pass "
                "detector='yunet:/path/to/it.onnx'; hf_deepfever never downloads it"
            )
        if not path.lower().endswith(".onnx"):
            raise ValueError(f"the YuNet detector needs an ONNX model file (*.onnx), got {path}")
        try:
            import cv2
        except ImportError as error:
            raise ImportError(
                f"the 'yunet' face detector needs OpenCV, which is not installed ({error}): {_OPENCV_INSTALL}"
            ) from None
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ImportError(f"OpenCV {cv2.__version__} has no FaceDetectorYN (needs >= 4.8): {_OPENCV_INSTALL}")
        try:
            net = cv2.FaceDetectorYN.create(path, "", (320, 320), cls.default_score_threshold, 0.3, 5000)
        except cv2.error as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise ValueError(f"{path} is not a YuNet ONNX model OpenCV can load: {reason}") from None
        return cls(net)

    def detect(self, rgb: np.ndarray, min_side: int, score_threshold: float) -> list[RawDetection]:
        height, width = rgb.shape[:2]
        self._net.setInputSize((width, height))
        self._net.setScoreThreshold(float(score_threshold))
        _, rows = self._net.detect(np.ascontiguousarray(rgb[:, :, ::-1]))  # OpenCV wants BGR
        return [d for d in yunet_rows_to_detections(rows) if d[1] >= score_threshold]


# ---------------------------------------------------------------------------------------------------------------
# The public interface.
# ---------------------------------------------------------------------------------------------------------------


def _check_options(min_face_size: Any, score_threshold: Any, max_faces: Any) -> None:
    if isinstance(min_face_size, bool) or not isinstance(min_face_size, (int, float)) or not (
        math.isfinite(min_face_size) and min_face_size > 0
    ):
        raise ValueError(f"min_face_size must be a positive number of pixels, got {min_face_size!r}")
    if score_threshold is not None and (
        isinstance(score_threshold, bool)
        or not isinstance(score_threshold, (int, float))
        or not math.isfinite(score_threshold)
    ):
        raise ValueError(f"score_threshold must be a finite number or None, got {score_threshold!r}")
    if max_faces is not None and (isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1):
        raise ValueError(f"max_faces must be a positive integer or None, got {max_faces!r}")


class FaceDetector:
    """A loaded face detector; reuse one for many images (loading the detector costs more than one image).

    Get one with [`load_face_detector`]. Calling it is [`detect_faces`] without the detector's loading.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    @property
    def name(self) -> str:
        """`"haar"`, `"dlib"` or `"yunet"`."""
        return self.backend.name

    def __repr__(self) -> str:
        return f"FaceDetector({self.backend.description})"

    def __call__(
        self,
        image: Any,
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        score_threshold: float | None = None,
        max_faces: int | None = None,
    ) -> list[DetectedFace]:
        _check_options(min_face_size, score_threshold, max_faces)
        threshold = self.backend.default_score_threshold if score_threshold is None else float(score_threshold)
        rgb = upright_rgb_array(image)
        height, width = rgb.shape[:2]
        scale = _detection_scale(width, height, min_face_size, self.backend.native_min_face)
        if scale * min_face_size < self.backend.native_min_face * 0.95:
            _note_once(
                f"limited:{self.name}",
                f"face detection ({self.name}) searched a {width}x{height} image at {scale:.2f}x (at most "
                f"{_MAX_UPSCALE:g}x and {_MAX_DETECTION_PIXELS} pixels): faces under about "
                f"{self.backend.native_min_face / scale:.0f} px are missed, not {min_face_size} px (noted once)",
            )
        min_side = max(1, round(max(self.backend.native_min_face, min_face_size * scale)))
        faces = []
        for box, score, landmarks in self.backend.detect(_resized(rgb, scale), min_side, threshold):
            box = tuple(v / scale for v in box)
            if min(box[2], box[3]) < min_face_size:
                continue  # the face's own size, before clipping: a large face cut by the border is kept
            clipped = _clip_box(box, width, height)
            if clipped is None:
                continue
            if landmarks is not None:
                landmarks = tuple((round(px / scale, 2), round(py / scale, 2)) for px, py in landmarks)
            # Hundredths of a pixel: finer than any detector, and the numbers stay readable in CSVs and JSON.
            clipped = tuple(round(v, 2) for v in clipped)
            faces.append(DetectedFace(box=clipped, score=float(score), landmarks=landmarks))
        faces.sort(key=lambda face: (face.box[2] * face.box[3], face.score), reverse=True)
        return faces[:max_faces] if max_faces is not None else faces


def _parse_detector(detector: str) -> tuple[str, str | None]:
    if not isinstance(detector, str):
        raise TypeError(f"detector must be a name or a FaceDetector, got {type(detector).__name__}")
    name, _, path = detector.strip().partition(":")
    name = name.strip().lower()
    if name not in DETECTOR_NAMES:
        raise ValueError(
            f"unknown face detector {detector!r}: choose auto, haar, dlib, yunet or yunet:/path/to/model.onnx"
        )
    if path and name != "yunet":
        raise ValueError(f"only the yunet detector takes a path (yunet:/path/to/model.onnx), got {detector!r}")
    return name, path or None


def _load_auto() -> FaceDetector:
    skipped = []
    yunet_path = os.environ.get(YUNET_ENV_VAR)
    candidates: list[tuple[str, Any]] = []
    if yunet_path:
        candidates.append(("yunet", lambda: YuNetBackend.from_file(yunet_path)))
    else:
        skipped.append(f"yunet: not configured (set {YUNET_ENV_VAR} to a YuNet .onnx file)")
    candidates += [("dlib", DlibBackend), ("haar", HaarBackend)]
    for name, build in candidates:
        try:
            backend = build()
        except (ImportError, FileNotFoundError, ValueError) as error:
            skipped.append(f"{name}: {error}")
            continue
        message = f"face detector 'auto' -> {backend.description}" + (f" [{'; '.join(skipped)}]" if skipped else "")
        _note_once(message, message)
        return FaceDetector(backend)
    raise ImportError("no face detector is available: " + "; ".join(skipped))


def load_face_detector(detector: str = "auto") -> FaceDetector:
    """Load a face detector by name: `"auto"`, `"haar"`, `"dlib"`, `"yunet"` (model file from `HF_DEEPFEVER_YUNET`) or
    `"yunet:/path/to/model.onnx"`.

    A named detector whose library is missing raises an `ImportError` that says what to install; `"auto"` falls back to
    the next detector and says so in its one-line note.
    """
    name, path = _parse_detector(detector)
    if name == "auto":
        return _load_auto()
    if name == "haar":
        return FaceDetector(HaarBackend())
    if name == "dlib":
        return FaceDetector(DlibBackend())
    path = path or os.environ.get(YUNET_ENV_VAR)
    if not path:
        raise ValueError(
            "the yunet detector needs a YuNet ONNX model file: detector='yunet:/path/to/model.onnx' "
            f"or set {YUNET_ENV_VAR}"
        )
    return FaceDetector(YuNetBackend.from_file(path))


@lru_cache(maxsize=8)
def _cached_detector(detector: str, yunet_env: str | None) -> FaceDetector:
    return load_face_detector(detector)  # `yunet_env` is part of the key: "auto" and "yunet" depend on it


def detect_faces(
    image: Any,
    detector: str | FaceDetector = "auto",
    min_face_size: float = DEFAULT_MIN_FACE_SIZE,
    score_threshold: float | None = None,
    max_faces: int | None = None,
) -> list[DetectedFace]:
    """Find the faces in a photo, largest first.

    Args:
        image (`str`, `os.PathLike`, `PIL.Image.Image` or `np.ndarray`):
            A file path, a PIL image (both turned upright by their EXIF orientation) or an `(H, W, 3)` uint8 RGB array
            (taken as upright).
        detector (`str` or [`FaceDetector`], *optional*, defaults to `"auto"`):
            `"auto"`, `"haar"`, `"dlib"`, `"yunet"` or `"yunet:/path/to/model.onnx"` (see the module docstring for
            what each needs and its licence), or a detector from [`load_face_detector`]. Named detectors are loaded
            once per process.
        min_face_size (`float`, *optional*, defaults to 40):
            Smallest face kept, in pixels of the upright image (shorter side of the detector's box, before clipping).
            The image is searched at the resolution where this size meets the detector's smallest window (at most 2x
            larger and 2048x2048 pixels).
        score_threshold (`float`, *optional*):
            Minimum detector score; defaults to each detector's own (YuNet 0.6, dlib 0.2, Haar 0.0; see each backend
            for why). Scores are not comparable between detectors.
        max_faces (`int`, *optional*):
            Keep only the largest `max_faces` faces.

    Returns:
        `list[DetectedFace]`: boxes `(x, y, w, h)` in the upright image, clipped to it, sorted by area, largest first;
        empty when there is no face.
    """
    _check_options(min_face_size, score_threshold, max_faces)  # before loading a detector for nothing
    if not isinstance(detector, FaceDetector):
        detector = _cached_detector(detector, os.environ.get(YUNET_ENV_VAR))
    return detector(image, min_face_size=min_face_size, score_threshold=score_threshold, max_faces=max_faces)


__all__ = [
    "DEFAULT_MIN_FACE_SIZE",
    "DETECTOR_NAMES",
    "DetectedFace",
    "DlibBackend",
    "FaceDetector",
    "HaarBackend",
    "YUNET_ENV_VAR",
    "YuNetBackend",
    "detect_faces",
    "load_face_detector",
    "order_landmarks_as_seen",
    "upright_rgb_array",
    "yunet_rows_to_detections",
]

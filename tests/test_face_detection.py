"""detect_faces on real photographs (matplotlib's Grace Hopper portrait and variants built from it) and its bad input:
EXIF orientation, several faces, min_face_size, faces cut by the border, corrupt EXIF, missing detector extras."""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys

import numpy as np
import PIL.Image
import pytest

import real_photos as photos
from hf_deepfever.models.deepfever import face_detection_deepfever as fd
from hf_deepfever.models.deepfever.face_detection_deepfever import (
    DetectedFace,
    FaceDetector,
    YuNetBackend,
    detect_faces,
    load_face_detector,
)

pytest.importorskip("cv2", reason="the haar detector needs the [face] extra (opencv-python-headless<5)")

# dlib-bin is the dlib extra; its tests run wherever it is installed (it is in the dev environment).
HAS_DLIB = importlib.util.find_spec("dlib") is not None
DETECTORS = ["haar", pytest.param("dlib", marks=pytest.mark.skipif(not HAS_DLIB, reason="pip install dlib-bin"))]
LOGGER = fd.logger.name


@pytest.fixture(autouse=True)
def fresh_notes(monkeypatch):
    """Each test sees the one-time notes again, and runs without a YuNet file configured."""
    monkeypatch.delenv(fd.YUNET_ENV_VAR, raising=False)
    monkeypatch.setattr(fd, "_notes_given", set())


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_photos")
    for orientation in (3, 6, 8):
        photos.write_exif_rotated(folder / f"exif_{orientation}.jpg", orientation)
    photos.write_grayscale(folder / "grayscale.jpg")
    photos.write_corrupt_exif(folder / "corrupt_exif.jpg")
    return folder


def assert_is_the_portrait_face(face: DetectedFace, factor: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> None:
    """The box matches the face measured by hand and holds the hand-measured eyes, nose and mouth corners."""
    expected = photos.scaled_box(photos.HAND_FACE_BOX, factor, dx, dy)
    assert photos.iou(face.box, expected) >= 0.5, (face.box, expected)
    for x, y in photos.HAND_LANDMARKS:
        assert photos.contains(face.box, (x * factor + dx, y * factor + dy)), (face.box, (x, y))


# ---------------------------------------------------------------------------------------------------------------
# Real photographs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("detector", DETECTORS)
def test_finds_the_one_face_of_the_portrait(detector):
    faces = detect_faces(photos.GRACE_HOPPER, detector=detector)
    assert len(faces) == 1
    assert_is_the_portrait_face(faces[0])
    assert faces[0].landmarks is None  # neither Haar nor dlib gives landmarks
    assert faces[0].score > 0


@pytest.mark.skipif(not HAS_DLIB, reason="pip install dlib-bin")
def test_dlib_box_is_the_one_dlib_itself_reports():
    # dlib's own run(image, upsample_num_times=1) gives (180, 139, 187, 187); min_face_size 40 searches the same 2x copy.
    (face,) = detect_faces(photos.grace_hopper(), detector="dlib", min_face_size=40)
    assert face.box == pytest.approx((180, 139, 187, 187), abs=3)


def test_the_default_detector_gives_one_face_on_one_person_photos():
    # dlib (auto's choice here) also reports the astronaut's suit badge, at margin 0.05: under its default of 0.2.
    (face,) = detect_faces(photos.skimage_photo("astronaut.png"))
    assert photos.contains(photos.ASTRONAUT_FACE_BOX, photos.box_centre(face.box)), face.box
    (face,) = detect_faces(photos.GRACE_HOPPER)
    assert photos.contains(photos.HAND_FACE_BOX, photos.box_centre(face.box)), face.box


@pytest.mark.skipif(not HAS_DLIB, reason="pip install dlib-bin")
def test_dlib_default_threshold_drops_the_badge_and_can_be_lowered():
    path = photos.skimage_photo("astronaut.png")
    assert fd.DlibBackend.default_score_threshold == 0.2
    (face,) = detect_faces(path, detector="dlib")
    assert face.score > 1.0
    face, badge = detect_faces(path, detector="dlib", score_threshold=0.0)  # dlib's own cut: the badge too
    assert photos.contains(photos.ASTRONAUT_FACE_BOX, photos.box_centre(face.box))
    assert photos.iou(badge.box, photos.ASTRONAUT_BADGE) >= 0.9 and 0.0 <= badge.score < 0.2
    assert detect_faces(path, detector="dlib", score_threshold=1.5) == []


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_copies_give_boxes_in_the_upright_frame(photo_dir, detector, orientation):
    path = photo_dir / f"exif_{orientation}.jpg"
    with PIL.Image.open(path) as stored:
        stored_pixels = np.asarray(stored.convert("RGB"))
    assert stored_pixels.shape[:2] == ((600, 512) if orientation == 3 else (512, 600))

    upright = detect_faces(path, detector=detector)
    reference = detect_faces(photos.grace_hopper(), detector=detector)
    assert len(upright) == 1
    assert_is_the_portrait_face(upright[0])
    # The same face as in the upright original (the copy was re-encoded as JPEG: a few pixels of slack).
    assert upright[0].box == pytest.approx(reference[0].box, abs=4)
    # A PIL image of the file is made upright too; the stored pixels alone show no upright face.
    with PIL.Image.open(path) as opened:
        assert detect_faces(opened, detector=detector)[0].box == upright[0].box
    assert all(photos.iou(face.box, photos.HAND_FACE_BOX) < 0.5 for face in detect_faces(stored_pixels, detector=detector))


@pytest.mark.parametrize("detector", DETECTORS)
def test_grayscale_and_downscaled_copies(photo_dir, detector):
    (gray,) = detect_faces(photo_dir / "grayscale.jpg", detector=detector)
    assert_is_the_portrait_face(gray)
    (half,) = detect_faces(photos.downscaled(0.5), detector=detector)
    assert_is_the_portrait_face(half, factor=0.5)


@pytest.mark.parametrize("detector", DETECTORS)
def test_two_people_largest_first_and_min_face_size(detector):
    composite = photos.two_person_composite()
    faces = detect_faces(composite, detector=detector)
    assert len(faces) == 2
    big, small = faces
    assert_is_the_portrait_face(big)
    assert_is_the_portrait_face(small, 0.5, *photos.SMALL_OFFSET)
    assert big.box[2] * big.box[3] > small.box[2] * small.box[3]

    # The small face is about 110 px: a larger minimum drops it, an even larger one drops both.
    (only_big,) = detect_faces(composite, detector=detector, min_face_size=150)
    assert_is_the_portrait_face(only_big)
    assert detect_faces(composite, detector=detector, min_face_size=300) == []
    (largest,) = detect_faces(composite, detector=detector, max_faces=1)
    assert largest == big


@pytest.mark.parametrize("detector", DETECTORS)
def test_images_without_a_face(detector):
    assert detect_faces(photos.gradient(), detector=detector) == []
    assert detect_faces(photos.GIFT_PNG, detector=detector) == []  # an RGBA drawing
    assert detect_faces(np.asarray(photos.grace_hopper())[400:, :, :].copy(), detector=detector) == []  # the uniform


@pytest.mark.skipif(not HAS_DLIB, reason="pip install dlib-bin")
def test_face_cut_by_the_border_is_kept_clipped():
    cut = photos.face_cut_by_border()
    (face,) = detect_faces(cut, detector="dlib")
    (whole,) = detect_faces(photos.grace_hopper(), detector="dlib")
    x, y, w, h = face.box
    assert x == 0.0  # dlib's own box starts left of the image: clipped to it
    assert x + w == pytest.approx(whole.box[0] + whole.box[2] - photos.CUT_LEFT, abs=8)
    assert (y, h) == pytest.approx((whole.box[1], whole.box[3]), abs=8)


@pytest.mark.parametrize("detector", DETECTORS)
def test_corrupt_exif_is_ignored_with_a_warning(photo_dir, detector):
    with pytest.warns(UserWarning, match="(?i)exif"):
        faces = detect_faces(photo_dir / "corrupt_exif.jpg", detector=detector)
    assert len(faces) == 1
    assert_is_the_portrait_face(faces[0])  # the stored pixels, used as they are


# ---------------------------------------------------------------------------------------------------------------
# Geometry, independent of any detector library (a fake backend returns chosen rows)
# ---------------------------------------------------------------------------------------------------------------


class FakeBackend:
    name, description, native_min_face, default_score_threshold = "fake", "fake backend", 40.0, 0.5

    def __init__(self, rows):
        self.rows, self.seen_shapes = rows, []

    def detect(self, rgb, min_side, score_threshold):
        self.seen_shapes.append(rgb.shape)
        return [row for row in self.rows if row[1] >= score_threshold]


def test_boxes_are_clipped_filtered_and_sorted():
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    backend = FakeBackend([
        ((-20.0, 10.0, 60.0, 60.0), 0.9, None),    # cut by the left border: kept, clipped
        ((100.0, 20.0, 70.0, 70.0), 0.8, None),    # the largest
        ((10.0, 10.0, 30.0, 30.0), 0.9, None),     # below min_face_size
        ((150.0, 50.0, 80.0, 80.0), 0.4, None),    # below the default score threshold
        ((-90.0, 10.0, 90.0, 90.0), 0.9, None),    # entirely outside
    ])
    faces = FaceDetector(backend)(image, min_face_size=40)
    assert [face.box for face in faces] == [(100.0, 20.0, 70.0, 70.0), (0.0, 10.0, 40.0, 60.0)]
    assert backend.seen_shapes == [(100, 200, 3)]  # native window == min_face_size: searched at full size
    lower = FaceDetector(backend)(image, min_face_size=40, score_threshold=0.3)
    assert (150.0, 50.0, 50.0, 50.0) in [face.box for face in lower]


def test_the_search_resolution_follows_min_face_size_and_boxes_map_back():
    class HalfFrame(FakeBackend):
        def detect(self, rgb, min_side, score_threshold):
            self.seen_shapes.append(rgb.shape)
            height, width = rgb.shape[:2]  # a face at a fixed fraction of whatever it is given
            return [((0.25 * width, 0.25 * height, 0.5 * width, 0.5 * height), 0.9, ((0.4 * width, 0.4 * height),) * 5)]

    backend = HalfFrame([])
    (face,) = FaceDetector(backend)(np.zeros((200, 400, 3), np.uint8), min_face_size=80)
    assert backend.seen_shapes == [(100, 200, 3)]  # 40 px window / 80 px faces: a half-size search
    assert face.box == (100.0, 50.0, 200.0, 100.0)
    assert face.landmarks[0] == (160.0, 80.0)


def test_order_landmarks_as_seen_uses_the_geometry():
    # YuNet's naming (person's right eye first): for an upright face that eye is on the viewer's left.
    upright = [(40, 50), (80, 50), (60, 70), (45, 90), (75, 90)]
    assert fd.order_landmarks_as_seen(upright) == tuple((float(x), float(y)) for x, y in upright)
    swapped = [upright[1], upright[0], upright[2], upright[4], upright[3]]
    assert fd.order_landmarks_as_seen(swapped) == fd.order_landmarks_as_seen(upright)
    # Upside down (mouth above the eyes): the viewer's left of the face is the image's right.
    upside_down = [(80, 90), (40, 90), (60, 70), (75, 50), (45, 50)]
    assert fd.order_landmarks_as_seen(upside_down) == tuple((float(x), float(y)) for x, y in upside_down)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_face_size": 0}, "min_face_size"),
        ({"min_face_size": float("nan")}, "min_face_size"),
        ({"score_threshold": "high"}, "score_threshold"),
        ({"max_faces": 0}, "max_faces"),
        ({"max_faces": 1.5}, "max_faces"),
        ({"detector": "mtcnn"}, "unknown face detector"),
        ({"detector": "haar:/x.onnx"}, "only the yunet detector takes a path"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_faces(photos.gradient(), **kwargs)


def test_bad_images_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        detect_faces(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="notes.jpg"):
        detect_faces(tmp_path / "notes.jpg")
    with pytest.raises(ValueError, match=r"\(height, width, 3\) uint8"):
        detect_faces(np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(TypeError, match="expected a path"):
        detect_faces(12)


# ---------------------------------------------------------------------------------------------------------------
# YuNet: argument handling and the conversion of its output rows (the ONNX file is never downloaded)
# ---------------------------------------------------------------------------------------------------------------


class FakeYuNet:
    """Stands in for cv2.FaceDetectorYN: returns fixed rows in the frame of the image it is given."""

    def __init__(self, rows):
        self.rows, self.calls = np.asarray(rows, dtype=np.float32), []

    def setInputSize(self, size):
        self.calls.append(("size", tuple(size)))

    def setScoreThreshold(self, threshold):
        self.calls.append(("threshold", threshold))

    def detect(self, bgr):
        self.calls.append(("detect", bgr.shape))
        return 1, self.rows if len(self.rows) else None


def yunet_row(x, y, w, h, points, score):
    return [x, y, w, h, *np.ravel(points), score]


def test_yunet_rows_become_detected_faces():
    # YuNet order: person's right eye (viewer's left), left eye, nose, right mouth corner, left mouth corner.
    points = [(40, 50), (80, 50), (60, 70), (45, 90), (75, 90)]
    net = FakeYuNet([
        yunet_row(20, 20, 80, 90, points, 0.95),
        yunet_row(-10, 5, 30, 30, [(0, 10), (10, 10), (5, 15), (0, 20), (10, 20)], 0.7),  # cut by the border
    ])
    faces = FaceDetector(YuNetBackend(net))(np.zeros((120, 160, 3), np.uint8), min_face_size=20)
    assert [face.box for face in faces] == [(20.0, 20.0, 80.0, 90.0), (0.0, 5.0, 20.0, 30.0)]
    assert faces[0].score == pytest.approx(0.95)
    assert faces[0].landmarks == tuple((float(x), float(y)) for x, y in points)
    assert ("size", (160, 120)) in net.calls and ("threshold", 0.6) in net.calls
    assert ("detect", (120, 160, 3)) in net.calls
    assert FaceDetector(YuNetBackend(FakeYuNet([])))(np.zeros((50, 50, 3), np.uint8), min_face_size=20) == []
    with pytest.raises(ValueError, match="15 numbers"):
        fd.yunet_rows_to_detections(np.zeros((1, 9)))


def test_yunet_file_problems_are_explained(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_face_detector(f"yunet:{tmp_path / 'face_detection_yunet_2023mar.onnx'}")
    (tmp_path / "model.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"ONNX model file \(\*\.onnx\)"):
        load_face_detector(f"yunet:{tmp_path / 'model.txt'}")
    (tmp_path / "broken.onnx").write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(ValueError, match="is not a YuNet ONNX model OpenCV can load"):
        load_face_detector(f"yunet:{tmp_path / 'broken.onnx'}")
    with pytest.raises(ValueError, match=fd.YUNET_ENV_VAR):
        load_face_detector("yunet")
    # Configured through the environment: "yunet" and "auto" both try that file.
    monkeypatch.setenv(fd.YUNET_ENV_VAR, str(tmp_path / "broken.onnx"))
    with pytest.raises(ValueError, match="broken.onnx"):
        load_face_detector("yunet")


def test_auto_notes_its_choice_once(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    first = load_face_detector("auto")
    load_face_detector("auto")
    notes = [r.getMessage() for r in caplog.records if "face detector 'auto'" in r.getMessage()]
    assert len(notes) == 1
    assert first.name == ("dlib" if HAS_DLIB else "haar")
    assert f"-> {first.backend.description}" in notes[0]
    assert "yunet: not configured" in notes[0]


def test_auto_falls_back_from_a_broken_yunet_configuration(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    monkeypatch.setenv(fd.YUNET_ENV_VAR, str(tmp_path / "missing.onnx"))
    detector = load_face_detector("auto")
    assert detector.name in ("dlib", "haar")
    (note,) = [r.getMessage() for r in caplog.records if "face detector 'auto'" in r.getMessage()]
    assert "yunet: YuNet model file not found" in note and "missing.onnx" in note


# ---------------------------------------------------------------------------------------------------------------
# Missing extras (simulated by blocking the import)
# ---------------------------------------------------------------------------------------------------------------


class BlockImports(importlib.abc.MetaPathFinder):
    def __init__(self, *names):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by the test)")
        return None


@pytest.fixture
def block(monkeypatch):
    """Make the named top-level modules unimportable for one test (and forget the detectors loaded so far)."""

    def blocker(*names):
        fd._cached_detector.cache_clear()
        for module in [m for m in sys.modules if m.split(".")[0] in names]:
            monkeypatch.delitem(sys.modules, module)  # restored afterwards
        monkeypatch.setattr(sys, "meta_path", [BlockImports(*names), *sys.meta_path])

    yield blocker
    fd._cached_detector.cache_clear()  # built while blocked: not for the other tests


def test_missing_dlib_names_the_package_and_auto_falls_back_to_haar(block, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    block("dlib")
    with pytest.raises(ImportError, match="pip install dlib-bin"):
        load_face_detector("dlib")
    with pytest.raises(ImportError, match="pip install dlib-bin"):
        detect_faces(photos.gradient(), detector="dlib")
    assert load_face_detector("auto").name == "haar"
    (note,) = [r.getMessage() for r in caplog.records if "face detector 'auto'" in r.getMessage()]
    assert "-> OpenCV Haar cascade" in note and "dlib: " in note and "pip install dlib-bin" in note
    (face,) = detect_faces(photos.grace_hopper())  # auto still finds the face
    assert_is_the_portrait_face(face)


def test_missing_opencv_names_the_extra(block, tmp_path):
    block("cv2")
    with pytest.raises(ImportError, match=r"opencv-python-headless>=4.8,<5.*hf_deepfever\[face\]"):
        load_face_detector("haar")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ImportError, match="opencv-python-headless"):
        load_face_detector(f"yunet:{tmp_path / 'm.onnx'}")


def test_auto_without_any_detector_says_what_to_install(block):
    block("cv2", "dlib")
    with pytest.raises(ImportError, match="no face detector is available") as error:
        load_face_detector("auto")
    assert "pip install dlib-bin" in str(error.value) and "opencv-python-headless" in str(error.value)

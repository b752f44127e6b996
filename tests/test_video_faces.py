"""FaceLocator / FaceTrack: a video's main face through the package's detectors, followed from frame to frame.

The tracking rules are checked with a fake detector backend (chosen boxes per frame); the real detectors (Haar,
dlib) on frames built from matplotlib's real portrait; landmarks reach the image processor's alignment.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys

import numpy as np
import pytest
import torch

import video_media
from hf_deepfever.core.dependencies import MissingDependencyError
from hf_deepfever.models.deepfever import face_detection_deepfever as fd
from hf_deepfever.models.deepfever.face_detection_deepfever import FaceDetector
from hf_deepfever.models.deepfever.image_processing_deepfever import DeepFeverImageProcessor
from hf_deepfever.video.faces import FaceLocator, box_iou, centre_box
from hf_deepfever.video.visual import run_on_faces


class ScriptedBackend:
    """Frame n (all its pixels hold the value n) has the n-th list of (box, score, landmarks) rows, in pixels of
    the 400-pixel-wide frame (scaled to the size the detector searches at)."""

    name, description, native_min_face, default_score_threshold = "scripted", "scripted backend", 20.0, 0.0

    def __init__(self, per_frame):
        self.per_frame, self.calls = list(per_frame), 0

    def detect(self, rgb, min_side, score_threshold):
        self.calls += 1
        scale = rgb.shape[1] / 400
        rows = self.per_frame[min(int(rgb[0, 0, 0]), len(self.per_frame) - 1)]
        return [(tuple(v * scale for v in box), score, marks) for box, score, marks in rows]


def _frames(count):
    return [np.full((200, 400, 3), index, dtype=np.uint8) for index in range(count)]


def _follow(per_frame, **options):
    track = FaceLocator(FaceDetector(ScriptedBackend(per_frame)), min_face_size=20, **options).track()
    faces = [track(frame) for frame in _frames(len(per_frame))]
    return [None if face is None else face.box for face in faces]


A = (20.0, 40.0, 80.0, 80.0)  # the face chosen first
B = (250.0, 40.0, 60.0, 60.0)  # another person


def _grown(box, factor):
    x, y, w, h = box
    return (x, y, w * factor, h * factor)


def test_the_face_chosen_first_is_followed_although_another_becomes_larger():
    frames = [[(A, 1.0, None), (_grown(B, 0.6 + 0.2 * i), 1.0, None)] for i in range(6)]  # B grows to 1.6 x 60 px
    boxes = _follow(frames)
    assert boxes == [A] * 6  # re-picking the largest each frame would switch to B from the fourth frame
    assert _grown(B, 1.6)[2] > A[2]


def test_a_moving_face_is_followed_by_overlap_and_by_its_centre_when_it_jumps():
    moved = [(A[0] + 12 * i, A[1], A[2], A[3]) for i in range(4)]  # overlapping steps
    jump = (moved[-1][0] + 38, A[1] + 15, 76.0, 76.0)  # IoU < 0.3, centre moved < half a side
    assert box_iou(moved[-1], jump) < 0.3
    frames = [[(box, 1.0, None), (B, 1.0, None)] for box in moved] + [[(B, 1.0, None), (jump, 1.0, None)]]
    assert _follow(frames) == [*moved, jump]


def test_frames_without_the_main_face_have_none_and_a_lost_face_is_chosen_again():
    frames = [[(A, 1.0, None)], [(B, 1.0, None)], [(B, 1.0, None)], [(A, 1.0, None), (B, 1.0, None)]]
    # B is another person: the frames where only B is seen have no main face; A is found again after.
    assert _follow(frames, max_missed=5) == [A, None, None, A]
    # Lost for longer than max_missed frames: the largest face then present is chosen.
    frames = [[(A, 1.0, None)], [(B, 1.0, None)], [(B, 1.0, None)], [(B, 1.0, None)], [(B, 1.0, None), (A, 1.0, None)]]
    assert _follow(frames, max_missed=1) == [A, None, None, B, B]


def test_a_repeated_frame_is_detected_once():
    backend = ScriptedBackend([[(A, 1.0, None)]])
    track = FaceLocator(FaceDetector(backend), min_face_size=20).track()
    frame = np.zeros((200, 400, 3), dtype=np.uint8)
    assert track(frame).box == track(frame).box == A
    assert backend.calls == 1


def test_min_face_size_drops_small_faces():
    small = (20.0, 40.0, 30.0, 30.0)
    locator = FaceLocator(FaceDetector(ScriptedBackend([[(small, 1.0, None)]])), min_face_size=50)
    assert locator.track()(np.zeros((200, 400, 3), dtype=np.uint8)) is None


def test_centre_needs_no_detector():
    locator = FaceLocator("centre")
    assert locator.kind == "centre"
    face = locator.track()(np.zeros((100, 200, 3), dtype=np.uint8))
    assert face.box == centre_box(200, 100) == (60.0, 10.0, 80.0, 80.0)


@pytest.mark.parametrize("detector", ["haar", "dlib"])
def test_real_detectors_follow_the_first_person_on_real_faces(detector):
    pytest.importorskip("cv2" if detector == "haar" else "dlib", reason="the [face]/[dlib] extras are in the test install")
    frames = video_media.two_people_frames(6)
    locator = FaceLocator(detector, min_face_size=40)
    assert locator.kind == detector
    every = [locator.detect(frame) for frame in frames]
    assert all(len(faces) == 2 for faces in every)
    assert every[0][0].box[0] < 200 and every[-1][0].box[0] > 200  # the largest face switches sides...
    track = locator.track()
    followed = [track(frame) for frame in frames]
    assert all(face is not None and face.box[0] < 200 for face in followed)  # ...the followed one does not


def test_landmarks_reach_the_alignment_of_the_crops(tmp_path):
    """A tilted face with 5 landmarks: the crops of run_on_faces are those of the processor given the same box and
    landmarks with align_faces on, and differ from crops without alignment."""
    landmarks = ((150.0, 80.0), (210.0, 110.0), (170.0, 130.0), (140.0, 160.0), (190.0, 180.0))  # tilted ~27 deg
    box = (110.0, 50.0, 130.0, 150.0)
    backend = ScriptedBackend([[(box, 1.0, landmarks)]])
    frame = np.random.default_rng(0).integers(0, 255, (240, 400, 3), dtype=np.uint8)
    frame[0, 0] = 0  # the scripted backend's frame number
    clip = video_media.write_clip(tmp_path / "tilted.mp4", [frame] * 2, video_codec="libx264rgb")
    aligned = DeepFeverImageProcessor(size={"height": 32, "width": 32}, align_faces=True)
    plain = DeepFeverImageProcessor(size={"height": 32, "width": 32}, align_faces=False)
    crops = {}
    for name, processor in (("aligned", aligned), ("plain", plain)):
        locator = FaceLocator(FaceDetector(ScriptedBackend(backend.per_frame)), min_face_size=20)
        steps = run_on_faces(clip, 0.04, locator, processor, lambda pixels: {"crops": pixels.flatten(1)}, num_steps=1)
        crops[name] = torch.from_numpy(steps.outputs["crops"][0])
    expected = aligned(frame, face_boxes=[box], face_landmarks=[landmarks], return_tensors="pt")["pixel_values"][0]
    assert torch.allclose(crops["aligned"], expected.flatten(), atol=1e-6)
    assert not torch.allclose(crops["aligned"], crops["plain"], atol=1e-2)


# ---------------------------------------------------------------------------------------------------------------
# A detector's extra missing: a clear message for a named detector, a fallback for auto
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
    def blocker(*names):
        fd._cached_detector.cache_clear()
        for module in [m for m in sys.modules if m.split(".")[0] in names]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setattr(sys, "meta_path", [BlockImports(*names), *sys.meta_path])

    yield blocker
    fd._cached_detector.cache_clear()


def test_a_named_detector_without_its_extra_says_what_to_install(block):
    block("dlib")
    with pytest.raises(MissingDependencyError, match="pip install dlib-bin"):
        FaceLocator("dlib")


def test_auto_falls_back_to_the_next_detector_then_to_the_centre(block, caplog):
    block("dlib")
    pytest.importorskip("cv2")
    assert FaceLocator("auto").kind == "haar"
    block("dlib", "cv2")
    with caplog.at_level(logging.WARNING):
        locator = FaceLocator("auto")
    assert locator.kind == "centre"
    assert "no face detector is available" in caplog.text and "centred square" in caplog.text
    assert locator.notes == ["no face detector is installed: each frame's centre square is used as the face"]


def test_bad_locator_options_are_named():
    with pytest.raises(ValueError, match="unknown face detector 'hog'"):
        FaceLocator("hog")
    with pytest.raises(ValueError, match="min_face_size"):
        FaceLocator(FaceDetector(ScriptedBackend([[]])), min_face_size=-3)
    with pytest.raises(ValueError, match="max_missed"):
        FaceLocator("centre", max_missed=-1)

"""FaceLocator: OpenCV's Haar cascade with the [face] extra, a centre crop (with a warning) without it."""

from __future__ import annotations

import builtins
import logging

import numpy as np
import pytest

from hf_deepfever.video.faces import FaceLocator, centre_box


def test_haar_detector_loads_and_finds_no_face_in_a_blank_frame():
    pytest.importorskip("cv2", reason="the [face] extra (OpenCV) is part of the test install; see Makefile")
    locator = FaceLocator("haar")
    assert locator.kind == "haar"
    assert locator(np.full((120, 160, 3), 128, dtype=np.uint8)) is None


def test_without_opencv_auto_falls_back_to_a_centre_crop(monkeypatch, caplog):
    real_import = builtins.__import__

    def no_cv2(name, *args, **kwargs):
        if name == "cv2":
            raise ImportError("no cv2")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cv2)
    with caplog.at_level(logging.WARNING):
        locator = FaceLocator("auto")
    assert locator.kind == "centre"
    assert "centre crop" in caplog.text
    assert locator(np.zeros((100, 200, 3), dtype=np.uint8)) == centre_box(200, 100) == (60.0, 10.0, 80.0, 80.0)
    with pytest.raises(ImportError, match="Haar face detector is unavailable"):
        FaceLocator("haar")

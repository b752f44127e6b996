"""`deepfever extract --detect-faces` on matplotlib's real portrait: one row per face, largest first, boxes in the
upright photo, the vector of `processor(image, face_boxes=[box])`, and one row with face_index -1 for an image
without a face (counted in the summary)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import PIL.Image
import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

import real_photos as photos
from hf_deepfever.cli import main
from hf_deepfever.core.images import open_image

pytest.importorskip("cv2", reason="face detection needs the [face] extra")
DETECTORS = ["haar"] + (["dlib"] if importlib.util.find_spec("dlib") is not None else [])
FACE_COLUMNS = ["path", "face_index", "face_x", "face_y", "face_w", "face_h", "detection_score",
                "expression", "probability", "valence", "arousal", "vector"]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_photos")
    photos.grace_hopper().save(folder / "a_portrait.jpg", quality=95)
    photos.write_exif_rotated(folder / "b_sideways.jpg", 6)
    photos.two_person_composite().save(folder / "c_two_people.jpg", quality=95)
    PIL.Image.fromarray(photos.gradient()).save(folder / "d_no_face.png")
    return folder


@pytest.mark.parametrize("detector", DETECTORS)
def test_one_row_per_face_with_the_crop_of_its_box(photo_folder, tiny_model_dir, tmp_path, capsys, detector):
    output = tmp_path / "faces.parquet"
    assert main(["extract", str(photo_folder), "--model", tiny_model_dir, "--output", str(output), "--detect-faces",
                 "--detector", detector, "--num-workers", "1", "--batch-size", "2"]) == 0
    assert "3 image(s) without a face" not in (err := capsys.readouterr().err)
    assert "1 image(s) without a face (one row each, face_index -1)" in err
    table = pd.read_parquet(output)
    assert list(table.columns) == FACE_COLUMNS
    names = table["path"].str.rsplit("/", n=1).str[-1]
    assert list(names.value_counts().sort_index().items()) == [
        ("a_portrait.jpg", 1), ("b_sideways.jpg", 1), ("c_two_people.jpg", 2), ("d_no_face.png", 1)]

    portrait = table[names == "a_portrait.jpg"].iloc[0]
    box = tuple(portrait[["face_x", "face_y", "face_w", "face_h"]])
    assert photos.iou(box, photos.HAND_FACE_BOX) > 0.5 and portrait["face_index"] == 0
    sideways = table[names == "b_sideways.jpg"].iloc[0]  # EXIF applied: the same box as the upright photo
    assert photos.iou(tuple(sideways[["face_x", "face_y", "face_w", "face_h"]]), box) > 0.8
    two = table[names == "c_two_people.jpg"]
    assert list(two["face_index"]) == [0, 1] and two["face_w"].iloc[0] > two["face_w"].iloc[1]
    small = photos.scaled_box(photos.HAND_FACE_BOX, 0.5, *photos.SMALL_OFFSET)
    assert photos.iou(tuple(two.iloc[1][["face_x", "face_y", "face_w", "face_h"]]), small) > 0.4

    empty = table[names == "d_no_face.png"].iloc[0]
    assert empty["face_index"] == -1 and empty["vector"] is None
    assert empty[["face_x", "detection_score", "expression", "probability", "valence", "arousal"]].isna().all()

    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        expected = model(**processor(open_image(photo_folder / "a_portrait.jpg"), face_boxes=[box], return_tensors="pt")).pooler_output[0]
    np.testing.assert_allclose(np.asarray(portrait["vector"]), expected.numpy(), atol=1e-4)


def test_max_faces_and_min_face_size(photo_folder, tiny_model_dir, tmp_path):
    output = tmp_path / "faces.csv"
    assert main(["extract", str(photo_folder / "c_two_people.jpg"), "--model", tiny_model_dir, "--output", str(output),
                 "--detect-faces", "--detector", "haar", "--max-faces", "1", "--num-workers", "0"]) == 0
    table = pd.read_csv(output)
    assert list(table["face_index"]) == [0] and table["face_w"].iloc[0] > 150
    assert main(["extract", str(photo_folder / "c_two_people.jpg"), "--model", tiny_model_dir, "--output", str(output),
                 "--detect-faces", "--detector", "haar", "--min-face-size", "400", "--num-workers", "0"]) == 0
    assert list(pd.read_csv(output)["face_index"]) == [-1]


def test_detect_faces_options_are_checked(tiny_model_dir, photo_folder, tmp_path, capsys):
    out = str(tmp_path / "x.parquet")
    assert main(["extract", str(photo_folder), "--model", tiny_model_dir, "--output", out, "--detect-faces",
                 "--max-faces", "0"]) == 2
    assert "--max-faces must be at least 1" in capsys.readouterr().err
    assert main(["extract", str(photo_folder), "--model", tiny_model_dir, "--output", out, "--detect-faces",
                 "--detector", "yunet"]) == 2
    assert "yunet" in capsys.readouterr().err

"""pipeline("face-expression") on real photographs: one dict per face, the crop the image processor makes from the
detected box (same vector), batching over images, detector options, bad input, and the remote-code route."""

from __future__ import annotations

import builtins
import json
import shutil

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

import real_photos as photos
from hf_deepfever import AFFECTNET_EXPRESSIONS, DeepFeverModel
from hf_deepfever.models.deepfever.face_detection_deepfever import FaceDetector, YuNetBackend, detect_faces
from hf_deepfever.models.deepfever.image_processing_deepfever import apply_exif_orientation
from hf_deepfever.models.deepfever.pipeline_face_expression import (
    FACE_EXPRESSION_TASK,
    FaceExpressionPipeline,
    register_face_expression_pipeline,
)
from remote_code import run_without_package

pytest.importorskip("cv2", reason="face detection needs the [face] extra (opencv-python-headless<5)")

KEYS = {"box", "label", "score", "valence", "arousal", "detection_score"}


@pytest.fixture(autouse=True)
def no_prompt(monkeypatch):
    """With the package installed, nothing may ask whether to trust remote code."""
    monkeypatch.setattr(builtins, "input", lambda *a, **k: pytest.fail("prompted for remote code"))


@pytest.fixture(scope="module")
def faces(tiny_model_dir):
    register_face_expression_pipeline()
    return pipeline(FACE_EXPRESSION_TASK, model=tiny_model_dir, detector="haar")


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """The model and processor loaded on their own: what a user would run by hand on a crop."""
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
    takes_landmarks = "face_landmarks" in processor.valid_kwargs.__annotations__

    def run(image, box, landmarks=None):
        kwargs = {"face_boxes": [box]}
        if takes_landmarks:
            kwargs["face_landmarks"] = [landmarks]
        with torch.no_grad():
            output = model(**processor(image, return_tensors="pt", **kwargs))
        return output

    return run


@pytest.fixture(scope="module")
def exif_photo(tmp_path_factory):
    return photos.write_exif_rotated(tmp_path_factory.mktemp("face_pipeline") / "portrait_exif6.jpg", 6)


def assert_same_as_reference(result, output):
    probabilities = output.logits.softmax(-1)[0]
    assert result["label"] == AFFECTNET_EXPRESSIONS[int(probabilities.argmax())]
    assert result["score"] == pytest.approx(float(probabilities.max()), abs=1e-5)
    assert [result["valence"], result["arousal"]] == pytest.approx(output.valence_arousal[0].tolist(), abs=1e-5)
    assert np.allclose(result["vector"], output.pooler_output[0].numpy(), atol=1e-5)


def test_registered_task_needs_no_remote_code(faces):
    assert isinstance(faces, FaceExpressionPipeline)


def test_one_dict_per_face_with_the_detector_box(faces):
    (result,) = faces(photos.GRACE_HOPPER)
    assert set(result) == KEYS
    (face,) = detect_faces(photos.GRACE_HOPPER, detector="haar")
    assert result["box"] == face.box_as_dict()
    assert result["detection_score"] == pytest.approx(face.score)
    assert result["label"] in AFFECTNET_EXPRESSIONS and 0.0 < result["score"] <= 1.0
    assert -1.0 <= result["valence"] <= 1.0 and -1.0 <= result["arousal"] <= 1.0
    assert photos.iou(tuple(result["box"].values()), photos.HAND_FACE_BOX) >= 0.5


def test_vector_is_the_processor_crop_of_the_upright_photo(faces, reference, exif_photo):
    # An EXIF-rotated file: the pipeline's box refers to the upright image, and its crop is the processor's.
    (result,) = faces(str(exif_photo), return_vectors=True)
    with PIL.Image.open(exif_photo) as stored:
        upright = apply_exif_orientation(stored)
        box = tuple(result["box"][k] for k in "xywh")
        assert_same_as_reference(result, reference(upright, box))
    assert photos.iou(box, photos.HAND_FACE_BOX) >= 0.5
    assert np.linalg.norm(result["vector"]) == pytest.approx(1.0, abs=1e-4)


def test_each_face_of_two_people_gets_its_own_crop(faces, reference):
    composite = photos.two_person_composite()
    results = faces(composite, return_vectors=True)
    assert len(results) == 2
    for result in results:
        assert_same_as_reference(result, reference(composite, tuple(result["box"][k] for k in "xywh")))
    assert not np.allclose(results[0]["vector"], results[1]["vector"], atol=1e-3)  # two different crops


class FixedYuNet:
    """Stands in for cv2.FaceDetectorYN (the ONNX file is never downloaded): the hand-measured face and landmarks
    of the portrait, tilted by `degrees` about the face centre when asked."""

    def __init__(self, degrees: float = 0.0):
        self.degrees = degrees

    def setInputSize(self, size):
        pass

    def setScoreThreshold(self, threshold):
        pass

    def detect(self, bgr):
        return 1, np.asarray([[*photos.HAND_FACE_BOX, *np.ravel(self.points()), 0.9]], dtype=np.float32)

    def points(self):
        x, y, w, h = photos.HAND_FACE_BOX
        centre = np.array([x + w / 2, y + h / 2])
        angle = np.deg2rad(self.degrees)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return (np.asarray(photos.HAND_LANDMARKS) - centre) @ rotation.T + centre


def test_landmarks_reach_the_processor_when_it_takes_them(faces, reference):
    detector = FaceDetector(YuNetBackend(FixedYuNet()))
    image = photos.grace_hopper()
    (result,) = faces(image, detector=detector, min_face_size=20, return_vectors=True)
    assert result["box"] == dict(zip("xywh", photos.HAND_FACE_BOX))
    assert result["detection_score"] == pytest.approx(0.9)
    assert_same_as_reference(result, reference(image, photos.HAND_FACE_BOX, photos.HAND_LANDMARKS))


def test_an_aligning_processor_gets_the_detector_landmarks(tiny_model_dir):
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir, align_faces=True)
    if "face_landmarks" not in processor.valid_kwargs.__annotations__:
        pytest.skip("this image processor has no alignment yet")
    register_face_expression_pipeline()
    aligned = pipeline(FACE_EXPRESSION_TASK, model=tiny_model_dir, image_processor=processor)
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    image = photos.grace_hopper()
    detector = FaceDetector(YuNetBackend(FixedYuNet(degrees=20.0)))  # a tilted face: alignment changes the crop
    (face,) = detect_faces(image, detector=detector, min_face_size=20)
    (result,) = aligned(image, detector=detector, min_face_size=20, return_vectors=True)
    with torch.no_grad():
        expected = model(**processor(image, face_boxes=[face.box], face_landmarks=[face.landmarks], return_tensors="pt"))
        unaligned = model(**processor(image, face_boxes=[face.box], return_tensors="pt"))
    assert_same_as_reference(result, expected)
    assert not np.allclose(result["vector"], unaligned.pooler_output[0].numpy(), atol=1e-3)


def test_batches_of_images_keep_their_order_and_empty_results(faces, exif_photo):
    images = [photos.two_person_composite(), photos.gradient(), str(exif_photo), str(photos.GIFT_PNG)]
    one_by_one = [faces(image, return_vectors=True) for image in images]
    batched = faces(images, batch_size=3, return_vectors=True)
    assert [len(result) for result in batched] == [2, 0, 1, 0]
    for single, many in zip(one_by_one, batched):
        assert [face["box"] for face in single] == [face["box"] for face in many]
        for a, b in zip(single, many):
            assert np.allclose(a["vector"], b["vector"], atol=1e-5)
    assert faces(photos.gradient()) == []


def test_detector_options_at_creation_and_per_call(tiny_model_dir):
    register_face_expression_pipeline()
    small_faces_dropped = pipeline(FACE_EXPRESSION_TASK, model=tiny_model_dir, detector="haar", min_face_size=150)
    composite = photos.two_person_composite()
    assert len(small_faces_dropped(composite)) == 1
    assert len(small_faces_dropped(composite, min_face_size=40)) == 2  # a call overrides the creation setting
    assert len(small_faces_dropped(composite, min_face_size=40, max_faces=1)) == 1
    assert small_faces_dropped(composite, min_face_size=40, score_threshold=1e6) == []


def test_bad_input_is_named(faces, tmp_path):
    with pytest.raises(ValueError, match="unknown face detector"):
        faces(photos.gradient(), detector="mtcnn")
    with pytest.raises(TypeError, match="unexpected arguments: top_k"):
        faces(photos.gradient(), top_k=3)
    with pytest.raises(FileNotFoundError, match="nowhere.jpg"):
        faces(str(tmp_path / "nowhere.jpg"))


def test_a_checkpoint_without_heads_is_refused(tiny_config, tiny_model_dir, tmp_path):
    # A bare vector extractor loads into the expression class with random heads: its labels would mean nothing.
    DeepFeverModel(tiny_config).save_pretrained(tmp_path)
    shutil.copy(f"{tiny_model_dir}/preprocessor_config.json", tmp_path)
    register_face_expression_pipeline()
    with pytest.raises(ValueError, match="without expression heads"):
        pipeline(FACE_EXPRESSION_TASK, model=str(tmp_path))


def test_saved_pipeline_runs_as_remote_code_without_the_package(faces, tmp_path, hf_home):
    faces.save_pretrained(tmp_path)
    declared = json.loads((tmp_path / "config.json").read_text())["custom_pipelines"][FACE_EXPRESSION_TASK]
    assert declared["impl"] == "pipeline_face_expression.FaceExpressionPipeline"
    for name in ("pipeline_face_expression.py", "face_detection_deepfever.py", "image_processing_deepfever.py"):
        assert (tmp_path / name).is_file()
    expected = faces(photos.GRACE_HOPPER, return_vectors=True)
    result = run_without_package(
        f"""
        import json
        from transformers import pipeline
        faces = pipeline("face-expression", model={str(tmp_path)!r}, trust_remote_code=True)
        print("RESULT", json.dumps(faces({str(photos.GRACE_HOPPER)!r}, detector="haar", return_vectors=True)))
        """,
        hf_home,
    )
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    (remote,) = json.loads(line[len("RESULT ") :])
    assert remote["box"] == expected[0]["box"] and remote["label"] == expected[0]["label"]
    assert np.allclose(remote["vector"], expected[0]["vector"], atol=1e-5)


def test_saved_pipeline_loads_in_package_without_remote_code(faces, tmp_path):
    faces.save_pretrained(tmp_path)
    again = pipeline(FACE_EXPRESSION_TASK, model=str(tmp_path), detector="haar")
    assert type(again) is FaceExpressionPipeline
    assert again(photos.GRACE_HOPPER)[0]["box"] == faces(photos.GRACE_HOPPER)[0]["box"]

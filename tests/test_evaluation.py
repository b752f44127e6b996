"""Evaluation on a tiny generated demo corpus: flat keys, value ranges, merging, and the synthetic label."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.training import evaluation
from hf_deepfever.core.eval_results import dataset_kind, merge_eval_results, read_eval_results
from hf_deepfever.training.prediction import ImagePredictions, face_box_in_pixels

IMAGE_SIZE = 32

RATE_KEYS = [
    "affectnet_accuracy_8",
    "affectnet_macro_f1_8",
    "affectnet_accuracy_7",
    "affectnet_macro_f1_7",
    "fec_triplet_accuracy",
    "rafdb_linear_probe_accuracy",
    "rafdb_linear_probe_macro_f1",
]


@pytest.fixture(scope="module")
def demo_corpus(tmp_path_factory) -> Path:
    from hf_deepfever.synthetic import make_demo_corpus

    root = tmp_path_factory.mktemp("demo_corpus")
    make_demo_corpus(root, seed=0, size="tiny", workers=1)
    return root


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    config = DeepFeverConfig(backbone="test_resnet", image_size=IMAGE_SIZE)
    DeepFeverForExpressionRecognition(config).save_pretrained(folder)
    DeepFeverImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(folder)
    return folder


def _copy_model(saved_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(saved_model, folder)
    return folder


def test_evaluate_script_writes_flat_keys_in_range(demo_corpus, saved_model, tmp_path):
    model_dir = _copy_model(saved_model, tmp_path)
    results = evaluation.main(
        [
            "--model_name_or_path", str(model_dir),
            "--affectnet_dir", str(demo_corpus / "affectnet"),
            "--fec_dir", str(demo_corpus / "fec"),
            "--rafdb_dir", str(demo_corpus / "rafdb"),
            "--per_device_eval_batch_size", "7",
        ]
    )  # fmt: skip
    written = json.loads((model_dir / "eval_results.json").read_text())
    assert written["dataset_kind"] == "synthetic-demo"
    for key in RATE_KEYS:
        assert 0.0 <= written[key] <= 1.0, key
    for key in ("valence_ccc", "arousal_ccc"):
        assert -1.0 <= written[key] <= 1.0
    for key in ("valence_rmse", "arousal_rmse"):
        assert 0.0 <= written[key] <= 2.0  # predictions and targets both lie in [-1, 1]
    # Sizes are the loaders' row counts: AffectNet validation keeps classes 0-7, FEC test its triplets.
    from hf_deepfever.data import load_affectnet, load_fec, load_rafdb

    assert written["affectnet_eval_samples"] == len(load_affectnet(demo_corpus / "affectnet")["validation"])
    assert written["fec_eval_triplets"] == len(load_fec(demo_corpus / "fec")["test"])
    rafdb = load_rafdb(demo_corpus / "rafdb")
    assert (written["rafdb_train_samples"], written["rafdb_test_samples"]) == (len(rafdb["train"]), len(rafdb["test"]))
    per_type = [written.get(f"fec_eval_triplets_{name}", 0) for name in ("one_class", "two_class", "three_class")]
    assert sum(per_type) == written["fec_eval_triplets"]
    # What main returns is what it wrote (NaN metrics are left out of the file).
    assert {key: value for key, value in results.items() if not (isinstance(value, float) and math.isnan(value))} == written


def test_max_eval_samples_limits_rows(demo_corpus, saved_model, tmp_path):
    model_dir = _copy_model(saved_model, tmp_path)
    evaluation.main(
        ["--model_name_or_path", str(model_dir), "--affectnet_dir", str(demo_corpus / "affectnet"), "--max_eval_samples", "5"]
    )
    assert json.loads((model_dir / "eval_results.json").read_text())["affectnet_eval_samples"] <= 5


def test_merge_keeps_other_keys_and_refuses_mixed_kinds(tmp_path):
    path = tmp_path / "eval_results.json"
    path.write_text(json.dumps({"custom_note": "kept", "affectnet_accuracy_8": 0.1, "dataset_kind": "real"}))
    merged = merge_eval_results(path, {"affectnet_accuracy_8": np.float32(0.5), "fec_eval_triplets": np.int64(3)})
    assert merged == read_eval_results(path)
    assert merged["custom_note"] == "kept" and merged["affectnet_accuracy_8"] == 0.5 and merged["fec_eval_triplets"] == 3
    # A NaN (undefined metric) is not written and removes the stale value.
    merged = merge_eval_results(path, {"affectnet_accuracy_8": float("nan")})
    assert "affectnet_accuracy_8" not in merged and "affectnet_accuracy_8" not in json.loads(path.read_text())
    with pytest.raises(ValueError, match="synthetic-demo"):
        merge_eval_results(path, {"dataset_kind": "synthetic-demo", "valence_ccc": 0.2})
    assert "valence_ccc" not in read_eval_results(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        merge_eval_results(path, {"valence_ccc": 0.2})


def test_dataset_kind_detection(demo_corpus, tmp_path):
    assert dataset_kind([demo_corpus / "affectnet", demo_corpus / "rafdb"]) == "synthetic-demo"
    real = tmp_path / "affectnet"
    real.mkdir()
    assert dataset_kind([real]) == "real"
    with pytest.raises(ValueError, match="mix"):
        dataset_kind([real, demo_corpus / "fec"])


def test_affectnet_metrics_mask_contempt_for_seven_classes():
    # Row 0 (neutral): contempt has the highest logit, so it is wrong under 8 classes and right under 7.
    logits = np.full((3, 8), -5.0, dtype=np.float32)
    logits[0, 7], logits[0, 0] = 3.0, 1.0
    logits[1, 1] = 2.0
    logits[2, 7] = 2.0
    labels = np.array([0, 1, 7])
    predictions = ImagePredictions(vectors=np.zeros((3, 4)), logits=logits, valence_arousal=np.zeros((3, 2)))
    targets = np.array([[0.1, 0.2], [np.nan, np.nan], [-0.3, 0.4]], dtype=np.float32)
    metrics = evaluation.affectnet_metrics(predictions, labels, targets)
    assert metrics["affectnet_accuracy_8"] == pytest.approx(2 / 3)
    assert metrics["affectnet_accuracy_7"] == pytest.approx(1.0)
    assert metrics["affectnet_eval_samples"] == 3 and metrics["affectnet_eval_samples_7"] == 2
    assert metrics["valence_rmse"] == pytest.approx(math.sqrt((0.1**2 + 0.3**2) / 2))


def test_fec_boxes_become_pixels():
    assert face_box_in_pixels([0.25, 0.75, 0.1, 0.5], 200, 100, "ltrb_normalized") == [50.0, 10.0, 100.0, 40.0]
    assert face_box_in_pixels([1, 2, 3, 4], 9, 9, "xywh") == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="box format"):
        face_box_in_pixels([1, 2, 3, 4], 9, 9, "yxhw")


def test_evaluate_needs_a_corpus_and_an_output_folder(saved_model):
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluation.main(["--model_name_or_path", str(saved_model)])
    with pytest.raises(ValueError, match="output_dir"):
        evaluation.main(["--model_name_or_path", "org/not-a-folder", "--affectnet_dir", "x"])


def test_landmarks_without_an_eye_line_are_cropped_unaligned_as_in_training(demo_corpus, saved_model, caplog):
    """A row whose eyes coincide (no line to level) would stop the aligning processor; evaluation keeps the
    landmarks training keeps, so such a face is cropped unrotated and counted in a warning, not fatal."""
    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import with_alignable_landmarks

    split = load_affectnet(demo_corpus / "affectnet")["validation"]
    points = list(split["landmarks"])
    assert points[0] is not None
    points[0] = [5.0] * 136  # every point, both eyes included, at (5, 5)
    broken = split.remove_columns("landmarks").add_column("landmarks", points, feature=split.features["landmarks"])

    kept = with_alignable_landmarks(broken)
    assert kept["landmarks"][0] is None
    assert list(kept["landmarks"])[1:] == points[1:]
    assert "1 AffectNet rows have landmarks without an eye line" in caplog.text

    model = DeepFeverForExpressionRecognition.from_pretrained(saved_model)
    processor = DeepFeverImageProcessor.from_pretrained(saved_model)
    assert processor.align_faces
    with pytest.raises(ValueError, match="eye line"):
        processor(broken[0]["image"], face_boxes=[broken[0]["face_box"]], face_landmarks=[points[0]])
    metrics, predictions = evaluation.evaluate_affectnet(model, processor, broken, batch_size=4)
    assert len(predictions.logits) == len(broken)
    assert 0.0 <= metrics["affectnet_accuracy_8"] <= 1.0


def test_an_evaluation_leaves_the_global_random_stream_alone(demo_corpus, saved_model):
    """Evaluating in the middle of a training run must not move the training's random numbers (dropout): the
    figures would then depend on how often it evaluates."""
    from hf_deepfever.data import load_affectnet

    split = load_affectnet(demo_corpus / "affectnet")["validation"]
    model = DeepFeverForExpressionRecognition.from_pretrained(saved_model)
    processor = DeepFeverImageProcessor.from_pretrained(saved_model)
    torch.manual_seed(321)
    before = torch.get_rng_state()
    evaluation.evaluate_affectnet(model, processor, split, batch_size=8)
    assert torch.equal(torch.get_rng_state(), before)

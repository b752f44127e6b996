"""RAF-DB linear probe: frozen vectors of the train split -> logistic regression -> test accuracy / macro-F1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_deepfever import DeepFeverConfig, DeepFeverImageProcessor, DeepFeverModel
from hf_deepfever.training import linear_probe
from hf_deepfever.training.prediction import ImagePredictions

IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def rafdb_dir(tmp_path_factory):
    from hf_deepfever.synthetic import make_demo_corpus

    root = tmp_path_factory.mktemp("demo_corpus")
    make_demo_corpus(root, seed=0, size="tiny", workers=1)
    return root / "rafdb"


def test_linear_probe_script_merges_into_eval_results(rafdb_dir, tmp_path):
    model_dir = tmp_path / "extractor"
    DeepFeverModel(DeepFeverConfig(backbone="test_resnet", image_size=IMAGE_SIZE)).save_pretrained(model_dir)
    DeepFeverImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(model_dir)
    (model_dir / "eval_results.json").write_text(json.dumps({"affectnet_accuracy_8": 0.25}))

    results = linear_probe.main(["--model_name_or_path", str(model_dir), "--rafdb_dir", str(rafdb_dir)])

    written = json.loads((model_dir / "eval_results.json").read_text())
    assert written == {"affectnet_accuracy_8": 0.25, **results}
    assert written["dataset_kind"] == "synthetic-demo"
    assert 0.0 <= written["rafdb_linear_probe_accuracy"] <= 1.0
    assert 0.0 <= written["rafdb_linear_probe_macro_f1"] <= 1.0
    from hf_deepfever.data import load_rafdb

    splits = load_rafdb(rafdb_dir)
    assert written["rafdb_train_samples"] == len(splits["train"]) and written["rafdb_test_samples"] == len(splits["test"])


def test_probe_scores_separable_vectors_perfectly(rafdb_dir, monkeypatch):
    """Vectors that encode the label make the probe exact: the probe reads labels and vectors row by row."""
    def fake_predict(model, processor, dataset, **kwargs):
        labels = np.asarray(dataset["expression"])
        return ImagePredictions(vectors=np.eye(7)[labels] * 3.0 + 0.01 * np.arange(len(labels))[:, None])

    monkeypatch.setattr(linear_probe, "predict_images", fake_predict)
    scores = linear_probe.rafdb_linear_probe(None, None, str(rafdb_dir))
    assert scores["rafdb_linear_probe_accuracy"] == 1.0 and scores["rafdb_linear_probe_macro_f1"] == 1.0


def test_chance_accuracy_is_the_majority_share(rafdb_dir):
    from hf_deepfever.data import load_rafdb

    splits = load_rafdb(rafdb_dir)
    majority = np.bincount(splits["train"]["expression"]).argmax()
    expected = float(np.mean(np.asarray(splits["test"]["expression"]) == majority))
    assert linear_probe.rafdb_chance_accuracy(str(rafdb_dir)) == pytest.approx(expected)

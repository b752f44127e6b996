"""Metric math of hf_deepfever.metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from hf_deepfever.metrics import (
    accuracy,
    ccc,
    expression_metrics,
    linear_probe,
    macro_f1,
    predict_odd_one_out,
    rmse,
    triplet_accuracy,
    triplet_type_ids,
    valence_arousal_metrics,
)


@pytest.mark.parametrize("seed", range(8))
def test_accuracy_and_macro_f1_match_sklearn_on_random_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 60))
    # Few predicted classes and many label classes, so some classes occur on one side only.
    labels = rng.integers(0, 8, size=size)
    preds = rng.integers(0, int(rng.integers(1, 9)), size=size)
    assert accuracy(preds, labels) == pytest.approx(accuracy_score(labels, preds))
    expected_f1 = f1_score(labels, preds, average="macro", zero_division=0)
    assert macro_f1(preds, labels) == pytest.approx(expected_f1)
    assert macro_f1(preds, labels, num_classes=8) == pytest.approx(expected_f1)


def test_macro_f1_hand_case_and_torch_inputs() -> None:
    # class 0: TP 1, FP 1, FN 0 -> F1 2/3; class 1: TP 1, FP 0, FN 1 -> F1 2/3.
    preds = torch.tensor([0, 0, 1])
    labels = torch.tensor([0, 1, 1])
    assert macro_f1(preds, labels) == pytest.approx(2 / 3)
    assert accuracy(preds, labels) == pytest.approx(2 / 3)
    assert isinstance(accuracy(preds, labels), float)


def test_classification_metric_errors_and_empty_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        macro_f1([7, 0], [0, 0], num_classes=7)
    with pytest.raises(ValueError, match="values"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="integer"):
        accuracy([0.5], [0])
    assert math.isnan(accuracy([], []))
    assert math.isnan(macro_f1([], []))


def test_expression_metrics_masks_contempt_for_seven_classes() -> None:
    logits = np.full((5, 8), -1.0)
    logits[0, 0] = 3.0  # label 0, right under both protocols
    logits[1, 7], logits[1, 3] = 5.0, 1.0  # label 3: wrong with 8 classes (contempt wins), right with 7
    logits[2, 7] = 2.0  # label 7: right with 8 classes, dropped with 7
    logits[3, 2] = 1.0  # label 4: wrong under both
    logits[4, 1] = 1.0  # label -100: ignored
    labels = np.array([0, 3, 7, 4, -100])
    results = expression_metrics(torch.tensor(logits, dtype=torch.bfloat16), torch.tensor(labels))
    assert results["num_samples_8"] == 4 and results["num_samples_7"] == 3
    assert results["accuracy_8"] == pytest.approx(2 / 4)
    assert results["accuracy_7"] == pytest.approx(2 / 3)
    preds_8, preds_7 = np.array([0, 7, 7, 2]), np.array([0, 3, 2])
    assert results["macro_f1_8"] == pytest.approx(f1_score(labels[:4], preds_8, average="macro", zero_division=0))
    assert results["macro_f1_7"] == pytest.approx(f1_score([0, 3, 4], preds_7, average="macro", zero_division=0))


def test_expression_metrics_rejects_bad_shapes_and_labels() -> None:
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        expression_metrics(np.zeros((3, 7)), [0, 1, 2])
    with pytest.raises(ValueError, match=">= 8"):
        expression_metrics(np.zeros((2, 8)), [0, 9])


def test_ccc_hand_cases() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, 5.0 - x) == pytest.approx(-1.0)  # mirror image about the same mean
    # A mean shift d on a perfect correlation: 2 var / (2 var + d^2), var = 1.25 here.
    assert ccc(x, x + 1.0) == pytest.approx(2 * 1.25 / (2 * 1.25 + 1.0))
    # Scaling: y = 2x -> cov = 2 var, var y = 4 var, mean diff = 2.5.
    assert ccc(x, 2 * x) == pytest.approx(2 * 2.5 / (1.25 + 5.0 + 2.5**2))


def test_ccc_ignores_nan_pairs_and_defines_edge_cases() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0, 3.0])
    y = np.array([1.0, 2.0, 9.0, np.nan, 3.0])
    assert ccc(x, y) == pytest.approx(1.0)  # valid pairs (1,1), (2,2), (3,3)
    assert math.isnan(ccc([1.0, np.nan], [1.0, 2.0]))  # one valid pair
    assert ccc([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0  # identical constants agree exactly
    assert ccc([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0  # one constant series: zero covariance
    assert ccc(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0])) == pytest.approx(1.0)


def test_rmse_and_valence_arousal_metrics() -> None:
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(math.sqrt(12.5))
    assert math.isnan(rmse([1.0], [np.nan]))
    pred = np.array([[0.1, 0.5], [0.2, 0.4], [0.3, 0.9]])
    target = np.array([[0.1, np.nan], [0.2, 0.4], [0.3, 0.5]])
    results = valence_arousal_metrics(pred, target)
    assert set(results) == {"valence_ccc", "arousal_ccc", "valence_rmse", "arousal_rmse"}
    assert results["valence_ccc"] == pytest.approx(1.0)
    assert results["valence_rmse"] == pytest.approx(0.0)
    assert results["arousal_ccc"] == pytest.approx(ccc([0.4, 0.9], [0.4, 0.5]))
    assert results["arousal_rmse"] == pytest.approx(math.sqrt(0.4**2 / 2))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        valence_arousal_metrics(pred[:, :1], target[:, :1])


def test_triplet_accuracy_hand_cases() -> None:
    # Faces on the unit circle: a (0 deg), b (10 deg) are close, c (90 deg) is far.
    angles = {"a": 0.0, "b": 10.0, "c": 90.0}
    vec = {k: np.array([np.cos(np.radians(v)), np.sin(np.radians(v))]) for k, v in angles.items()}
    e1 = np.stack([vec["a"], vec["a"], vec["c"], vec["a"]])
    e2 = np.stack([vec["b"], vec["c"], vec["a"], vec["b"]])
    e3 = np.stack([vec["c"], vec["b"], vec["b"], vec["c"]])
    # Truth: odd faces are c, c, c, and (wrongly annotated) a.
    odd = np.array([2, 1, 0, 0])
    types = ["ONE_CLASS_TRIPLET", "two_class", "TWO_CLASS_TRIPLET", "three_class"]
    results = triplet_accuracy(e1, e2, e3, odd, types)
    assert results["accuracy"] == pytest.approx(3 / 4)
    assert results["num_triplets"] == 4
    assert results["accuracy_one_class"] == 1.0 and results["num_one_class"] == 1
    assert results["accuracy_two_class"] == 1.0 and results["num_two_class"] == 2
    assert results["accuracy_three_class"] == 0.0 and results["num_three_class"] == 1
    np.testing.assert_array_equal(predict_odd_one_out(e1, e2, e3), [2, 1, 0, 2])
    assert set(triplet_accuracy(e1, e2, e3, odd)) == {"accuracy", "num_triplets"}


def test_triplet_accuracy_ties_normalisation_and_errors() -> None:
    # All three faces equidistant: a tie is never right.
    e = np.eye(3)
    assert triplet_accuracy(e[[0]], e[[1]], e[[2]], [0])["accuracy"] == 0.0
    # Scale matters without normalisation only: 10*a is far from a in raw space, identical in direction.
    e1, e2, e3 = np.array([[1.0, 0.0]]), np.array([[10.0, 0.0]]), np.array([[0.8, 0.6]])
    assert triplet_accuracy(e1, e2, e3, [2])["accuracy"] == 1.0
    assert triplet_accuracy(e1, e2, e3, [2], normalize=False)["accuracy"] == 0.0
    absent = triplet_accuracy(e1, e2, e3, [2], ["one_class"])
    assert math.isnan(absent["accuracy_two_class"]) and absent["num_two_class"] == 0
    with pytest.raises(ValueError, match="0-based"):
        triplet_accuracy(e1, e2, e3, [3])
    with pytest.raises(ValueError, match="unknown triplet type"):
        triplet_type_ids(["four_class"])
    np.testing.assert_array_equal(triplet_type_ids(torch.tensor([2, 0])), [2, 0])


def test_linear_probe_separates_separable_classes_and_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 5)) * 4.0
    train_y, test_y = rng.integers(0, 3, 90), rng.integers(0, 3, 30)
    train_x = centres[train_y] + rng.normal(size=(90, 5))
    test_x = centres[test_y] + rng.normal(size=(30, 5))
    results = linear_probe(torch.tensor(train_x), train_y, test_x, torch.tensor(test_y))
    assert set(results) == {"accuracy", "macro_f1"}
    assert results["accuracy"] > 0.9

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    reference = LogisticRegression(max_iter=1000, random_state=0).fit(scaler.transform(train_x), train_y)
    expected = reference.predict(scaler.transform(test_x))
    assert results["accuracy"] == pytest.approx(accuracy_score(test_y, expected))
    assert results["macro_f1"] == pytest.approx(f1_score(test_y, expected, average="macro", zero_division=0))
    with pytest.raises(ValueError, match="two classes"):
        linear_probe(train_x, np.zeros(90, dtype=int), test_x, test_y)

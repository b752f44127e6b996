"""The `evaluate` modules load offline from the package and give the same numbers as hf_deepfever.metrics."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from hf_deepfever import evaluate_modules
from hf_deepfever.metrics import ccc, expression_metrics, rmse, triplet_accuracy


def test_modules_load_offline_from_local_folders(hf_home: str) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    for name in evaluate_modules.MODULE_NAMES:
        assert (evaluate_modules.module_path(name) / f"{name}.py").is_file()
        metric = evaluate_modules.load(name)
        assert metric.name == name
        assert metric.info.citation.strip() and metric.info.description.strip()
    # evaluate copied the scripts into the (temporary) modules cache it imports them from.
    assert os.path.isdir(os.path.join(hf_home, "modules", "evaluate_modules", "metrics", "triplet_accuracy"))
    with pytest.raises(ValueError, match="unknown DeepFEVER evaluate module"):
        evaluate_modules.load("accuracy")


def test_expression_accuracy_module_matches_metrics_with_batches() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 8)).astype(np.float32)
    labels = rng.integers(0, 8, size=40)
    metric = evaluate_modules.load("expression_accuracy")
    for start in range(0, 40, 16):  # accumulate like an evaluation loop
        metric.add_batch(predictions=logits[start : start + 16], references=labels[start : start + 16])
    results = metric.compute()
    expected = expression_metrics(logits, labels)
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        assert results[key] == pytest.approx(value), key


def test_concordance_correlation_module_ignores_nan_references() -> None:
    rng = np.random.default_rng(1)
    predictions = rng.uniform(-1, 1, size=30)
    references = predictions * 0.5 + rng.normal(scale=0.2, size=30)
    references[[3, 7]] = np.nan
    results = evaluate_modules.load("concordance_correlation").compute(
        predictions=predictions, references=references
    )
    assert results["ccc"] == pytest.approx(ccc(predictions, references))
    assert results["rmse"] == pytest.approx(rmse(predictions, references))
    assert not math.isnan(results["ccc"])


def test_triplet_accuracy_module_matches_metrics() -> None:
    rng = np.random.default_rng(2)
    e1, e2, e3 = (rng.normal(size=(25, 4)).astype(np.float32) for _ in range(3))
    odd = rng.integers(0, 3, size=25)
    types = rng.choice(["ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"], size=25).tolist()
    results = evaluate_modules.load("triplet_accuracy").compute(
        embeddings_1=e1, embeddings_2=e2, embeddings_3=e3, references=odd, triplet_type=types
    )
    expected = triplet_accuracy(e1, e2, e3, odd, types)
    assert results == pytest.approx(expected)
    assert results["num_one_class"] + results["num_two_class"] + results["num_three_class"] == 25
    # The FEC dataset stores the type as ClassLabel ids 0-2 in the same order; the module takes those too.
    type_ids = [["ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"].index(t) for t in types]
    from_ids = evaluate_modules.load("triplet_accuracy").compute(
        embeddings_1=e1, embeddings_2=e2, embeddings_3=e3, references=odd, triplet_type=type_ids
    )
    assert from_ids == pytest.approx(expected)

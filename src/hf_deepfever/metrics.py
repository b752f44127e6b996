"""Evaluation metrics of DeepFEVER: expression accuracy / macro-F1, CCC and RMSE, FEC triplet accuracy, linear probe.

Every function takes numpy arrays, Python sequences or torch tensors (on any device, any dtype) and returns
plain Python floats (or a dict of them), so results go straight into ``eval_results.json``.

Conventions shared by all functions:

- A quantity that is undefined on the data given (an empty set, fewer than two valid pairs for a CCC) is
  ``float("nan")``, never an exception, so an evaluation over a tiny subset still finishes.
- Expression labels are integer class ids in ``[0, num_classes)``. Negative labels (such as the
  ``ignore_index`` of -100 used for rows without an expression label) are dropped by
  :func:`expression_metrics`.
- Missing valence/arousal targets are NaN (AffectNet's "-2 = not annotated" must be turned into NaN by the
  loader); NaN targets are ignored per dimension.
- FEC triplets: ``odd_one_out`` is the **0-based** index (0, 1 or 2) of the face whose expression differs
  (FEC's CSV annotation 1/2/3 minus one). Triplet types are the strings ``ONE_CLASS_TRIPLET`` /
  ``TWO_CLASS_TRIPLET`` / ``THREE_CLASS_TRIPLET`` (or ``one_class`` / ``two_class`` / ``three_class``, any
  case) or the integers 0 / 1 / 2 in that order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .core.vocabulary import TRIPLET_TYPE_NAMES


ArrayLike = Any  # numpy array, Python sequence or torch tensor


def _to_numpy(values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a numpy array; torch tensors are detached and moved to the CPU (bf16/fp16 -> fp32)."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor, without importing torch
        tensor = values.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype.itemsize < 4:
            tensor = tensor.float()  # numpy has no bfloat16
        return tensor.numpy()
    return np.asarray(values)


def _class_ids(values: ArrayLike, name: str) -> np.ndarray:
    """A 1-D integer array of class ids; floats are accepted only when they hold whole numbers."""
    array = _to_numpy(values).reshape(-1)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"`{name}` must hold integer class ids, got non-integer values such as {array[:5]}")
    elif array.dtype.kind not in "iub":
        raise ValueError(f"`{name}` must hold integer class ids, got dtype {array.dtype}")
    return array.astype(np.int64)


def _paired_class_ids(preds: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    preds_array, labels_array = _class_ids(preds, "preds"), _class_ids(labels, "labels")
    if preds_array.shape != labels_array.shape:
        raise ValueError(f"`preds` has {preds_array.size} values but `labels` has {labels_array.size}")
    return preds_array, labels_array


def accuracy(preds: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of predictions equal to their label: ``mean(preds == labels)``; NaN when empty."""
    preds_array, labels_array = _paired_class_ids(preds, labels)
    if preds_array.size == 0:
        return float("nan")
    return float(np.mean(preds_array == labels_array))


def macro_f1(preds: ArrayLike, labels: ArrayLike, num_classes: int | None = None) -> float:
    """Unweighted mean over classes of ``F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)``.

    The mean runs over the classes present in ``preds`` or ``labels``, exactly as scikit-learn's
    ``f1_score(labels, preds, average="macro", zero_division=0)``: a class absent from both has no
    defined F1 and is left out (for a class present in either, the denominator is never zero, so
    ``zero_division`` never triggers). ``num_classes``, when given, only checks that every value lies in
    ``[0, num_classes)`` — a prediction of class 7 under the 7-class protocol is an error, not a miss.
    NaN when empty.
    """
    preds_array, labels_array = _paired_class_ids(preds, labels)
    if num_classes is not None:
        for name, array in (("preds", preds_array), ("labels", labels_array)):
            outside = array[(array < 0) | (array >= num_classes)]
            if outside.size:
                raise ValueError(f"`{name}` holds class ids outside [0, {num_classes}): {np.unique(outside)[:10]}")
    if preds_array.size == 0:
        return float("nan")
    scores = []
    for class_id in np.union1d(preds_array, labels_array):
        true_positive = np.sum((preds_array == class_id) & (labels_array == class_id))
        false_positive = np.sum((preds_array == class_id) & (labels_array != class_id))
        false_negative = np.sum((preds_array != class_id) & (labels_array == class_id))
        scores.append(2 * true_positive / (2 * true_positive + false_positive + false_negative))
    return float(np.mean(scores))


def expression_metrics(
    logits: ArrayLike, labels: ArrayLike, *, num_classes: int = 8, reduced_num_classes: int | None = 7
) -> dict[str, float | int]:
    """Expression accuracy and macro-F1 under AffectNet's 8-class and 7-class protocols.

    - ``accuracy_{num_classes}``, ``macro_f1_{num_classes}``: ``argmax`` over all logits, every row whose
      label is in ``[0, num_classes)``.
    - ``accuracy_{reduced_num_classes}``, ``macro_f1_{reduced_num_classes}`` (default 7): rows labelled with a
      class ``>= reduced_num_classes`` (AffectNet's contempt, 7) are dropped and the logits of those classes
      are masked out, i.e. ``argmax`` over the first ``reduced_num_classes`` logits. Skipped when
      ``reduced_num_classes`` is None.
    - ``num_samples_{n}``: the number of rows each protocol used.

    Rows with a negative label (``ignore_index``) are dropped; a label ``>= num_classes`` is an error.
    """
    logits_array = _to_numpy(logits).astype(np.float64)
    labels_array = _class_ids(labels, "labels")
    if logits_array.ndim != 2 or logits_array.shape[1] != num_classes:
        raise ValueError(f"`logits` must have shape (N, {num_classes}), got {logits_array.shape}")
    if logits_array.shape[0] != labels_array.size:
        raise ValueError(f"`logits` has {logits_array.shape[0]} rows but `labels` has {labels_array.size}")
    too_large = labels_array[labels_array >= num_classes]
    if too_large.size:
        raise ValueError(f"`labels` holds class ids >= {num_classes}: {np.unique(too_large)[:10]}")

    results: dict[str, float | int] = {}
    protocols = [num_classes] if reduced_num_classes is None else [num_classes, reduced_num_classes]
    for kept_classes in protocols:
        rows = (labels_array >= 0) & (labels_array < kept_classes)
        preds = np.argmax(logits_array[rows, :kept_classes], axis=1)
        results[f"accuracy_{kept_classes}"] = accuracy(preds, labels_array[rows])
        results[f"macro_f1_{kept_classes}"] = macro_f1(preds, labels_array[rows], num_classes=kept_classes)
        results[f"num_samples_{kept_classes}"] = int(rows.sum())
    return results


def _valid_float_pairs(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ``x`` and ``y`` to float64 and drop every pair where either value is NaN."""
    x_array = _to_numpy(x).astype(np.float64).reshape(-1)
    y_array = _to_numpy(y).astype(np.float64).reshape(-1)
    if x_array.shape != y_array.shape:
        raise ValueError(f"the two inputs differ in size: {x_array.size} vs {y_array.size}")
    keep = ~(np.isnan(x_array) | np.isnan(y_array))
    return x_array[keep], y_array[keep]


def ccc(x: ArrayLike, y: ArrayLike) -> float:
    """Lin's concordance correlation coefficient, over the pairs where neither value is NaN.

    ``CCC = 2·cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))²)`` with population (1/N) moments, in float64:
    the package's one CCC (:func:`~hf_deepfever.models.deepfever.modeling_deepfever.concordance_correlation`,
    also behind the training loss) without its ``eps``. It is 1 for identical series, -1 for
    ``y = 2·mean - x`` mirror images, and a mean shift ``d`` lowers a perfect correlation to
    ``2·var / (2·var + d²)``.

    Edge cases: NaN with fewer than two valid pairs. When the denominator is zero (both series constant and
    equal), the series agree exactly and CCC is 1.0; when only one series is constant it is 0.
    """
    import torch

    from .models.deepfever.modeling_deepfever import concordance_correlation

    x_valid, y_valid = _valid_float_pairs(x, y)
    value, _ = concordance_correlation(torch.from_numpy(x_valid), torch.from_numpy(y_valid))
    return float(value[0])


def rmse(pred: ArrayLike, target: ArrayLike) -> float:
    """Root mean squared error ``sqrt(mean((pred - target)²))`` over the non-NaN pairs; NaN when none."""
    pred_valid, target_valid = _valid_float_pairs(pred, target)
    if pred_valid.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((pred_valid - target_valid) ** 2)))


def valence_arousal_metrics(pred: ArrayLike, target: ArrayLike) -> dict[str, float]:
    """CCC and RMSE per dimension of ``(N, 2)`` arrays whose columns are (valence, arousal).

    NaN targets (not annotated) are ignored per dimension. Returns ``valence_ccc``, ``arousal_ccc``,
    ``valence_rmse``, ``arousal_rmse``.
    """
    pred_array, target_array = _to_numpy(pred), _to_numpy(target)
    if pred_array.ndim != 2 or pred_array.shape[1] != 2 or pred_array.shape != target_array.shape:
        raise ValueError(
            f"`pred` and `target` must both have shape (N, 2) = (valence, arousal), got {pred_array.shape} and "
            f"{target_array.shape}"
        )
    results = {}
    for column, name in enumerate(("valence", "arousal")):
        results[f"{name}_ccc"] = ccc(pred_array[:, column], target_array[:, column])
        results[f"{name}_rmse"] = rmse(pred_array[:, column], target_array[:, column])
    return results


def triplet_type_ids(triplet_type: ArrayLike) -> np.ndarray:
    """Map FEC triplet types to ids 0-2 (one-, two-, three-class).

    Accepts strings such as ``ONE_CLASS_TRIPLET`` or ``two_class`` (any case), the ids 0-2 themselves (as
    ints, integer arrays/tensors or digit strings; the ``ClassLabel`` ids of :func:`hf_deepfever.data.fec`).
    """
    if hasattr(triplet_type, "detach") or (isinstance(triplet_type, np.ndarray) and triplet_type.dtype.kind in "iu"):
        ids = _class_ids(triplet_type, "triplet_type")
    else:
        ids = []
        for value in (triplet_type.tolist() if isinstance(triplet_type, np.ndarray) else list(triplet_type)):
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                ids.append(int(value))
                continue
            name = str(value).strip().lower().removesuffix("_triplet")
            if name in ("0", "1", "2"):  # ids that went through a string column (e.g. an `evaluate` module)
                ids.append(int(name))
                continue
            if name not in TRIPLET_TYPE_NAMES:
                raise ValueError(f"unknown triplet type {value!r}; expected one of {TRIPLET_TYPE_NAMES} or 0-2")
            ids.append(TRIPLET_TYPE_NAMES.index(name))
        ids = np.asarray(ids, dtype=np.int64)
    if np.any((ids < 0) | (ids > 2)):
        raise ValueError(f"triplet type ids must be 0, 1 or 2, got {np.unique(ids[(ids < 0) | (ids > 2)])}")
    return ids


def _triplet_distances(e1: ArrayLike, e2: ArrayLike, e3: ArrayLike, normalize: bool) -> np.ndarray:
    """``(N, 3)`` squared Euclidean distances of the pairs opposite each face: (d23, d13, d12)."""
    vectors = [_to_numpy(e).astype(np.float64) for e in (e1, e2, e3)]
    if any(v.ndim != 2 for v in vectors) or len({v.shape for v in vectors}) != 1:
        raise ValueError(f"e1, e2, e3 must be (N, D) arrays of one shape, got {[v.shape for v in vectors]}")
    if normalize:
        vectors = [v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12) for v in vectors]
    first, second, third = vectors

    def squared_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sum((a - b) ** 2, axis=1)

    return np.stack(
        [squared_distance(second, third), squared_distance(first, third), squared_distance(first, second)], axis=1
    )


def predict_odd_one_out(e1: ArrayLike, e2: ArrayLike, e3: ArrayLike, *, normalize: bool = True) -> np.ndarray:
    """0-based index of the odd face of each triplet: the face outside the closest pair (ties: lowest index).

    ``normalize`` L2-normalises the vectors first, as the triplet loss does.
    """
    return np.argmin(_triplet_distances(e1, e2, e3, normalize), axis=1)


def triplet_accuracy(
    e1: ArrayLike,
    e2: ArrayLike,
    e3: ArrayLike,
    odd_one_out: ArrayLike,
    triplet_type: ArrayLike | None = None,
    *,
    normalize: bool = True,
) -> dict[str, float | int]:
    """FEC triplet prediction accuracy, overall and per triplet type.

    A triplet is right when the (squared Euclidean) distance of its similar pair is strictly smaller than
    both other distances (a tie counts as wrong). ``odd_one_out`` is the 0-based index of the odd face.
    Returns ``accuracy`` and ``num_triplets``, and with ``triplet_type`` also ``accuracy_<type>`` and
    ``num_<type>`` for ``one_class`` / ``two_class`` / ``three_class`` (NaN accuracy for an absent type).
    """
    distances = _triplet_distances(e1, e2, e3, normalize)
    odd = _class_ids(odd_one_out, "odd_one_out")
    if odd.size != distances.shape[0]:
        raise ValueError(f"`odd_one_out` has {odd.size} values for {distances.shape[0]} triplets")
    out_of_range = odd[(odd < 0) | (odd > 2)]
    if out_of_range.size:
        raise ValueError(f"`odd_one_out` must be the 0-based index 0, 1 or 2, got {np.unique(out_of_range)[:10]}")
    rows = np.arange(odd.size)
    similar_distance = distances[rows, odd]
    other_distances = np.where(np.arange(3)[None, :] == odd[:, None], np.inf, distances)
    correct = similar_distance < other_distances.min(axis=1)

    results: dict[str, float | int] = {
        "accuracy": float(correct.mean()) if correct.size else float("nan"),
        "num_triplets": int(correct.size),
    }
    if triplet_type is not None:
        type_ids = triplet_type_ids(triplet_type)
        if type_ids.size != correct.size:
            raise ValueError(f"`triplet_type` has {type_ids.size} values for {correct.size} triplets")
        for type_id, name in enumerate(TRIPLET_TYPE_NAMES):
            of_type = correct[type_ids == type_id]
            results[f"accuracy_{name}"] = float(of_type.mean()) if of_type.size else float("nan")
            results[f"num_{name}"] = int(of_type.size)
    return results


def linear_probe(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Transfer score of frozen features: a logistic-regression classifier on the train split, scored on test.

    Features are standardised with the train split's mean and standard deviation (scikit-learn's
    ``StandardScaler``), then a multinomial ``LogisticRegression(C=C, max_iter=max_iter, random_state=seed)``
    is fitted. Returns ``accuracy`` and ``macro_f1`` on the test split.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_features = _to_numpy(train_x).astype(np.float64)
    test_features = _to_numpy(test_x).astype(np.float64)
    train_labels, test_labels = _class_ids(train_y, "train_y"), _class_ids(test_y, "test_y")
    if train_features.ndim != 2 or test_features.ndim != 2 or train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"features must be (N, D) with one D, got {train_features.shape} and {test_features.shape}")
    if train_features.shape[0] != train_labels.size or test_features.shape[0] != test_labels.size:
        raise ValueError("each feature matrix needs exactly one label per row")
    if np.unique(train_labels).size < 2:
        raise ValueError("the train split of a linear probe needs at least two classes")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    probe.fit(train_features, train_labels)
    predictions = probe.predict(test_features)
    return {"accuracy": accuracy(predictions, test_labels), "macro_f1": macro_f1(predictions, test_labels)}


__all__ = [
    "TRIPLET_TYPE_NAMES",
    "accuracy",
    "ccc",
    "expression_metrics",
    "linear_probe",
    "macro_f1",
    "predict_odd_one_out",
    "rmse",
    "triplet_accuracy",
    "triplet_type_ids",
    "valence_arousal_metrics",
]

"""The demo's figures (matplotlib, Agg backend: no display needed): training curves, confusion matrices and
a 2-D map of expression vectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_TITLES = {"teacher": "teacher", "student": "distilled student", "baseline": "student, no distillation"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_training_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a run's ``training_log.jsonl`` (one JSON object per line); ``[]`` when there is none.

    Non-finite values (written as ``"NaN"``, ``"Infinity"``) come back as floats.
    """
    from ..training.log_file import read_training_log as read_log

    return read_log(path)


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return path


def plot_training_curves(logs: Mapping[str, Sequence[dict[str, Any]]], path: Path) -> Path:
    """One panel per model: every logged ``train_*`` loss term against the optimizer step."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(logs), figsize=(5 * len(logs), 3.6), squeeze=False)
    for axis, (name, entries) in zip(axes[0], logs.items()):
        terms = sorted({key for entry in entries for key in entry if key.startswith("train_")})
        for term in terms:
            points = [(entry["step"], entry[term]) for entry in entries if term in entry]
            steps, values = zip(*points)
            axis.plot(steps, values, marker=".", label=term.removeprefix("train_"))
        axis.set_title(MODEL_TITLES.get(name, name))
        axis.set_xlabel("step")
        axis.set_ylabel("loss")
        axis.grid(alpha=0.3)
        if terms:
            axis.legend(fontsize=7)
    return _save(figure, path)


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``counts[true, predicted]``."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def plot_confusion_matrices(
    logits: Mapping[str, np.ndarray], labels: np.ndarray, names: Sequence[str], path: Path
) -> Path:
    """Row-normalised AffectNet confusion matrices (8 classes), one panel per model."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(logits), figsize=(4.6 * len(logits), 4.4), squeeze=False)
    for axis, (name, model_logits) in zip(axes[0], logits.items()):
        counts = confusion_matrix(np.argmax(model_logits, axis=1), labels, len(names))
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        axis.imshow(rates, vmin=0.0, vmax=1.0, cmap="Blues")
        for row in range(len(names)):
            for column in range(len(names)):
                axis.text(column, row, counts[row, column], ha="center", va="center", fontsize=7,
                          color="white" if rates[row, column] > 0.5 else "black")  # fmt: skip
        axis.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        axis.set_yticks(range(len(names)), names, fontsize=7)
        accuracy = float(np.mean(np.argmax(model_logits, axis=1) == labels))
        axis.set_title(f"{MODEL_TITLES.get(name, name)} ({accuracy:.1%})", fontsize=9)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
    return _save(figure, path)


def plot_expression_maps(
    vectors: Mapping[str, np.ndarray], labels: np.ndarray, names: Sequence[str], path: Path, *, seed: int = 0
) -> Path:
    """PCA of each model's expression vectors to 2-D, coloured by the true expression."""
    from sklearn.decomposition import PCA

    plt = _pyplot()
    figure, axes = plt.subplots(1, len(vectors), figsize=(5 * len(vectors), 4.4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for axis, (name, model_vectors) in zip(axes[0], vectors.items()):
        points = PCA(n_components=2, random_state=seed).fit_transform(model_vectors)
        for class_id, class_name in enumerate(names):
            chosen = labels == class_id
            axis.scatter(points[chosen, 0], points[chosen, 1], s=9, alpha=0.75, color=colours(class_id), label=class_name)
        axis.set_title(f"{MODEL_TITLES.get(name, name)}: expression vectors (PCA)", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    axes[0][-1].legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(figure, path)


__all__ = [
    "confusion_matrix",
    "plot_confusion_matrices",
    "plot_expression_maps",
    "plot_training_curves",
    "read_training_log",
]

"""Does a model's expression vector move more with the expression than with what is not the expression?

Given pairs of faces that differ in one factor only (e.g. from :func:`hf_deepfever.synthetic.nuisance_pairs.
render_nuisance_pairs`: pose, lighting or identity — the *nuisances* — or the expression), each face is embedded
through the model's own image processor, as training and inference crop it (face box, and landmarks when the
processor aligns), and the distance between the two L2-normalised vectors of each pair is taken. The figure is

    ratio(kind) = mean distance of the expression pairs / mean distance of the ``kind`` pairs

per nuisance kind, and overall against every nuisance pair together. Above 1 the vector moves more with the
expression than with that nuisance; a vector that ignored every nuisance would score far above 1, one that
ignored the expression below 1. No training loss looks at these pairs: nothing was tuned to this figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

EXPRESSION_KIND = "expression"
RATIO_KEY = "expression_nuisance_ratio"
"""The overall ratio's key in a model's results; per kind ``expression_nuisance_ratio_<kind>``."""


class Face(Protocol):
    """What is needed of a face: the picture, its face box ``[x, y, w, h]`` and landmarks, in pixels."""

    image: Any
    face_box: Sequence[float]
    landmarks: Any


class Pair(Protocol):
    """Two faces that differ in ``kind`` only (a nuisance kind, or :data:`EXPRESSION_KIND`)."""

    kind: str
    first: Face
    second: Face


Embedder = Callable[[Sequence[Face]], np.ndarray]
"""Faces -> ``(N, D)`` vectors."""


def processor_embedder(model: Any, processor: Any, *, batch_size: int = 64) -> Embedder:
    """Embed faces with ``model`` through its own processor: one call with the faces' boxes and landmarks (the
    processor uses the landmarks only when it has ``align_faces``), ``pooler_output`` as the vector."""

    @torch.no_grad()
    def embed(faces: Sequence[Face]) -> np.ndarray:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        vectors = []
        try:
            for start in range(0, len(faces), batch_size):
                batch = faces[start : start + batch_size]
                pixel_values = processor(
                    [face.image for face in batch],
                    face_boxes=[list(face.face_box) for face in batch],
                    face_landmarks=[np.asarray(face.landmarks, dtype=np.float32) for face in batch],
                    return_tensors="pt",
                )["pixel_values"]
                vectors.append(model(pixel_values=pixel_values.to(device)).pooler_output.float().cpu().numpy())
        finally:
            model.train(was_training)
        return np.concatenate(vectors)

    return embed


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def pair_distances(pairs: Sequence[Pair], embed: Embedder) -> np.ndarray:
    """Euclidean distance between the L2-normalised vectors of each pair's two faces, in pair order."""
    # Pairs share faces (every pair of a base starts from the same one): each face object is embedded once.
    faces = list({id(face): face for pair in pairs for face in (pair.first, pair.second)}.values())
    row = {id(face): index for index, face in enumerate(faces)}
    vectors = _unit(embed(faces))
    first = vectors[[row[id(pair.first)] for pair in pairs]]
    second = vectors[[row[id(pair.second)] for pair in pairs]]
    return np.linalg.norm(first - second, axis=1)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("inf")


def expression_nuisance_ratios(pairs: Sequence[Pair], embed: Embedder) -> dict[str, float]:
    """The ratios of the module docstring (keys :data:`RATIO_KEY` and ``<RATIO_KEY>_<kind>``) and the mean
    distances behind them (``nuisance_pairs_distance_<kind>``).

    Raises:
        ValueError: there are no expression pairs or no nuisance pairs.
    """
    distances = pair_distances(pairs, embed)
    kinds = np.array([pair.kind for pair in pairs])
    nuisance_kinds = [kind for kind in dict.fromkeys(kinds.tolist()) if kind != EXPRESSION_KIND]
    if EXPRESSION_KIND not in kinds or not nuisance_kinds:
        raise ValueError(f"need expression pairs and nuisance pairs, got kinds {sorted(set(kinds.tolist()))}")
    means = {kind: float(distances[kinds == kind].mean()) for kind in (EXPRESSION_KIND, *nuisance_kinds)}
    expression = means[EXPRESSION_KIND]
    results = {RATIO_KEY: _ratio(expression, float(distances[kinds != EXPRESSION_KIND].mean()))}
    results.update({f"{RATIO_KEY}_{kind}": _ratio(expression, means[kind]) for kind in nuisance_kinds})
    results.update({f"nuisance_pairs_distance_{kind}": value for kind, value in means.items()})
    return results


def model_nuisance_ratios(model: Any, processor: Any, pairs: Sequence[Pair], *, batch_size: int = 64) -> dict[str, float]:
    """:func:`expression_nuisance_ratios` of ``model``'s vectors, through its own processor."""
    return expression_nuisance_ratios(pairs, processor_embedder(model, processor, batch_size=batch_size))


__all__ = [
    "EXPRESSION_KIND",
    "RATIO_KEY",
    "Embedder",
    "expression_nuisance_ratios",
    "model_nuisance_ratios",
    "pair_distances",
    "processor_embedder",
]

"""DeepFEVER-AV's dev metrics and its single-stream references.

The fused model is judged against what each stream does alone, on the same dev steps:

* **visual only**: the frozen DeepFEVER extractor's own valence/arousal head applied to each step's expression
  vector (no training at all; a step without a face predicts the training mean);
* **audio only**: the same DeepFEVER-AV architecture trained with the same arguments, seed and steps but with
  the visual stream absent (every step gets the learned "missing face" vector) — trained by
  :func:`hf_deepfever.training.av.main` with ``--audio_only_baseline``;
* **training mean**: the constant any model must beat (its CCC is 0).

Keys: ``recola_dev_<dimension>_ccc`` for the fused model, ``recola_dev_<stream>_<dimension>_ccc`` for a reference
(``visual_only``, ``audio_only``, ``train_mean``), and ``..._mean_ccc`` for the mean of both dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core.vocabulary import VALENCE_AROUSAL
from ..metrics import ccc

VISUAL_INPUTS = ("visual_features", "face_mask")
"""The batch entries of the visual stream: left out of every batch of the audio-only reference."""
REFERENCE_STREAMS = ("visual_only", "audio_only")


def dev_results(predicted: np.ndarray, gold: np.ndarray, *, stream: str | None = None) -> dict[str, float]:
    """CCC per dimension and their mean over the concatenated dev steps; ``stream`` names a reference."""
    prefix = "recola_dev_" + (f"{stream}_" if stream else "")
    results = {f"{prefix}{name}_ccc": ccc(predicted[:, column], gold[:, column]) for column, name in enumerate(VALENCE_AROUSAL)}
    results[f"{prefix}mean_ccc"] = (results[f"{prefix}valence_ccc"] + results[f"{prefix}arousal_ccc"]) / 2
    return results


def visual_head(vision_model: str | None) -> Any | None:
    """The ``--vision_model``'s DeepFEVER with its heads (eval mode), or None when it has none (a bare extractor,
    or no trained model at all: then there is no visual-only reference to report)."""
    if not vision_model:
        return None
    from ..core.loading import load_model_and_processor

    model, _ = load_model_and_processor(vision_model, kind="image")
    return model.eval() if hasattr(model, "heads") else None


@torch.no_grad()
def visual_only_predictions(recordings: Sequence[Any], model: Any, train_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The head's (valence, arousal) of each labelled step's cached expression vector, and the gold labels.

    The cached vectors are the extractor's ``pooler_output``, which is what the heads read; steps without a face
    predict ``train_mean``.
    """
    predicted, gold = [], []
    for recording in recordings:
        labelled = torch.isfinite(recording.labels).all(dim=1)
        _, valence_arousal = model.heads(recording.visual.to(dtype=model.dtype))
        values = torch.where(recording.face_mask[:, None], valence_arousal.float(), torch.as_tensor(train_mean).float())
        predicted.append(values[labelled].numpy())
        gold.append(recording.labels[labelled].numpy())
    return np.concatenate(predicted), np.concatenate(gold)


def visual_only_results(recordings: Sequence[Any], model: Any, train_mean: np.ndarray) -> dict[str, float]:
    """:func:`dev_results` of the visual-only reference on ``recordings`` (the dev split)."""
    predicted, gold = visual_only_predictions(recordings, model, train_mean)
    return dev_results(predicted, gold, stream="visual_only")


def without_inputs(batch: dict[str, torch.Tensor], absent: Sequence[str]) -> dict[str, torch.Tensor]:
    """``batch`` without the entries of an absent stream (the model then uses its learned "missing" vector)."""
    return {key: value for key, value in batch.items() if key not in absent} if absent else batch


def fusion_verdict(results: dict[str, Any]) -> dict[str, bool]:
    """Per dimension and for their mean: does the fused model beat every single-stream reference measured?"""
    verdict = {}
    for name in (*VALENCE_AROUSAL, "mean"):
        references = [results.get(f"recola_dev_{stream}_{name}_ccc") for stream in REFERENCE_STREAMS]
        measured = [value for value in references if isinstance(value, float) and np.isfinite(value)]
        fused = results.get(f"recola_dev_{name}_ccc")
        verdict[name] = bool(measured) and isinstance(fused, float) and all(fused > value for value in measured)
    return verdict


__all__ = [
    "REFERENCE_STREAMS",
    "VISUAL_INPUTS",
    "dev_results",
    "fusion_verdict",
    "visual_head",
    "visual_only_predictions",
    "visual_only_results",
    "without_inputs",
]

"""DeepFEVER metrics as Hugging Face ``evaluate`` modules that load offline from this package.

``evaluate.load("accuracy")`` fetches its script from the Hub; these modules live in folders next to this
file (``<name>/<name>.py``, the layout ``evaluate`` accepts for a local module), so they load without a
network and compute with :mod:`hf_deepfever.metrics`:

>>> from hf_deepfever import evaluate_modules
>>> metric = evaluate_modules.load("concordance_correlation")
>>> metric.compute(predictions=[0.1, 0.5, 0.9], references=[0.0, 0.5, 1.0])["ccc"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODULE_NAMES: tuple[str, ...] = ("expression_accuracy", "concordance_correlation", "triplet_accuracy")
"""The names :func:`load` accepts."""


def module_path(name: str) -> Path:
    """Folder of the ``evaluate`` module ``name`` (it holds ``<name>.py``)."""
    if name not in MODULE_NAMES:
        raise ValueError(f"unknown DeepFEVER evaluate module {name!r}; available: {', '.join(MODULE_NAMES)}")
    return Path(__file__).resolve().parent / name


def load(name: str, **kwargs: Any) -> Any:
    """``evaluate.load`` of the local module ``name``; keyword arguments (``experiment_id``, ``num_process``,
    ``process_id``, ``cache_dir``, ...) are passed through. Returns an ``evaluate.Metric``."""
    import evaluate  # imported here: the rest of the package does not need it

    return evaluate.load(str(module_path(name)), **kwargs)


__all__ = ["MODULE_NAMES", "load", "module_path"]

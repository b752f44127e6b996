"""Readers for the corpora DeepFEVER trains on, each in its publisher's own on-disk layout.

Every loader returns a ``datasets.DatasetDict`` (or ``Dataset``) whose image columns hold absolute
paths decoded lazily. Imports are lazy so that ``import hf_deepfever.data`` stays cheap. The synthetic
demo corpus is written by :mod:`hf_deepfever.synthetic`, not here.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_EXPORTS = {
    "load_affectnet": ".affectnet",
    "load_fec": ".fec",
    "fec_image_filename": ".fec",
    "load_rafdb": ".rafdb",
    "load_recola": ".recola",
    "load_face_folder": ".faces",
    "AFFECTNET_EXPRESSIONS": "..core.vocabulary",
    "RAFDB_EXPRESSIONS": "..core.vocabulary",
    "RAFDB_TO_AFFECTNET": "..core.vocabulary",
}
_MOVED = {"make_demo_corpus": "..synthetic"}  # 0.1 names, removed in 0.3

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"hf_deepfever.data.{name} moved to hf_deepfever.synthetic.{name}", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(_MOVED[name], __name__), name)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hf_deepfever.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)

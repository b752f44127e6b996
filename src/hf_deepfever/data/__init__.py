"""Readers for the corpora DeepFEVER trains on, each in its publisher's own on-disk layout.

Every loader returns a ``datasets.DatasetDict`` (or ``Dataset``) whose image columns hold absolute
paths decoded lazily. Imports are lazy so that ``import hf_deepfever.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_affectnet": ".affectnet",
    "AFFECTNET_EXPRESSIONS": ".affectnet",
    "load_fec": ".fec",
    "fec_image_filename": ".fec",
    "load_rafdb": ".rafdb",
    "RAFDB_EXPRESSIONS": ".rafdb",
    "RAFDB_TO_AFFECTNET": ".rafdb",
    "load_recola": ".recola",
    "load_face_folder": ".faces",
    "make_demo_corpus": ".demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hf_deepfever.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)

"""A cache of checked ONNX exports, so that only the first extraction with a model pays for the export.

An entry is keyed by a SHA-256 of what decides the graph: the model's weights (every tensor, as stored), its
configuration (less the keys that only say who wrote it), its image processor's configuration, the model class,
the opset and the versions of torch and onnx that export it. An entry is made by
:func:`~hf_deepfever.inference.onnx.export_checked_onnx` (the graph is run by onnxruntime and compared with
PyTorch before it is kept) and records the SHA-256 of the graph it checked; the graph is used only when its bytes
still have that digest, and onnxruntime is given exactly those bytes. A missing, truncated or edited entry is
made again.

Where: ``$HF_DEEPFEVER_ONNX_CACHE`` if set, else ``$HF_HOME/hf_deepfever/onnx`` (``HF_HOME`` defaults to
``$XDG_CACHE_HOME/huggingface``, then ``~/.cache/huggingface``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.files import atomic_write_json
from .onnx import DEFAULT_OPSET, OnnxCheck, export_checked_onnx

logger = logging.getLogger(__name__)

CACHE_ENV_VAR = "HF_DEEPFEVER_ONNX_CACHE"
GRAPH_NAME = "model.onnx"
RECORD_NAME = "check.json"
CACHE_FORMAT = 1  # bump when the exported graph's inputs or outputs change
# Keys of a config that record who wrote it, not what the model computes (the weights' dtype is in their bytes).
_VOLATILE_CONFIG_KEYS = ("transformers_version", "_name_or_path", "_commit_hash", "dtype", "torch_dtype")


def default_cache_dir() -> Path:
    """The folder of the ONNX cache (see the module docstring); read from the environment at each call."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    hf_home = os.environ.get("HF_HOME")
    if not hf_home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        hf_home = os.path.join(cache, "huggingface")
    return Path(hf_home) / "hf_deepfever" / "onnx"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def export_key(model: torch.nn.Module, processor: Any = None, *, opset: int = DEFAULT_OPSET) -> str:
    """The SHA-256 (hex) an export of ``model`` is cached under (see the module docstring)."""
    import onnx

    digest = hashlib.sha256()
    config = model.config.to_dict()
    for key in _VOLATILE_CONFIG_KEYS:
        config.pop(key, None)
    header = {
        "format": CACHE_FORMAT,
        "class": type(model).__name__,
        "opset": opset,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "config": config,
        "processor": json.loads(processor.to_json_string()) if hasattr(processor, "to_json_string") else None,
    }
    digest.update(_canonical(header).encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"\0{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data if tensor.numel() else b"")
    return digest.hexdigest()


@dataclass
class CachedExport:
    """A checked graph from the cache: its bytes (what onnxruntime is given), where it lies, how it was checked,
    and whether this call made it (``exported``) or found it."""

    graph: bytes
    path: Path
    key: str
    max_abs_diff: dict[str, float]
    exported: bool


def _read_entry(folder: Path, key: str) -> CachedExport | None:
    """The entry in ``folder`` if it is whole and its graph has the digest that was checked, else None."""
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
        graph = (folder / GRAPH_NAME).read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or not record.get("ok"):
        return None
    if hashlib.sha256(graph).hexdigest() != record.get("graph_sha256"):
        logger.warning("%s does not match the export that was checked (changed or cut short): exporting again", folder / GRAPH_NAME)
        return None
    return CachedExport(graph, folder / GRAPH_NAME, key, dict(record.get("max_abs_diff") or {}), exported=False)


def cached_checked_onnx(
    model: torch.nn.Module,
    processor: Any = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    opset: int = DEFAULT_OPSET,
    tolerance: float = 1e-4,
) -> CachedExport:
    """The checked ONNX export of ``model``: from the cache when there, else exported, checked and stored.

    Raises:
        ValueError: the export differs from PyTorch by more than ``tolerance`` (nothing is cached).
        MissingDependencyError: the ``onnx`` extra is not installed.
    """
    from .onnx import _require_onnx

    _require_onnx()
    key = export_key(model, processor, opset=opset)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / key[:32]
    found = _read_entry(folder, key)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    check: OnnxCheck = export_checked_onnx(model, folder / GRAPH_NAME, opset=opset, tolerance=tolerance)
    graph = (folder / GRAPH_NAME).read_bytes()
    import onnxruntime

    atomic_write_json(
        folder / RECORD_NAME,
        {
            "key": key,
            "ok": check.ok,
            "graph_sha256": hashlib.sha256(graph).hexdigest(),
            "max_abs_diff": check.max_abs_diff,
            "tolerance": check.tolerance,
            "model_class": type(model).__name__,
            "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        },
    )
    return CachedExport(graph, folder / GRAPH_NAME, key, check.max_abs_diff, exported=True)


__all__ = ["CACHE_ENV_VAR", "CachedExport", "cached_checked_onnx", "default_cache_dir", "export_key"]

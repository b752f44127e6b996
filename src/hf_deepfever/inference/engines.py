"""The engine that runs a DeepFEVER model on batches of pixels: the fastest verified one by default.

``engine="auto"`` (the default of ``deepfever extract`` and of :func:`~hf_deepfever.inference.iter_extraction`):

- on CPU, with the ``onnx`` extra installed: the model's ONNX export run by onnxruntime (about 3x eager PyTorch
  for the model on CPU, see benchmarks/RESULTS.md). The export is checked against PyTorch when it is made and
  cached (:mod:`~hf_deepfever.inference.onnx_cache`), so only the first run pays for it. A model that is not a
  DeepFEVER model, or whose export fails its check, runs in PyTorch (with a one-line note);
- on CUDA: PyTorch in half precision (autocast for a float32 model; a model loaded in float16 runs as it is),
  channels-last memory format, inputs copied from pinned memory without blocking;
- elsewhere (CPU without the extra, a model loaded in another precision than float32, Apple MPS, ...): PyTorch
  as loaded.

``engine="torch"`` or ``"onnx"`` chooses; ``"onnx"`` runs on CPU only and needs the extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

logger = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` intra-op threads (None: unchanged), restoring the previous setting."""
    if count is None or count == torch.get_num_threads():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def onnx_available() -> bool:
    """Whether the ``onnx`` extra (onnx + onnxruntime) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def is_exportable(model: Any) -> bool:
    """Whether ``model`` is a DeepFEVER image model (what :func:`~hf_deepfever.inference.onnx.export_onnx` takes)."""
    config = getattr(model, "config", None)
    return (
        isinstance(model, torch.nn.Module)
        and getattr(config, "model_type", None) == "deepfever"
        and isinstance(getattr(config, "image_size", None), int)
    )


def _is_float32(model: torch.nn.Module) -> bool:
    """Whether the model computes in float32 (a model loaded in bfloat16 or float16 was asked for that precision:
    ``auto`` keeps it in PyTorch rather than running a float32 export)."""
    parameter = next(model.parameters(), None)
    return parameter is None or parameter.dtype == torch.float32


def _is_channels_last(model: torch.nn.Module) -> bool:
    """Whether the model's first 4-D weight is stored channels-last (then inputs should be too)."""
    for parameter in model.parameters():
        if parameter.ndim == 4:
            return parameter.is_contiguous(memory_format=torch.channels_last) and not parameter.is_contiguous()
    return False


@dataclass
class Engine:
    """A model ready to run on batches of pixels; call it with a ``(N, 3, S, S)`` float tensor.

    Attributes:
        name: ``"onnx"`` or ``"torch"``.
        description: one line for the user (engine, device, precision, threads).
        has_expression_heads: whether outputs carry ``logits`` and ``valence_arousal``.
        threads: intra-op threads of the model (onnxruntime's session, or torch's while calling), None: as set.
        export: the cached ONNX export, for the ``onnx`` engine.
    """

    name: str
    runner: Any
    device: torch.device
    input_dtype: torch.dtype
    channels_last: bool
    autocast_dtype: torch.dtype | None
    has_expression_heads: bool
    threads: int | None
    description: str
    export: Any = None

    @property
    def precision(self) -> str:
        """``float32``, ``float16`` or ``bfloat16``: what the vectors are computed in."""
        return str(self.autocast_dtype or self.input_dtype).removeprefix("torch.")

    @property
    def runs_in_workers(self) -> bool:
        """Whether each DataLoader worker can run its own copy (an onnxruntime graph: one session per process).
        The PyTorch engine runs in the calling process only: OpenMP's threads do not survive a fork, and a forked
        worker running the model on 2 threads hung (``--engine torch --num-workers 1`` never finished)."""
        return self.name == "onnx" and hasattr(self.runner, "with_threads")

    def in_workers(self, threads: int | None) -> Engine:
        """This engine as each DataLoader worker runs it, with ``threads`` intra-op threads per worker."""
        if not self.runs_in_workers:
            raise ValueError(f"the {self.name} engine runs in the calling process only")
        return replace(self, runner=self.runner.with_threads(threads), threads=threads,
                       description=_onnx_description(threads, self.export))

    def __call__(self, pixel_values: torch.Tensor) -> Any:
        pixels = pixel_values.to(self.device, dtype=self.input_dtype, non_blocking=True)
        if self.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        if self.name == "onnx":
            return self.runner(pixel_values=pixels)
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with torch_threads(self.threads), torch.inference_mode(), autocast:
            return self.runner(pixel_values=pixels)


def _onnx_engine(model: Any, processor: Any, threads: int | None, cache_dir: Any) -> Engine:
    from .onnx import PerProcessOnnxRunner, output_names
    from .onnx_cache import cached_checked_onnx

    export = cached_checked_onnx(model, processor, cache_dir=cache_dir)
    runner = PerProcessOnnxRunner(export.graph, model.config, threads=threads,
                                  has_expression_heads="logits" in output_names(model))
    return Engine(
        name="onnx",
        runner=runner,
        device=torch.device("cpu"),
        input_dtype=torch.float32,
        channels_last=False,
        autocast_dtype=None,
        has_expression_heads=runner.has_expression_heads,
        threads=threads,
        description=_onnx_description(threads, export),
        export=export,
    )


def _onnx_description(threads: int | None, export: Any) -> str:
    made = "made and checked now" if export.exported else "from the cache"
    worst = max(export.max_abs_diff.values(), default=0.0)
    return (f"onnxruntime (CPU, float32, {threads or 'default'} thread(s); export {made}, "
            f"max |diff| vs PyTorch {worst:.1e})")


def _torch_engine(model: torch.nn.Module, device: torch.device, threads: int | None) -> Engine:
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device != device:
        model.to(device)
    dtype = parameter.dtype if parameter is not None else torch.float32
    autocast_dtype = None
    channels_last = _is_channels_last(model)
    if device.type == "cuda":
        if dtype == torch.float32:
            autocast_dtype = torch.float16  # half precision without casting the caller's weights
        if not channels_last and any(p.ndim == 4 for p in model.parameters()):
            model.to(memory_format=torch.channels_last)  # same values, NHWC storage: faster convolutions on GPUs
            channels_last = True
    torch_threads_count = threads if device.type == "cpu" else None
    precision = str(autocast_dtype or dtype).removeprefix("torch.")
    layout = ", channels-last" if channels_last else ""
    thread_note = f", {torch_threads_count} thread(s)" if torch_threads_count else ""
    return Engine(
        name="torch",
        runner=model,
        device=device,
        input_dtype=dtype if dtype.is_floating_point else torch.float32,
        channels_last=channels_last,
        autocast_dtype=autocast_dtype,
        has_expression_heads=hasattr(model, "heads"),
        threads=torch_threads_count,
        description=f"PyTorch ({device}, {precision}{layout}{thread_note})",
    )


def prepare_engine(
    model: Any,
    processor: Any = None,
    *,
    engine: str = "auto",
    device: torch.device | str | None = None,
    threads: int | None = None,
    cache_dir: Any = None,
) -> Engine:
    """The :class:`Engine` for ``model`` (see the module docstring for what ``engine`` chooses).

    Args:
        model: a DeepFEVER image model (or any module called as ``model(pixel_values=...)``), in eval mode.
        processor: its image processor (part of the ONNX cache key).
        device: where PyTorch runs (default: the model's device).
        threads: intra-op threads of the model on CPU (None: as torch or onnxruntime set them).
        cache_dir: the ONNX cache folder (default: see :func:`~hf_deepfever.inference.onnx_cache.default_cache_dir`).

    Raises:
        ValueError: an unknown engine, ``"onnx"`` off the CPU or for a model that is not DeepFEVER, or an export
            that fails its check (for ``"onnx"``; ``"auto"`` then runs PyTorch).
        MissingDependencyError: ``"onnx"`` without the ``onnx`` extra.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if isinstance(device, str) or device is None:
        from .devices import checked_device

        parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
        device = parameter.device if device is None and parameter is not None else checked_device(device)
    if engine == "onnx":
        if device.type != "cpu":
            raise ValueError(f"the onnx engine runs on CPU (onnxruntime's CPU provider); got device {device}")
        if not is_exportable(model):
            raise ValueError(f"the onnx engine needs a DeepFEVER image model, got {type(model).__name__}")
        return _onnx_engine(model, processor, threads, cache_dir)
    if engine == "auto" and device.type == "cpu" and onnx_available() and is_exportable(model) and _is_float32(model):
        try:
            return _onnx_engine(model, processor, threads, cache_dir)
        except Exception as error:  # any export or check failure: the PyTorch path still gives right vectors
            logger.warning("engine auto: the ONNX export is not usable (%s); running PyTorch", error)
    return _torch_engine(model, device, threads)


__all__ = ["ENGINES", "Engine", "is_exportable", "onnx_available", "prepare_engine", "torch_threads"]

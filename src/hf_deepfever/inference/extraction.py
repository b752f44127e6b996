"""Batched expression-vector extraction from image files, with decoding overlapped with compute.

Decoding and preprocessing run in DataLoader workers while the model computes the previous batch, so on
a busy accelerator (or several CPU cores) the input side does not add to the model's time. Used by
`deepfever extract` and by the benchmarks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..core.images import ImageFileError, open_image


def resolve_device(device: str | None) -> torch.device:
    """`"auto"`/None -> CUDA, then Apple MPS, then CPU; anything else is passed to `torch.device`."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def default_num_workers() -> int:
    """Decoding workers: enough to keep up with the model without starving its own threads."""
    return min(4, max(1, (os.cpu_count() or 1) - 1))


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


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


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass: 32 on accelerators; 4 on CPU, where larger batches no longer fit the caches
    (efficientnet_b0 @ 224 on one core: 35 ms/image at batch 1 and 4, 38 at 8, 66 at 16, 95 at 32)."""
    return 4 if device.type == "cpu" else 32


class ImagePreprocessingError(ValueError):
    """A readable image file the processor failed on: a bug or an unsupported input, never skipped."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot preprocess the image ({reason})")


class ImageFileDataset(Dataset):
    """Image files -> preprocessed pixel tensors. Nothing raises inside a DataLoader worker (where a traceback
    would reach the user without the file's name): an unreadable file (`ImageFileError`) yields its reason as
    `unreadable`, any other failure of the processor on a readable file yields its description as `failed`;
    the caller decides (see `iter_extraction`).

    Files are opened with their EXIF orientation applied: boxes and crops refer to the upright photo.
    """

    def __init__(self, files: Sequence[Path], processor: Any) -> None:
        self.files = list(files)
        self.processor = processor

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None, str | None]:
        try:
            image = open_image(self.files[index], exif=True)
        except ImageFileError as error:
            return index, None, error.reason, None
        try:
            pixels = self.processor(image, return_tensors="pt")["pixel_values"][0]
        except Exception as error:  # reported in the main process with the file's name
            return index, None, None, f"{type(error).__name__}: {error}"
        return index, pixels, None, None


def collate_image_files(items: list[tuple[int, torch.Tensor | None, str | None, str | None]]) -> dict[str, Any]:
    good = [(index, pixels) for index, pixels, _, _ in items if pixels is not None]
    return {
        "indices": [index for index, _ in good],
        "pixel_values": torch.stack([pixels for _, pixels in good]) if good else None,
        "errors": [(index, reason) for index, _, reason, _ in items if reason is not None],
        "failures": [(index, reason) for index, _, _, reason in items if reason is not None],
    }


@dataclass
class ExtractionBatch:
    """Model outputs for the images of one batch that could be read (numpy, float32)."""

    paths: list[Path]
    vectors: np.ndarray
    probabilities: np.ndarray | None = None  # (n, num_labels) when the model has expression heads
    valence_arousal: np.ndarray | None = None


@dataclass
class ExtractionReport:
    """What an extraction run skipped, for the final summary."""

    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _is_channels_last(model: torch.nn.Module) -> bool:
    """Whether the model's first 4-D weight is stored channels-last (then inputs should be too)."""
    for parameter in model.parameters():
        if parameter.ndim == 4:
            return parameter.is_contiguous(memory_format=torch.channels_last) and not parameter.is_contiguous()
    return False


def iter_extraction(
    model: torch.nn.Module,
    processor: Any,
    files: Sequence[Path],
    *,
    batch_size: int | None = None,
    num_workers: int | None = None,
    device: torch.device | str | None = None,
    skip_bad: bool = False,
    report: ExtractionReport | None = None,
    num_threads: int | None = None,
) -> Iterator[ExtractionBatch]:
    """Yield one `ExtractionBatch` per batch of files, in file order.

    `batch_size` None: `default_batch_size(device)`. `num_threads` sets torch's intra-op threads for the
    model while extracting. None (default): on CPU with
    decoding workers, cores - workers, so that the model's threads and the workers never outnumber the cores
    (oversubscribed OpenMP threads wait on each other: measured 10x slower on a loaded 2-core machine, see
    benchmarks/RESULTS.md); otherwise torch's current setting. Workers always run single-threaded (the
    DataLoader sets that in each worker).

    An unreadable file (missing, truncated, not an image, a decompression bomb) raises `ImageFileError` naming
    it, unless `skip_bad`, in which case it is recorded in `report.skipped` and left out. A readable file the
    processor fails on always raises `ImagePreprocessingError` naming it: `skip_bad` never hides a bug.
    """
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    batch_size = default_batch_size(device) if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    workers = default_num_workers() if num_workers is None else num_workers
    workers = min(workers, max(0, (len(files) + batch_size - 1) // batch_size))  # no idle workers for tiny runs
    loader = DataLoader(
        ImageFileDataset(files, processor),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_image_files,
        pin_memory=device.type == "cuda",
        prefetch_factor=2 if workers else None,
        persistent_workers=False,
    )
    if num_threads is None and device.type == "cpu" and workers > 0:
        num_threads = max(1, usable_cores() - workers)
    # `model` may also be an `onnx_export.OnnxRuntimeExtractor`, which states these instead of having parameters.
    has_heads = getattr(model, "has_expression_heads", hasattr(model, "heads"))
    dtype = getattr(model, "input_dtype", None) or next(model.parameters()).dtype
    channels_last = isinstance(model, torch.nn.Module) and _is_channels_last(model)
    with torch_threads(num_threads), torch.inference_mode():
        for batch in loader:
            for index, reason in batch["failures"]:
                raise ImagePreprocessingError(files[index], reason)
            for index, reason in batch["errors"]:
                if not skip_bad:
                    raise ImageFileError(files[index], reason)
                if report is not None:
                    report.skipped.append((files[index], reason))
            if batch["pixel_values"] is None:
                continue
            pixels = batch["pixel_values"].to(device, dtype=dtype, non_blocking=True)
            if channels_last:
                pixels = pixels.contiguous(memory_format=torch.channels_last)
            outputs = model(pixel_values=pixels)
            paths = [files[index] for index in batch["indices"]]
            vectors = outputs.pooler_output.float().cpu().numpy()
            if has_heads:
                probabilities = outputs.logits.float().softmax(-1).cpu().numpy()
                valence_arousal = outputs.valence_arousal.float().cpu().numpy()
                yield ExtractionBatch(paths, vectors, probabilities, valence_arousal)
            else:
                yield ExtractionBatch(paths, vectors)


__all__ = [
    "ExtractionBatch",
    "ExtractionReport",
    "ImageFileDataset",
    "ImagePreprocessingError",
    "collate_image_files",
    "default_batch_size",
    "default_num_workers",
    "iter_extraction",
    "resolve_device",
    "torch_threads",
    "usable_cores",
]

"""Inference over image files: batched extraction with decoding in DataLoader workers, devices and threads,
and the ONNX export run in onnxruntime. ``deepfever extract`` and the benchmarks are built on it."""

from .extraction import (
    ExtractionBatch,
    ExtractionReport,
    ImageFileDataset,
    collate_image_files,
    default_batch_size,
    default_num_workers,
    iter_extraction,
    resolve_device,
    torch_threads,
    usable_cores,
)

__all__ = [
    "ExtractionBatch",
    "ExtractionReport",
    "ImageFileDataset",
    "collate_image_files",
    "default_batch_size",
    "default_num_workers",
    "iter_extraction",
    "resolve_device",
    "torch_threads",
    "usable_cores",
]

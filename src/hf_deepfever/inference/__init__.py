"""Inference over images: batched extraction with decoding in DataLoader workers on the fastest verified engine
(onnxruntime on CPU, half-precision PyTorch on CUDA), sharded resumable output, several processes through
Accelerate. ``deepfever extract`` and the benchmarks are built on it."""

from .batching import BatchPlan
from .engines import ENGINES, Engine, prepare_engine, torch_threads
from .extraction import (
    ExtractionBatch,
    ExtractionReport,
    FaceDetection,
    ImageFileDataset,
    collate_image_files,
    default_batch_size,
    default_num_workers,
    iter_extraction,
    resolve_device,
    usable_cores,
)

__all__ = [
    "BatchPlan",
    "ENGINES",
    "Engine",
    "ExtractionBatch",
    "ExtractionReport",
    "FaceDetection",
    "ImageFileDataset",
    "collate_image_files",
    "default_batch_size",
    "default_num_workers",
    "iter_extraction",
    "prepare_engine",
    "resolve_device",
    "torch_threads",
    "usable_cores",
]

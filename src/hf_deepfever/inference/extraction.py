"""Batched expression-vector extraction from images, decoding overlapped with compute, on the fastest engine.

Decoding, face detection and preprocessing run in DataLoader workers. The engine (see
:mod:`~hf_deepfever.inference.engines`: onnxruntime on CPU when the ``onnx`` extra is installed, half-precision
channels-last PyTorch on CUDA) runs in the workers too when it can (onnxruntime on CPU: one session per worker and
core), otherwise in the calling process on the previous batch while the workers decode; see
:mod:`~hf_deepfever.inference.work_split`. On CPU the model's threads plus the workers never outnumber the cores.
Used by ``deepfever extract``, :mod:`~hf_deepfever.inference.job` and the benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from ..core.images import ImageFileError
from .batching import BatchPlan
from .engines import Engine, prepare_engine, torch_threads
from .sources import FileSource
from .work_split import calling_process_threads, default_num_workers, split_work, usable_cores


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None -> CUDA, then Apple MPS, then CPU; otherwise the device named, checked to exist here
    (a ``ValueError`` that says why, see :func:`~hf_deepfever.inference.devices.checked_device`)."""
    if isinstance(device, torch.device):
        return device
    from .devices import checked_device

    return checked_device(device, option="device")


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass: 4 on CPU, where larger batches no longer fit the caches (efficientnet_b0 @ 224,
    one core: onnxruntime 107 images/s at batch 4, 86 at 16, 47 at 32; eager PyTorch 35 ms/image at batch 4,
    95 at 32); 64 on accelerators."""
    return 4 if device.type == "cpu" else 64


class ImagePreprocessingError(ValueError):
    """A readable image file the processor failed on: a bug or an unsupported input, never skipped."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot preprocess the image ({reason})")


@dataclass(frozen=True)
class FaceDetection:
    """Detect faces and give one row per face (``deepfever extract --detect-faces``).

    Attributes:
        detector: a detector name (``haar``, ``dlib``, ``yunet:PATH``; resolve ``auto`` first with
            :meth:`resolved`, so every worker uses the same one).
        min_face_size: smallest face kept, in pixels of the upright image.
        max_faces: keep only the largest ``max_faces`` faces of an image (None: all).
    """

    detector: str = "auto"
    min_face_size: float | None = None
    max_faces: int | None = None

    def resolved(self) -> FaceDetection:
        """This setting with ``auto`` replaced by the detector it picks here (loading it once, so a missing
        extra is reported before any worker starts)."""
        from ..models.deepfever.face_detection_deepfever import load_face_detector

        detector = load_face_detector(self.detector)
        name = self.detector if self.detector.split(":")[0].strip().lower() != "auto" else detector.name
        return FaceDetection(name, self.min_face_size, self.max_faces)


class PreparedImage(NamedTuple):
    """One input, preprocessed: ``pixels`` ``(k, 3, S, S)`` (k = 1 for a whole image or a given box, the number
    of faces found with detection, possibly 0), and the faces' boxes and scores (detection) or the given box."""

    pixels: torch.Tensor
    boxes: list[tuple[float, float, float, float]] | None = None
    scores: list[float] | None = None


class PreparedItem(NamedTuple):
    index: int
    prepared: PreparedImage | None
    unreadable: str | None  # why the input cannot be used (skipped with --skip-bad)
    failed: str | None  # a failure of the processor on a readable input (never skipped)
    name: str


def prepare_image(processor: Any, image: Any, box: Any = None, faces: FaceDetection | None = None) -> PreparedImage:
    """The one preparation of an input for the model: the whole image, the given ``box``, or every detected face
    (``faces``; each crop is ``processor(image, face_boxes=[box], face_landmarks=[landmarks])``)."""
    if faces is None:
        kwargs = {"face_boxes": [box]} if box is not None else {}
        pixels = processor(image, return_tensors="pt", **kwargs)["pixel_values"]
        return PreparedImage(pixels, None if box is None else [tuple(box)])
    from ..models.deepfever.face_detection_deepfever import upright_rgb_array
    from ..core.face_front_end import face_pixel_values, find_faces

    found = find_faces(upright_rgb_array(image), detector=faces.detector, min_face_size=faces.min_face_size)
    found = found[: faces.max_faces] if faces.max_faces is not None else found
    if not found:
        size = processor.size
        side = int(size["height"] if isinstance(size, dict) else size.height)
        return PreparedImage(torch.zeros(0, 3, side, side), [], [])
    pixels = face_pixel_values(processor, image, found)
    return PreparedImage(pixels, [tuple(face.box) for face in found], [float(face.score) for face in found])


def _prepare(source: Any, processor: Any, faces: FaceDetection | None, index: int, row: Any = None) -> PreparedItem:
    """Decode and prepare one input; nothing raises (inside a worker a traceback would lose the input's name)."""
    name = source.name(index) if row is None else None
    try:
        if row is None:
            image, box = source.load(index)
        else:
            name, image, box = source.decode(index, row)
    except ImageFileError as error:
        return PreparedItem(index, None, error.reason, None, name or error.path)
    try:
        return PreparedItem(index, prepare_image(processor, image, box, faces), None, None, name)
    except Exception as error:  # reported in the main process with the input's name
        return PreparedItem(index, None, None, f"{type(error).__name__}: {error}", name)


class PreparedImages(Dataset):
    """A map-style source -> :class:`PreparedItem` per input (decoded, detected, preprocessed)."""

    def __init__(self, source: Any, processor: Any, faces: FaceDetection | None = None) -> None:
        self.source = source
        self.processor = processor
        self.faces = faces

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> PreparedItem:
        return _prepare(self.source, self.processor, self.faces, index)


class ImageFileDataset(PreparedImages):
    """Image files -> ``(index, prepared, unreadable, failed)``. Nothing raises inside a DataLoader worker: an
    unreadable file (`ImageFileError`) yields its reason as `unreadable`, any other failure of the processor on
    a readable file yields its description as `failed`; the caller decides (see `iter_extraction`).

    Files are opened with their EXIF orientation applied: boxes and crops refer to the upright photo.
    """

    def __init__(self, files: Sequence[Path], processor: Any, faces: FaceDetection | None = None) -> None:
        super().__init__(FileSource(files), processor, faces)

    def __getitem__(self, index: int) -> tuple[int, PreparedImage | None, str | None, str | None]:  # type: ignore[override]
        return tuple(super().__getitem__(index))[:4]  # type: ignore[return-value]


def collate_prepared(items: list[PreparedItem]) -> dict[str, Any]:
    """Items of one batch -> the faces' pixels stacked, and per input what happened to it."""
    good = [item for item in items if item.prepared is not None]
    stacks = [item.prepared.pixels for item in good if item.prepared.pixels.shape[0]]
    return {
        "items": [item._replace(prepared=None) if item.prepared is None else item for item in items],
        "pixel_values": torch.cat(stacks) if stacks else None,
    }


def collate_image_files(items: list[Any]) -> dict[str, Any]:
    """:func:`collate_prepared` (kept under its 0.2 name)."""
    return collate_prepared([item if isinstance(item, PreparedItem) else PreparedItem(*item, name="") for item in items])


class _StreamingBatches(IterableDataset):
    """A streaming source read in order; each worker decodes only its share of the planned batches (every
    ``workers``-th one), so the DataLoader's round-robin returns them in plan order. The last item of each
    worker is ``{"stream_rows": N}``: how many rows the stream had."""

    def __init__(self, source: Any, processor: Any, faces: FaceDetection | None, plan: BatchPlan) -> None:
        self.source, self.processor, self.faces, self.plan = source, processor, faces, plan

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        current: list[Any] = []
        current_batch = None
        ordinal = -1
        count = 0
        for index, row in self.source.rows():
            count = index + 1
            batch = self.plan.batch_of(index)
            if batch != current_batch:
                if current:
                    yield collate_prepared(current)
                current, current_batch = [], batch
                if batch is not None:
                    ordinal += 1
            if batch is not None and ordinal % workers == worker:
                current.append(_prepare(self.source, self.processor, self.faces, index, row))
        if current:
            yield collate_prepared(current)
        yield {"stream_rows": count}


@dataclass
class ExtractionBatch:
    """Model outputs for the rows of one batch (numpy, float32), with what happened to each input.

    A row is an input (whole image or given box), or one detected face (``face_index`` 0 = largest), or an
    image without a face (``face_index`` -1, ``has_output`` False, NaN outputs).
    """

    paths: list[str]
    vectors: np.ndarray
    probabilities: np.ndarray | None = None  # (n, num_labels) when the model has expression heads
    valence_arousal: np.ndarray | None = None
    indices: list[int] = field(default_factory=list)  # the input of each row
    has_output: np.ndarray | None = None  # (n,) bool
    face_index: np.ndarray | None = None  # (n,) int, with face detection
    boxes: np.ndarray | None = None  # (n, 4) x, y, w, h (NaN: none), with detection or given boxes
    detection_scores: np.ndarray | None = None  # (n,), with detection
    done: list[int] = field(default_factory=list)  # every input finished in this batch, rows or skipped
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (input, name, reason)
    without_face: int = 0


@dataclass
class ExtractionReport:
    """What an extraction run skipped and found, for the final summary."""

    skipped: list[tuple[str, str]] = field(default_factory=list)
    images_without_face: int = 0
    faces: int = 0
    rows: int = 0
    stream_rows: int | None = None  # how many rows a streaming source had (known at its end)
    engine: str = ""


def _outputs(engine: Engine, pixels: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    outputs = engine(pixels)
    vectors = outputs.pooler_output.float().cpu().numpy()
    if not engine.has_expression_heads:
        return vectors, None, None
    probabilities = outputs.logits.float().softmax(-1).cpu().numpy()
    return vectors, probabilities, outputs.valence_arousal.float().cpu().numpy()


def _rows(items: list[PreparedItem], faces: FaceDetection | None, outputs: tuple[Any, Any, Any] | None) -> ExtractionBatch:
    """Spread the outputs of one batch over its rows (see :class:`ExtractionBatch`)."""
    vectors, probabilities, affect = outputs if outputs is not None else (None, None, None)
    paths, indices, positions, face_index, boxes, scores = [], [], [], [], [], []
    position = 0
    without_face = 0
    for item in items:
        prepared = item.prepared
        if prepared is None:
            continue
        count = prepared.pixels.shape[0]
        if faces is not None and count == 0:
            paths.append(item.name), indices.append(item.index), positions.append(-1)
            face_index.append(-1), boxes.append((np.nan,) * 4), scores.append(np.nan)
            without_face += 1
            continue
        for face in range(count):
            paths.append(item.name), indices.append(item.index), positions.append(position + face)
            face_index.append(face)
            boxes.append(prepared.boxes[face] if prepared.boxes else (np.nan,) * 4)
            scores.append(prepared.scores[face] if prepared.scores else np.nan)
        position += count
    rows = np.asarray(positions, dtype=np.int64)
    has_output = rows >= 0

    def spread(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        out = np.full((len(rows), values.shape[1]), np.nan, dtype=np.float32)
        out[has_output] = values[rows[has_output]]
        return out

    dim = vectors.shape[1] if vectors is not None else 0
    given_boxes = any(item.prepared is not None and item.prepared.boxes for item in items)
    return ExtractionBatch(
        paths=paths,
        vectors=spread(vectors) if vectors is not None else np.full((len(rows), dim), np.nan, np.float32),
        probabilities=spread(probabilities),
        valence_arousal=spread(affect),
        indices=indices,
        has_output=has_output,
        face_index=np.asarray(face_index, dtype=np.int64) if faces is not None else None,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if faces is not None or given_boxes else None,
        detection_scores=np.asarray(scores, dtype=np.float64) if faces is not None else None,
        done=[item.index for item in items],
        without_face=without_face,
    )


class _CollateAndRun:
    """A worker's collate function when the model runs in the workers: the batch's outputs instead of its pixels."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, items: list[PreparedItem]) -> dict[str, Any]:
        batch = collate_prepared(items)
        pixels = batch.pop("pixel_values")
        batch["outputs"] = _outputs(self.engine, pixels) if pixels is not None else None
        return batch


def make_loader(
    source: Any,
    processor: Any,
    plan: BatchPlan,
    *,
    workers: int,
    device: torch.device,
    faces: FaceDetection | None = None,
    worker_engine: Engine | None = None,
) -> DataLoader:
    """The DataLoader of planned batches: map-style sources through a batch sampler, streaming ones in order.
    With ``worker_engine`` each worker also runs the model on its batches (see :class:`_CollateAndRun`)."""
    options: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": device.type == "cuda",  # page-locked batches: the copy to the GPU does not block
        "prefetch_factor": (4 if device.type == "cuda" else 2) if workers else None,
        "persistent_workers": False,
    }
    if getattr(source, "streaming", False):
        return DataLoader(_StreamingBatches(source, processor, faces, plan), batch_size=None, **options)
    return DataLoader(
        PreparedImages(source, processor, faces), batch_sampler=plan.sampler(len(source)),
        collate_fn=_CollateAndRun(worker_engine) if worker_engine is not None else collate_prepared, **options,
    )


def iter_extraction(
    model: Any,
    processor: Any,
    inputs: Any,
    *,
    batch_size: int | None = None,
    num_workers: int | None = None,
    device: torch.device | str | None = None,
    skip_bad: bool = False,
    report: ExtractionReport | None = None,
    num_threads: int | None = None,
    engine: str = "auto",
    faces: FaceDetection | None = None,
    plan: BatchPlan | None = None,
    cache_dir: Any = None,
    cores: int | None = None,
) -> Iterator[ExtractionBatch]:
    """Yield one :class:`ExtractionBatch` per batch of inputs, in input order.

    Args:
        model: a DeepFEVER image model, or an :class:`~hf_deepfever.inference.engines.Engine` already prepared
            (then ``engine``, ``device`` and ``num_threads`` are its own).
        inputs: image files (a sequence of paths) or a source (:mod:`~hf_deepfever.inference.sources`).
        engine: ``"auto"`` (default: the fastest verified engine, see :mod:`~hf_deepfever.inference.engines`),
            ``"torch"`` or ``"onnx"``.
        batch_size: None: :func:`default_batch_size`. ``plan`` (batches aligned to shards, or a share of them)
            replaces it.
        num_workers: DataLoader workers (None: see :func:`~hf_deepfever.inference.work_split.split_work`; never
            more than there are batches). With the onnxruntime engine on CPU each worker also runs the model.
        num_threads: the model's intra-op threads: per worker when the model runs in the workers (None: the cores
            divided between them); otherwise, on CPU, cores - workers, so that the model's threads and the workers
            never outnumber the cores (oversubscribed OpenMP threads wait on each other: measured 10x slower on a
            loaded 2-core machine, see benchmarks/RESULTS.md).
        faces: detect faces and give one row per face (see :class:`FaceDetection`).
        cores: the cores this process may use (default: all it may run on).

    An unusable input (missing, truncated, not an image, a decompression bomb, a bad face box) raises
    `ImageFileError` naming it, unless `skip_bad`, in which case it is recorded in `report.skipped` and left out.
    A readable input the processor fails on always raises `ImagePreprocessingError` naming it: `skip_bad` never
    hides a bug.
    """
    if isinstance(inputs, (list, tuple)):
        inputs = FileSource(inputs)
    engine_ = model if isinstance(model, Engine) else None
    device = engine_.device if engine_ is not None else resolve_device(device)
    if plan is None:
        size = default_batch_size(device) if batch_size is None else batch_size
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {size}")
        plan = BatchPlan(size)
    streaming = getattr(inputs, "streaming", False)
    batches = None if streaming else plan.count(len(inputs))
    cores = usable_cores() if cores is None else cores
    if engine_ is None:
        if hasattr(model, "has_expression_heads") and not isinstance(model, torch.nn.Module):
            engine_ = _wrapped_runner(model)  # an OnnxRuntimeExtractor built by the caller
        else:
            threads = calling_process_threads(device, cores=cores, workers=num_workers, threads=num_threads,
                                              batches=batches, streaming=streaming)
            engine_ = prepare_engine(model, processor, engine=engine, device=device, threads=threads, cache_dir=cache_dir)
    split = split_work(engine_, device, cores=cores, workers=num_workers, threads=num_threads, batches=batches,
                       streaming=streaming)
    worker_engine = engine_.in_workers(split.threads) if split.model_in_workers else None
    if report is not None:
        report.engine = f"{(worker_engine or engine_).description}; {split.describe()}"
    loader = make_loader(inputs, processor, plan, workers=split.workers, device=device, faces=faces,
                         worker_engine=worker_engine)
    # In the calling process the engine sets its own threads around each call; the workers decode meanwhile.
    for batch in loader:
        if "stream_rows" in batch:
            if report is not None:
                report.stream_rows = max(report.stream_rows or 0, batch["stream_rows"])
            continue
        skipped = []
        for item in batch["items"]:
            if item.failed is not None:
                raise ImagePreprocessingError(item.name, item.failed)
            if item.unreadable is not None:
                if not skip_bad:
                    raise ImageFileError(item.name, item.unreadable)
                skipped.append((item.index, item.name, item.unreadable))
        if "outputs" in batch:  # computed by the worker
            outputs = batch["outputs"]
        else:
            pixels = batch["pixel_values"]
            outputs = _outputs(engine_, pixels) if pixels is not None else None
        result = _rows(batch["items"], faces, outputs)
        result.skipped = skipped
        if report is not None:
            report.skipped.extend((name, reason) for _, name, reason in skipped)
            report.images_without_face += result.without_face
            report.rows += len(result.paths)
            report.faces += int(result.has_output.sum()) if faces is not None else 0
        yield result


def _wrapped_runner(runner: Any) -> Engine:
    """An ``OnnxRuntimeExtractor`` (or any runner stating ``has_expression_heads``) as an :class:`Engine`."""
    return Engine(
        name="onnx", runner=runner, device=torch.device("cpu"), input_dtype=getattr(runner, "input_dtype", torch.float32),
        channels_last=False, autocast_dtype=None, has_expression_heads=runner.has_expression_heads, threads=None,
        description=f"{type(runner).__name__} (given)",
    )


__all__ = [
    "ExtractionBatch",
    "ExtractionReport",
    "FaceDetection",
    "ImageFileDataset",
    "ImagePreprocessingError",
    "PreparedImage",
    "PreparedImages",
    "collate_image_files",
    "collate_prepared",
    "default_batch_size",
    "default_num_workers",
    "iter_extraction",
    "make_loader",
    "prepare_image",
    "resolve_device",
    "torch_threads",
    "usable_cores",
]

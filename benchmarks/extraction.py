"""Benchmark 2: end-to-end extraction (JPEG files on disk -> expression vectors), against the loop users write and
against the chosen engine alone.

Compared in one process, interleaved, on the same files and the same weights:
- `loop_timm` / `loop_processor`: what users of other libraries write: PIL open, a transform (timm's eval transform,
  or DeepFEVER's processor), one eager PyTorch call per image, torch's default threads (and the processor loop at
  one thread). The fastest is the baseline;
- `extract_default`: what `deepfever extract FILES --output OUT.parquet` runs after loading the model, defaults
  only: the engine `auto` picks (onnxruntime on CPU when the onnx extra is installed; the checked export comes from
  the cache, as on every run but the first), with its work split (onnxruntime: one DataLoader worker per core, each
  decoding and running its own session; workers started and sessions built inside the timing), rows written to a
  Parquet file;
- `extract_torch`: the same with `--engine torch`;
- `engine_model_only`: the chosen engine on pixels already in memory, at the default batch, the same threads and
  copies (one per worker, side by side, when the model runs in the workers): what extraction would reach if
  decoding cost nothing.
Targets (issue 14, this 2-core machine): extract_default >= 2.5x the best loop, and >= 0.8 of engine_model_only.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .fixtures import save_model, write_jpegs
from .timing import interleaved, ratio, summary


def _loop_timm(model: torch.nn.Module, files: list[Path]):
    """Per-image PIL + timm transform + model call."""
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config({}, model=model.backbone))

    def run() -> list[torch.Tensor]:
        vectors = []
        with torch.inference_mode():
            for path in files:
                with Image.open(path) as image:
                    pixels = transform(image.convert("RGB")).unsqueeze(0)
                vectors.append(model(pixel_values=pixels).pooler_output)
        return vectors

    return run


def _loop_processor(model: torch.nn.Module, processor: Any, files: list[Path]):
    """Per-image PIL + DeepFEVER's processor + model call."""
    from PIL import Image

    def run() -> list[torch.Tensor]:
        vectors = []
        with torch.inference_mode():
            for path in files:
                with Image.open(path) as image:
                    pixels = processor(image.convert("RGB"), return_tensors="pt")["pixel_values"]
                vectors.append(model(pixel_values=pixels).pooler_output)
        return vectors

    return run


def _with_threads(count: int, fn):
    from hf_deepfever.inference import torch_threads

    def run():
        with torch_threads(count):
            return fn()

    return run


def _cli_engine(model: torch.nn.Module, processor: Any, engine: str) -> tuple[Any, Any, int]:
    """The engine, the work split and the batch that `deepfever extract` picks on this machine's CPU."""
    from hf_deepfever.inference import default_batch_size, prepare_engine, usable_cores
    from hf_deepfever.inference.work_split import calling_process_threads, split_work

    device = torch.device("cpu")
    cores = usable_cores()
    prepared = prepare_engine(model, processor, engine=engine, device="cpu",
                              threads=calling_process_threads(device, cores=cores))
    return prepared, split_work(prepared, device, cores=cores), default_batch_size(device)


def _extract(model: torch.nn.Module, processor: Any, files: list[Path], output: Path, engine: str):
    """`deepfever extract` after model loading: engine prepared (cached export), rows into a Parquet file."""
    from hf_deepfever.inference.job import extract_to_file
    from hf_deepfever.inference.sources import FileSource
    from hf_deepfever.inference.tables import RowLayout

    layout = RowLayout(dim=int(model.config.embedding_dim), id2label=None)

    def run() -> Any:
        prepared, split, batch = _cli_engine(model, processor, engine)
        return extract_to_file(prepared, processor, FileSource(files), output, layout, metadata={}, batch_size=batch,
                               workers=split.workers, threads=split.threads, faces=None, skip_bad=False)

    return run


def _engine_only(model: torch.nn.Module, processor: Any, count: int, image_size: int):
    """The chosen engine as extraction runs it, on pixels already in memory: one copy per worker, run side by side
    (onnxruntime releases the GIL), when the model runs in the workers; otherwise the calling process's engine."""
    from concurrent.futures import ThreadPoolExecutor

    engine, split, batch = _cli_engine(model, processor, "auto")
    copies = [engine.in_workers(split.threads) for _ in range(split.workers)] if split.model_in_workers else [engine]
    pixels = torch.randn(batch, 3, image_size, image_size)
    calls = -(-count // batch)
    shares = [len(range(index, calls, len(copies))) for index in range(len(copies))]
    for copy in copies:
        copy(pixels)  # each copy builds its session outside the timing, as a worker does before its first batch
    pool = ThreadPoolExecutor(len(copies))

    def batches() -> list[Any]:
        return list(pool.map(lambda pair: [pair[0](pixels) for _ in range(pair[1])], zip(copies, shares)))

    one = torch.randn(1, 3, image_size, image_size)
    return engine, split, batch, len(copies), batches, (lambda: [copies[0](one) for _ in range(8)])


def run(quick: bool, images: int | None = None, repeats: int | None = None) -> dict[str, Any]:
    from hf_deepfever import load_model_and_processor

    backbone, image_size, photo_size, count, default_repeats = (
        ("test_efficientnet", 64, 96, 16, 1) if quick else ("efficientnet_b0", 224, 448, 512, 3)
    )
    count = images or count
    repeats = repeats or default_repeats
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as workdir:
        files = write_jpegs(Path(workdir) / "faces", count, photo_size)
        model_dir = save_model(Path(workdir) / "model", backbone, image_size, with_heads=False)
        start = time.perf_counter()
        model, processor = load_model_and_processor(model_dir, device=torch.device("cpu"))
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        engine, split, batch, copies, engine_batches, engine_batch_1 = _engine_only(model, processor, count, image_size)
        first_prepare_s = time.perf_counter() - start
        candidates = {
            "loop_timm": _loop_timm(model, files),
            "loop_processor": _loop_processor(model, processor, files),
            "extract_default": _extract(model, processor, files, Path(workdir) / "default.parquet", "auto"),
            "extract_torch": _extract(model, processor, files, Path(workdir) / "torch.parquet", "torch"),
            "engine_model_only": engine_batches,
            "engine_batch_1_x8": engine_batch_1,
        }
        if threads != 1:  # the loop at one thread too, so that a thread setting cannot flatter extract
            candidates["loop_processor_1_thread"] = _with_threads(1, _loop_processor(model, processor, files))
        times = {name: summary(t) for name, t in interleaved(candidates, repeats=repeats, warmup=1).items()}

    median = {name: t["median_s"] for name, t in times.items()}
    loops = [name for name in median if name.startswith("loop_")]
    images_per_s = {name: count / median[name] for name in (*loops, "extract_default", "extract_torch",
                                                            "engine_model_only")}
    loop_s = min(median[name] for name in loops)
    speedup = ratio(loop_s, median["extract_default"])
    of_model_only = ratio(median["engine_model_only"], median["extract_default"])
    # What batching gains one copy of the engine: its time per image at batch 1 over that at the default batch
    # (copies running side by side each take `copies` times the shared time per image).
    per_image = median["engine_model_only"] * copies / (-(-count // batch) * batch)
    ceiling = ratio(median["engine_batch_1_x8"] / 8, per_image)
    return {
        "description": (
            f"{count} JPEGs {photo_size}px -> vectors, {backbone} @ {image_size}; extract defaults: engine "
            f"{engine.name} ({engine.description}), batch {batch}, {split.describe()}; loops with torch threads "
            f"{threads}"
        ),
        "threads": threads,
        "headline": {
            "metric": "extract defaults vs best per-image loop (speedup), and vs the engine alone (fraction)",
            "value": speedup,
            "target": ">= 2.5 (and >= 0.8 of model-only)",
            "holds": speedup >= 2.5 and of_model_only >= 0.8,
        },
        "figures": {
            "speedup_vs_best_peer": speedup,
            "overlap_efficiency": of_model_only,
            "ceiling_batch1_over_batchB": ceiling,
            "speedup_torch_engine_vs_best_peer": ratio(loop_s, median["extract_torch"]),
            "images_per_s": images_per_s,
            "engine": engine.description,
            "default_batch_size": batch,
            "workers": split.workers,
            "model_threads": split.threads,
            "model_in_workers": split.model_in_workers,
            "model_load_s": load_s,
            "first_engine_prepare_s": first_prepare_s,
            "times": times,
        },
    }


if __name__ == "__main__":
    import argparse
    import json

    from .timing import loadavg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--images", type=int, default=None, help="JPEGs (default: 16 quick, 512 full)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default: 1 quick, 3 full)")
    args = parser.parse_args()
    before = loadavg()
    result = run(args.quick, args.images, args.repeats)
    print(json.dumps({"loadavg_before": before, "loadavg_after": loadavg(), **result}, indent=2, default=str))

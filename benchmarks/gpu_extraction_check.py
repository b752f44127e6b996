"""One short GPU check for issue 14 (run on a machine with CUDA; prepared, not run on the CPU-only machine):
images/s of `deepfever extract`'s default path end to end (JPEG decode in DataLoader workers included) against the
CUDA engine alone (half precision, channels-last) at the same batch, and the half-precision vectors against float32.

    python -m benchmarks.gpu_extraction_check [--images 2048] [--photo-size 448] [--backbone efficientnet_b0]

Prints one JSON object (machine, load, settings, images/s, ratios); paste the figures into benchmarks/RESULTS.md.
Takes about a minute on one GPU (most of it writing the JPEGs and the first CUDA calls).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--photo-size", type=int, default=448)
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine")

    from hf_deepfever import load_model_and_processor
    from hf_deepfever.core.images import open_image
    from hf_deepfever.inference import default_batch_size, default_num_workers, iter_extraction, prepare_engine, usable_cores

    from .fixtures import save_model, write_jpegs
    from .timing import loadavg, machine_info

    device = torch.device("cuda")
    batch = default_batch_size(device)
    workers = default_num_workers(device)
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="gpu_extraction_") as workdir:
        files = write_jpegs(Path(workdir) / "faces", args.images, args.photo_size)
        model_dir = save_model(Path(workdir) / "model", args.backbone, args.image_size, with_heads=True)
        model, processor = load_model_and_processor(model_dir, device=device)
        engine = prepare_engine(model, processor, engine="auto", device=device)

        pixels = torch.randn(batch, 3, args.image_size, args.image_size).pin_memory()
        calls = -(-args.images // batch)
        for _ in range(3):  # warm-up: cuDNN picks its kernels
            engine(pixels)
        torch.cuda.synchronize()

        def model_only() -> float:
            start = time.perf_counter()
            for _ in range(calls):
                engine(pixels).pooler_output.float().cpu()  # the copy back that extraction does too
            torch.cuda.synchronize()
            return time.perf_counter() - start

        def end_to_end() -> float:
            start = time.perf_counter()
            for _ in iter_extraction(engine, processor, files, num_workers=workers):
                pass
            torch.cuda.synchronize()
            return time.perf_counter() - start

        end_to_end()  # warm-up: page cache, worker start
        model_s = min(model_only() for _ in range(args.repeats))
        e2e_s = min(end_to_end() for _ in range(args.repeats))

        # Half precision against float32 on the same crops.
        sample = processor([open_image(path) for path in files[:32]], return_tensors="pt")["pixel_values"]
        half = engine(sample).pooler_output.float().cpu()
        with torch.inference_mode():  # the same weights without autocast: float32
            full = model(pixel_values=sample.to(device)).pooler_output.float().cpu()
        cosine = torch.nn.functional.cosine_similarity(half, full).min().item()

    images = calls * batch
    print(json.dumps({
        "machine": machine_info(),
        "gpu": torch.cuda.get_device_name(0),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "cpu_cores": usable_cores(),
        "settings": {"backbone": args.backbone, "image_size": args.image_size, "photo_size": args.photo_size,
                     "images": args.images, "batch": batch, "decoding_workers": workers, "engine": engine.description},
        "model_only_images_per_s": images / model_s,
        "end_to_end_images_per_s": args.images / e2e_s,
        "end_to_end_over_model_only": (args.images / e2e_s) / (images / model_s),
        "min_cosine_float16_vs_float32": cosine,
        "pid": os.getpid(),
    }, indent=2))


if __name__ == "__main__":
    main()

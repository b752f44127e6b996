"""Peak memory of `deepfever extract --output DIR/` as the corpus grows: 1x and 10x the images, each in a fresh process.

The corpus is `n` JPEGs (hard links to a few distinct photos, so building 10x costs no disk; decoding costs the same).
Each run is a child process running the CLI; it reports its own peak RSS (VmHWM) and the largest of its finished
children (the DataLoader workers). Flat memory: the 10x run's peak exceeds the 1x run's by a few MiB (the list of
paths, one Arrow string each), not by 10x the rows, because rows go to disk a batch at a time.

    python -m benchmarks.extraction_memory [--images 1000] [--backbone test_efficientnet --image-size 64]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_CHILD = r"""
import json, resource, sys
from hf_deepfever.cli import main
code = main(sys.argv[1:])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"code": code, "peak_rss_mb": hwm, "workers_peak_rss_mb": children}))
"""


def write_corpus(folder: Path, count: int, distinct: int = 16, size: int = 96) -> Path:
    """`count` JPEG paths in `folder`: `distinct` photos, hard-linked (copied where links fail) to make up the count."""
    from .fixtures import write_jpegs

    originals = write_jpegs(folder / "_originals", distinct, size)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        target = images / f"face_{index:07d}.jpg"
        source = originals[index % distinct]
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())
    return images


def peak_rss_of_extract(images: Path, model: Path, output: Path, *extra: str) -> dict[str, Any]:
    """Run `deepfever extract IMAGES --model MODEL --output OUTPUT/ ...` in a fresh process; its peak RSS in MiB."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, "extract", str(images), "--model", str(model), "--output", f"{output}/", *extra],
        capture_output=True, text=True, env=env, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"extract failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(images: int = 1000, backbone: str = "test_efficientnet", image_size: int = 64, shard_size: int = 500) -> dict[str, Any]:
    from .fixtures import save_model

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_extract_memory_") as workdir:
        root = Path(workdir)
        model = save_model(root / "model", backbone, image_size, with_heads=True)
        for factor in (1, 10):
            corpus = write_corpus(root / f"x{factor}", images * factor)
            results[f"{factor}x"] = {
                "images": images * factor,
                **peak_rss_of_extract(corpus, model, root / f"out_{factor}", "--shard-size", str(shard_size)),
            }
    growth = results["10x"]["peak_rss_mb"] - results["1x"]["peak_rss_mb"]
    return {
        "description": f"deepfever extract --output DIR/ --shard-size {shard_size}, {backbone} @ {image_size}, "
        f"{images} and {10 * images} JPEGs (96 px), fresh process each",
        "peak_rss_mb": {key: value["peak_rss_mb"] for key, value in results.items()},
        "growth_mb_for_9x_more_images": growth,
        "runs": results,
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--backbone", default="test_efficientnet")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(run(args.images, args.backbone, args.image_size, args.shard_size), indent=2))

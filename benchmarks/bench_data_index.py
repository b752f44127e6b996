"""How long indexing a full-size AffectNet training list takes, and how much memory it needs.

    python -m benchmarks.bench_data_index [--rows 415000]

Writes an AffectNet layout with ``rows`` training rows (realistic lines: 136 landmarks each, about
1 KB) and 5,500 validation rows, all pointing at hard links of a few small JPEGs spread over 1,000
sub-folders, as in the real archive. Then, in a fresh process (so the peak RSS is the loader's
alone), it times ``load_affectnet`` twice: cold (parse, validate, list the folders, write the Arrow
cache) and warm (the cache is reused). Images are not decoded: indexing only. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REAL_TRAINING_ROWS = 414_799
_SUBFOLDERS = 1_000
_LINKS_PER_FILE = 50_000


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def write_layout(root: Path, rows: int, seed: int = 0) -> None:
    """An AffectNet layout of ``rows`` training rows; every image is a hard link to one JPEG."""
    from hf_deepfever.synthetic import layouts  # here, not at the top: the measuring child stays lean

    rng = np.random.default_rng(seed)
    images = layouts.affectnet_images_dir(root, "train")
    root.mkdir(parents=True, exist_ok=True)
    jpeg = _tiny_jpeg()
    originals: list[Path] = []  # ext4 allows 65,000 links per file: one original per 50,000 links
    landmark_pool = [layouts.format_landmarks(rng.uniform(0, 500, 136)) for _ in range(256)]
    links = [0]

    def list_rows(count: int, prefix: str) -> Iterator[str]:
        """The list's lines, linking each row's image as it goes (streamed: the list never sits in memory)."""
        per_folder = max(1, -(-count // _SUBFOLDERS))
        for start in range(0, count, 10_000):
            block = range(start, min(count, start + 10_000))
            expressions = rng.integers(0, 11, len(block))
            affect = np.round(rng.uniform(-1, 1, (len(block), 2)), 4)
            for offset, row in enumerate(block):
                folder, name = row // per_folder, f"{prefix}{row:07d}.jpg"
                link = images / str(folder) / name
                if not link.parent.is_dir():
                    link.parent.mkdir(parents=True)
                if len(originals) * _LINKS_PER_FILE <= links[0]:
                    originals.append(root / f"original_{len(originals)}.jpg")
                    originals[-1].write_bytes(jpeg)
                os.link(originals[-1], link)
                links[0] += 1
                valence, arousal = (-2, -2) if expressions[offset] >= 9 else affect[offset]
                landmarks = landmark_pool[row % 256]
                yield layouts.format_affectnet_row(
                    f"{folder}/{name}", (10, 12, 200, 210), landmarks, expressions[offset], valence, arousal
                )

    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "train"), list_rows(rows, "t"))
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "validation"), list_rows(5_500, "v"))


def _measure(root: str, cache_dir: str) -> dict[str, Any]:
    """Run in a fresh process: cold and warm ``load_affectnet``, and this process's peak RSS."""
    from hf_deepfever.data import load_affectnet

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu_start = time.perf_counter(), time.process_time()
        cold = load_affectnet(root, cache_dir=cache_dir)
        cold_s, cold_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        start = time.perf_counter()
        warm = load_affectnet(root, cache_dir=cache_dir)
        warm_s = time.perf_counter() - start
    assert warm["train"].num_rows == cold["train"].num_rows
    return {
        "cold_index_s": round(cold_s, 2),
        "cold_index_cpu_s": round(cold_cpu_s, 2),  # all threads; on a busy machine wall time exceeds it
        "warm_cache_s": round(warm_s, 3),
        "train_rows_kept": cold["train"].num_rows,
        "validation_rows_kept": cold["validation"].num_rows,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_imports_mb": round(rss_before, 1),
    }


def run(rows: int = REAL_TRAINING_ROWS) -> dict[str, Any]:
    """Write the layout in a temporary folder, measure indexing in a fresh process, clean up."""
    from hf_deepfever.synthetic.layouts import affectnet_list_path  # here, not at the top: the child stays lean

    workdir = Path(tempfile.mkdtemp(prefix="bench_affectnet_"))
    try:
        start = time.perf_counter()
        write_layout(workdir / "affectnet", rows)
        setup_s = time.perf_counter() - start
        csv_mb = affectnet_list_path(workdir / "affectnet", "train").stat().st_size / 2**20
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            result = pool.apply(_measure, (str(workdir / "affectnet"), str(workdir / "cache")))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load = []
    return {
        "benchmark": "affectnet_index",
        "training_rows": rows,
        "training_csv_mb": round(csv_mb, 1),
        "setup_s": round(setup_s, 1),
        **result,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "loadavg": load,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=REAL_TRAINING_ROWS, help="training.csv rows (default: AffectNet's)")
    result = run(parser.parse_args(argv).rows)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

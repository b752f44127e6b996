"""Benchmark 7: peak memory of batch inference at batch 1, 32 and 256.

CPU: each measurement runs in its own fresh process, which loads the model, builds the input, notes its
resident set size (restarting the kernel's high-water mark there), runs one forward pass under
`inference_mode`, and reports its peak RSS (VmHWM) minus that baseline: the memory the forward pass itself needs. CUDA: `torch.cuda.max_memory_allocated`.
--quick measures in-process by sampling RSS (fresh processes cost seconds each on a loaded machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import torch

from .timing import current_rss_mb, peak_rss_mb, reset_peak_rss

_CHILD = """
import json, sys, torch
from benchmarks.memory import measure_in_this_process
print(json.dumps(measure_in_this_process(*json.loads(sys.argv[1]))))
"""


def _model(backbone: str, image_size: int):
    from hf_deepfever import DeepFeverConfig, DeepFeverModel

    return DeepFeverModel(DeepFeverConfig(backbone=backbone, image_size=image_size)).eval()


def measure_in_this_process(backbone: str, image_size: int, batch: int, threads: int) -> dict[str, float]:
    """Run in a fresh process: peak RSS growth of one forward pass (and the model's parameter MiB)."""
    torch.set_num_threads(threads)
    model = _model(backbone, image_size)
    pixels = torch.randn(batch, 3, image_size, image_size)
    reset_peak_rss()
    baseline = current_rss_mb()
    with torch.inference_mode():
        model(pixels)
    return {
        "forward_peak_mb": peak_rss_mb() - baseline,
        "model_and_input_rss_mb": baseline,
        "process_peak_mb": peak_rss_mb(),
        "input_mb": pixels.numel() * 4 / 2**20,
    }


def _sampled(backbone: str, image_size: int, batch: int) -> dict[str, float]:
    """In-process approximation: RSS sampled every millisecond during the forward pass."""
    model = _model(backbone, image_size)
    pixels = torch.randn(batch, 3, image_size, image_size)
    baseline, peak, done = current_rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], current_rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with torch.inference_mode():
        model(pixels)
    done.set()
    sampler.join()
    return {"forward_peak_mb": max(0.0, peak[0] - baseline), "input_mb": pixels.numel() * 4 / 2**20}


def _cuda(backbone: str, image_size: int, batch: int) -> dict[str, float]:
    model = _model(backbone, image_size).cuda()
    pixels = torch.randn(batch, 3, image_size, image_size, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.inference_mode():
        model(pixels)
    torch.cuda.synchronize()
    return {"forward_peak_mb": (torch.cuda.max_memory_allocated() - before) / 2**20, "input_mb": pixels.numel() * 4 / 2**20}


def run(quick: bool) -> dict[str, Any]:
    backbone, image_size, batches = ("test_efficientnet", 64, (1, 32, 256)) if quick else ("efficientnet_b0", 224, (1, 32, 256))
    threads = torch.get_num_threads()
    results: dict[str, Any] = {}
    for batch in batches:
        if torch.cuda.is_available():
            results[str(batch)] = _cuda(backbone, image_size, batch)
        elif quick:
            results[str(batch)] = _sampled(backbone, image_size, batch)
        else:
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, json.dumps([backbone, image_size, batch, threads])],
                check=True, capture_output=True, text=True,
            )
            results[str(batch)] = json.loads(out.stdout.strip().splitlines()[-1])
    per_image_32 = results["32"]["forward_peak_mb"] / 32
    per_image_256 = results["256"]["forward_peak_mb"] / 256
    return {
        "description": f"DeepFeverModel {backbone} @ {image_size} forward, peak memory above the loaded model",
        "threads": threads,
        "headline": {
            "metric": "forward peak MiB per image, batch 256 / batch 32 (1 = linear growth)",
            "value": per_image_256 / per_image_32 if per_image_32 > 0 else float("nan"),
            "target": "report",
            "holds": None,
        },
        "figures": {
            "method": "cuda max_memory_allocated" if torch.cuda.is_available()
            else ("in-process RSS sampling" if quick else "fresh process per batch, VmHWM - RSS before forward"),
            "by_batch": results,
        },
    }

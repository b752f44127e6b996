"""Benchmark 6: inference options vs eager float32 PyTorch, same model, same batch, interleaved.

Options: channels_last memory format, bfloat16 autocast, torch.compile (inductor; compile time reported
apart), and the ONNX export run with onnxruntime (same thread count as torch). Each figure is a speedup
(eager time / option time, medians) plus the largest |difference| of the expression vectors from eager.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .timing import interleaved, ratio, summary


def run(quick: bool) -> dict[str, Any]:
    from hf_deepfever import DeepFeverConfig, DeepFeverModel
    from hf_deepfever.inference.onnx import export_onnx, onnx_session

    backbone, image_size, batch, repeats = ("test_efficientnet", 64, 4, 2) if quick else ("efficientnet_b0", 224, 32, 5)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    model = DeepFeverModel(DeepFeverConfig(backbone=backbone, image_size=image_size)).eval()
    pixels = torch.randn(batch, 3, image_size, image_size)
    channels_last_model = DeepFeverModel(model.config).eval()
    channels_last_model.load_state_dict(model.state_dict())
    channels_last_model = channels_last_model.to(memory_format=torch.channels_last)
    pixels_cl = pixels.contiguous(memory_format=torch.channels_last)

    def eager():
        return model(pixels).pooler_output

    def channels_last():
        return channels_last_model(pixels_cl).pooler_output

    def bf16_autocast():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(pixels).pooler_output.float()

    candidates = {"eager_fp32": eager, "channels_last": channels_last, "bf16_autocast": bf16_autocast}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_onnx_") as workdir:
        start = time.perf_counter()
        session = onnx_session(export_onnx(model, Path(workdir) / "model.onnx"), threads=threads)
        extra["onnx_export_s"] = time.perf_counter() - start
    array = pixels.numpy()
    candidates["onnxruntime"] = lambda: torch.from_numpy(session.run(None, {"pixel_values": array})[0])
    if quick:
        extra["torch_compile"] = "skipped in --quick (compiling takes minutes on a loaded CPU)"
    else:
        compiled = torch.compile(model)
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                compiled(pixels)
            extra["compile_s"] = time.perf_counter() - start
            candidates["torch_compile"] = lambda: compiled(pixels).pooler_output
        except Exception as error:  # e.g. no C++ compiler for inductor: report, don't hide
            extra["torch_compile"] = f"failed: {type(error).__name__}: {str(error)[:200]}"

    with torch.inference_mode():
        reference = eager()
        max_diff = {name: float((fn().float() - reference).abs().max()) for name, fn in candidates.items()}
        times = {name: summary(t) for name, t in interleaved(candidates, repeats=repeats, warmup=1).items()}
    eager_s = times["eager_fp32"]["median_s"]
    speedups = {name: ratio(eager_s, t["median_s"]) for name, t in times.items() if name != "eager_fp32"}
    best = max(speedups, key=speedups.get)
    return {
        "description": f"DeepFeverModel {backbone} @ {image_size}, batch {batch}, {threads} thread(s)",
        "threads": threads,
        "headline": {
            "metric": f"best option speedup over eager fp32 ({best})",
            "value": speedups[best],
            "target": "report; keep options > 1.05",
            "holds": None,
        },
        "figures": {
            "speedup_over_eager": speedups,
            "max_abs_vector_diff_vs_eager": max_diff,
            "ms_per_image": {name: 1e3 * t["median_s"] / batch for name, t in times.items()},
            **extra,
            "times": times,
        },
    }

"""Benchmark 3: achieved GFLOP/s of the backbone forward vs this machine's large-sgemm GFLOP/s.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (convolutions and matmuls only: the
element-wise work of batch norms, activations and squeeze-excite is not counted, although it takes time).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .timing import interleaved, ratio, summary


def count_flops(module: torch.nn.Module, inputs: torch.Tensor) -> tuple[int, dict[str, int]]:
    """Total FLOPs of one forward and the share of each operator type."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        module(inputs)
    by_op: dict[str, int] = {}
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        by_op[str(op)] = int(flops)
    return int(counter.get_total_flops()), by_op


def run(quick: bool) -> dict[str, Any]:
    import timm

    backbone, image_size, batch, gemm, repeats = (
        ("test_efficientnet", 64, 4, 512, 3) if quick else ("efficientnet_b0", 224, 32, 2048, 5)
    )
    torch.manual_seed(0)
    model = timm.create_model(backbone, pretrained=False, num_classes=0).eval()
    pixels = torch.randn(batch, 3, image_size, image_size)
    model_flops, by_op = count_flops(model, pixels)
    a, b = torch.randn(gemm, gemm), torch.randn(gemm, gemm)
    gemm_flops = 2 * gemm**3
    small = pixels[: max(1, batch // 4)].contiguous()  # same images in batches of B/4: fits the caches better
    with torch.inference_mode():
        times = interleaved(
            {
                "sgemm": lambda: a @ b,
                "backbone": lambda: model(pixels),
                "backbone_quarter_batches": lambda: [model(part) for part in pixels.split(len(small))],
            },
            repeats=repeats,
            warmup=1,
        )
    sgemm, forward = summary(times["sgemm"]), summary(times["backbone"])
    quarter = summary(times["backbone_quarter_batches"])
    peak = gemm_flops / sgemm["min_s"] / 1e9
    achieved = model_flops / forward["min_s"] / 1e9
    # Depthwise convolutions (groups == channels) do few FLOPs per byte moved: memory-bound, not compute-bound.
    depthwise = sum(
        2 * m.weight.numel() // max(1, m.out_channels) for m in model.modules()
        if isinstance(m, torch.nn.Conv2d) and m.groups > 1
    )
    return {
        "description": f"{backbone} @ {image_size}, batch {batch} forward vs {gemm}x{gemm} sgemm",
        "threads": torch.get_num_threads(),
        "headline": {
            "metric": "backbone GFLOP/s / sgemm GFLOP/s",
            "value": ratio(achieved, peak),
            "target": "report (no target)",
            "holds": None,
        },
        "figures": {
            "sgemm_gflops": peak,
            "backbone_gflops": achieved,
            "backbone_gflops_at_quarter_batch": model_flops / quarter["min_s"] / 1e9,
            "ratio_at_quarter_batch": ratio(model_flops / quarter["min_s"] / 1e9, peak),
            "backbone_gflop_per_forward": model_flops / 1e9,
            "flops_by_op": by_op,
            "depthwise_conv_layers": sum(
                1 for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1
            ),
            "depthwise_weight_elems_per_out_channel": depthwise,
            "sgemm": sgemm,
            "backbone": forward,
            "backbone_quarter_batches": quarter,
        },
    }

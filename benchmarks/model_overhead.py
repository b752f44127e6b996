"""Benchmark 1: `DeepFeverModel` forward vs the bare timm backbone forward with the same weights.

The wrapper adds input checks, the projection and the L2 normalisation; the target is <= 5% on top of
the backbone at batch 32. Min of N interleaved repeats after warm-up (single shots vary by about 5%).
"""

from __future__ import annotations

from typing import Any

import torch

from .timing import interleaved, ratio, summary

TARGET = 1.05


def run(quick: bool) -> dict[str, Any]:
    from hf_deepfever import DeepFeverConfig, DeepFeverModel

    backbone, image_size, batch, repeats = (
        ("test_efficientnet", 64, 4, 3) if quick else ("efficientnet_b0", 224, 32, 10)
    )
    torch.manual_seed(0)
    model = DeepFeverModel(DeepFeverConfig(backbone=backbone, image_size=image_size)).eval()
    pixels = torch.randn(batch, 3, image_size, image_size)
    with torch.inference_mode():
        times = interleaved(
            {"timm_backbone": lambda: model.backbone(pixels), "deepfever_model": lambda: model(pixels)},
            repeats=repeats,
            warmup=1,
        )
    bare, ours = summary(times["timm_backbone"]), summary(times["deepfever_model"])
    overhead = ratio(ours["min_s"], bare["min_s"])
    return {
        "description": f"DeepFeverModel vs model.backbone forward, {backbone} @ {image_size}, batch {batch}",
        "threads": torch.get_num_threads(),
        "headline": {
            "metric": "DeepFeverModel time / timm backbone time (min of repeats)",
            "value": overhead,
            "target": f"<= {TARGET}",
            "holds": overhead <= TARGET,
        },
        "figures": {
            "timm_backbone": bare,
            "deepfever_model": ours,
            "ratio_min": overhead,
            "ratio_median": ratio(ours["median_s"], bare["median_s"]),
        },
    }

"""Benchmark 5: data. (a) Indexing a 415k-row AffectNet list: seconds and peak RSS (`bench_data_index`).
(b) Does the training data loader keep up with the training step, with the default number of workers?

(b) runs the real training input path (`load_affectnet` -> `affectnet_face_rows` -> `FaceRowTransform` with
augmentation -> DataLoader with `TrainingLoopArguments`' default `dataloader_num_workers`) on distinct JPEGs,
and times: the loader alone, the training step alone (forward + backward + AdamW on a fixed batch), and
both together. combined / step-alone throughput near 1 means the loader keeps up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .fixtures import write_affectnet_layout
from .timing import ratio

AFFECTNET_TRAINING_ROWS = 414_799


def _loader(root: Path, cache_dir: Path, image_size: int, batch: int, workers: int):
    from torch.utils.data import DataLoader

    from hf_deepfever import DeepFeverImageProcessor
    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import affectnet_face_rows
    from hf_deepfever.training.inputs import FaceRowTransform, collate_rows

    splits = load_affectnet(str(root), cache_dir=str(cache_dir))
    rows = affectnet_face_rows(splits["train"])
    processor = DeepFeverImageProcessor(size={"height": image_size, "width": image_size})
    dataset = rows.with_transform(FaceRowTransform(processor, augment=True, seed=0))
    return DataLoader(dataset, batch_size=batch, shuffle=True, collate_fn=collate_rows, num_workers=workers)


def loader_vs_step(quick: bool) -> dict[str, Any]:
    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition
    from hf_deepfever.training.arguments import TrainingLoopArguments

    workers = TrainingLoopArguments.__dataclass_fields__["dataloader_num_workers"].default
    backbone, image_size, photo_size, count, batch = (
        ("test_efficientnet", 64, 96, 16, 4) if quick else ("efficientnet_b0", 224, 448, 128, 32)
    )
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone=backbone, image_size=image_size)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(inputs: dict[str, torch.Tensor]) -> None:
        optimizer.zero_grad(set_to_none=True)
        model(pixel_values=inputs["pixel_values"], labels=inputs["labels"],
              valence_arousal=inputs["valence_arousal"]).loss.backward()
        optimizer.step()

    with tempfile.TemporaryDirectory(prefix="bench_loader_") as workdir:
        root = write_affectnet_layout(Path(workdir) / "affectnet", count, photo_size)
        loader = _loader(root, Path(workdir) / "cache", image_size, batch, workers)
        fixed = next(iter(loader))
        step(fixed)  # warm-up
        batches = len(loader)

        start = time.perf_counter()
        for _ in range(batches):
            step(fixed)
        step_s = time.perf_counter() - start

        start = time.perf_counter()
        for inputs in loader:
            pass
        loader_s = time.perf_counter() - start

        start = time.perf_counter()
        for inputs in loader:
            step(inputs)
        combined_s = time.perf_counter() - start

    images = batches * batch
    keeps_up = ratio(step_s, combined_s)
    return {
        "workers": workers,
        "images": images,
        "photo_px": photo_size,
        "loader_images_per_s": images / loader_s,
        "step_images_per_s": images / step_s,
        "combined_images_per_s": images / combined_s,
        "loader_over_step_throughput": ratio(step_s, loader_s),
        "combined_over_step_throughput": keeps_up,
        "description": f"{backbone} @ {image_size} train step, batch {batch}, {workers} loader workers",
    }


def run(quick: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {"loader": loader_vs_step(quick)}
    if quick:
        figures["index"] = {"skipped": "--quick does not build a 415k-row index"}
    else:
        # From a fresh, small process: bench_data_index's measuring child is forked from its caller, and on
        # Linux ru_maxrss counts the caller's RSS at fork time (this process holds models by now).
        code = f"import json; from benchmarks.bench_data_index import run; print(json.dumps(run({AFFECTNET_TRAINING_ROWS})))"
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        figures["index"] = json.loads(out.stdout.strip().splitlines()[-1])
    keeps_up = figures["loader"]["combined_over_step_throughput"]
    return {
        "description": figures["loader"]["description"] + "; AffectNet 415k-row index",
        "threads": torch.get_num_threads(),
        "headline": {
            "metric": "training throughput with the real loader / with a ready batch (default workers)",
            "value": keeps_up,
            "target": ">= 0.95 (loader keeps up)",
            "holds": keeps_up >= 0.95,
        },
        "figures": figures,
    }

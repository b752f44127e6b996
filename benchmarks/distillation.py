"""Benchmark 4: distillation steps/s with cached teacher outputs vs `--online_teacher`.

Times one optimizer step of `hf_deepfever.training.distill.DistillationTask` (the loss `distill.main`
trains with) both ways, interleaved on the same batch: with the teacher's outputs looked up in the
in-memory cache by `row_index` (what `distill.main` does after `cached_teacher_outputs`), and with the
teacher run on the batch every step. Data loading is identical in both modes and left out; building the
cache is a one-off cost reported separately (per image, one teacher forward).
"""

from __future__ import annotations

from typing import Any

import torch

from .timing import interleaved, ratio, summary

TARGET = 1.8


def run(quick: bool) -> dict[str, Any]:
    from accelerate import Accelerator

    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
    from hf_deepfever.training.distill import DistillationArguments, DistillationTask, TeacherInputAdapter
    from hf_deepfever.training.teacher_cache import teacher_outputs

    student_backbone, teacher_backbone, image_size, batch, repeats = (
        ("test_efficientnet", "test_resnet", 64, 4, 2) if quick else ("efficientnet_b0", "convnext_tiny", 224, 16, 3)
    )
    torch.manual_seed(0)
    student = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone=student_backbone, image_size=image_size))
    teacher = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone=teacher_backbone, image_size=image_size))
    teacher.requires_grad_(False).eval()
    processor = DeepFeverImageProcessor(size={"height": image_size, "width": image_size})
    inputs = {
        "pixel_values": torch.randn(batch, 3, image_size, image_size),
        "labels": torch.randint(0, 8, (batch,)),
        "valence_arousal": torch.empty(batch, 2).uniform_(-1, 1),
        "row_index": torch.arange(batch),
    }
    with torch.no_grad():
        cached = teacher_outputs(teacher, inputs["pixel_values"])  # the cache's content for these rows
    args = DistillationArguments()
    accelerator = Accelerator(cpu=True)
    tasks = {
        "cached_teacher": DistillationTask(args, None, cached=cached),
        "online_teacher": DistillationTask(
            args, None, teacher=teacher, adapter=TeacherInputAdapter(processor, processor), accelerator=accelerator
        ),
    }
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    student.train()

    def step(task: DistillationTask):
        def run_step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss, _ = task.compute_loss(student, inputs, {})
            loss.backward()
            optimizer.step()

        return run_step

    times = interleaved({name: step(task) for name, task in tasks.items()}, repeats=repeats, warmup=1)
    with torch.no_grad():
        teacher_forward = summary(interleaved({"t": lambda: teacher_outputs(teacher, inputs["pixel_values"])},
                                              repeats=repeats, warmup=0)["t"])
    cached_s, online_s = summary(times["cached_teacher"]), summary(times["online_teacher"])
    speedup = ratio(online_s["median_s"], cached_s["median_s"])
    return {
        "description": (
            f"DistillationTask step, student {student_backbone} / teacher {teacher_backbone} @ {image_size}, batch {batch}"
        ),
        "threads": torch.get_num_threads(),
        "headline": {
            "metric": "steps/s cached teacher / steps/s online teacher",
            "value": speedup,
            "target": f">= {TARGET}",
            "holds": speedup >= TARGET,
        },
        "figures": {
            "cached_steps_per_s": 1 / cached_s["median_s"],
            "online_steps_per_s": 1 / online_s["median_s"],
            "speedup": speedup,
            "cache_build_s_per_image": teacher_forward["median_s"] / batch,
            "cached_teacher_step": cached_s,
            "online_teacher_step": online_s,
            "method": "mechanism (DistillationTask.compute_loss + backward + AdamW step), data loading excluded",
        },
    }

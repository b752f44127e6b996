"""The demo's DeepFEVER-AV stage: a CPU-sized model on the demo RECOLA corpus, trained by the real recipe
(:func:`hf_deepfever.training.av.main`) with the command line built here."""

from __future__ import annotations

import os
from typing import Any

from ..core.vocabulary import VALENCE_AROUSAL
from ..inference.engines import torch_threads
from ..training.av import main as train_av
from ..training.av_references import fusion_verdict

# The demo's AV stage (`deepfever demo`): a CPU-sized model; the fused model and its audio-only reference train in
# about 37 s on one thread of an idle AVX-512 core (300 steps each; 22 s at 150 steps). Before (32 mel bins, channels
# 8,16, batch 8, 300 steps) one step took 1.2 s on one thread: the audio encoder's convolutions dominate.
_DEMO_MODEL = {
    "num_mel_bins": "16", "audio_channels": "4,8", "context_ms": "400", "hidden_size": "32", "fusion_dim": "64",
    "num_layers": "2", "chunk_steps": "50",
    # Three training recordings (three faces, three voices) let the fused model memorise who is who through the
    # face: without it dev CCC valence 0.358 / arousal 0.476 against 0.509 (the student's head) and 0.866 (the
    # voice alone); each chunk losing one stream half the time gave 0.487 / 0.591 (seed 0, demo corpus "small").
    "modality_dropout": "0.5",
}  # fmt: skip
# Over training seeds 0-2 (the claims run's students) 150 steps gave fused dev CCC valence 0.449 +- 0.075 / arousal
# 0.553 +- 0.091 (seed 0: valence 0.363), 300 steps 0.473 +- 0.040 / 0.592 +- 0.057 (every seed >= 0.428), about 17 s
# more per model on one thread; 600 steps, modality dropout 0.25 or 0.75, gated fusion and lr 1e-3 did no better.
_DEMO_STEPS = {"full": 300, "quick": 2}
_DEMO_THREADS = 1
"""Torch threads of the stage: its operations are too small to share (on the loaded 2-core machine a step took
13x longer on two threads than on one), and one thread gives the same figures whatever the machine's cores."""


def demo_stage_arguments(
    recola_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    vision_model: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
) -> list[str]:
    """Command line of the demo's AV stage (a `main(argv)` argument list; the visual cache stays in `output_dir`)."""
    argv = [
        "--recola_dir", str(recola_dir),
        "--output_dir", str(output_dir),
        "--visual_cache_dir", os.path.join(str(output_dir), "visual_cache"),
        "--face_detector", "centre",  # the demo's faces are centred; no optional detector needed
        "--max_steps", str(_DEMO_STEPS["quick" if quick else "full"]),
        "--per_device_train_batch_size", "2" if quick else "4",
        "--learning_rate", "3e-3",
        "--warmup_steps", "0" if quick else "5",
        "--seed", str(seed),
        "--mixed_precision", "no",
        "--checkpointing_steps", "no",
        "--eval_steps", "0",
        "--logging_steps", "1" if quick else "10",
        "--dataloader_num_workers", "0",
        "--audio_only_baseline",  # what the face adds to the voice, beside the student's own head (visual only)
    ]  # fmt: skip
    for name, value in _DEMO_MODEL.items():
        argv += [f"--{name}", value if not (quick and name == "chunk_steps") else "16"]
    if vision_model is not None:
        argv += ["--vision_model", str(vision_model)]
    else:
        argv += ["--vision_backbone", "test_resnet", "--vision_image_size", "32"]
    return argv


def run_demo_stage(
    recola_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    vision_model: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the demo's DeepFEVER-AV on the demo RECOLA corpus; returns the dev results (the fused model and its
    references, see :mod:`hf_deepfever.training.av_references`) plus `beats_baseline` (both dimensions above the
    training mean) and `recola_dev_fusion_beats_each_stream` (per dimension: above every measured reference).

    `vision_model`: the demo's trained DeepFEVER (e.g. the distilled student folder); without it an untrained
    extractor stands in and only the voice carries information.
    """
    argv = demo_stage_arguments(recola_dir, output_dir, vision_model=vision_model, quick=quick, seed=seed)
    with torch_threads(_DEMO_THREADS):
        results = dict(train_av(argv))
    results["beats_baseline"] = all(
        results[f"recola_dev_{name}_ccc"] > results[f"recola_dev_train_mean_{name}_ccc"] for name in VALENCE_AROUSAL
    )
    results["recola_dev_fusion_beats_each_stream"] = fusion_verdict(results)
    return results


__all__ = ["demo_stage_arguments", "run_demo_stage"]

"""Kill and resume: a run stopped after a checkpoint and resumed ends with the weights of an uninterrupted run.

The runs use everything that carries state across a checkpoint: AdamW moments, a warm-up + cosine schedule,
dropout (RNG), augmentation, gradient accumulation, a mid-epoch stop (data position in the main loader)
and the cycled FEC triplet loader (its own position).
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from training_corpora import write_training_corpora


class Killed(RuntimeError):
    """Stands in for SIGKILL right after a checkpoint was written."""


def _arguments(output_dir, folders, *extra):
    return [
        "--output_dir", str(output_dir), "--affectnet_dir", str(folders["affectnet"]), "--fec_dir", str(folders["fec"]),
        "--backbone", "test_resnet", "--no_backbone_pretrained", "--image_size", "32", "--embedding_dim", "16",
        "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2", "--fec_batch_size", "2",
        "--max_steps", "4", "--checkpointing_steps", "3", "--eval_steps", "0", "--warmup_steps", "2",
        "--learning_rate", "1e-3", "--dataloader_num_workers", "0", "--logging_steps", "1", "--seed", "11",
        "--max_eval_samples", "4", *extra,
    ]


def test_killed_and_resumed_run_matches_uninterrupted_run(tmp_path, monkeypatch):
    from hf_deepfever.training import loop
    from hf_deepfever.training.teacher import main

    folders = write_training_corpora(tmp_path / "data")
    main(_arguments(tmp_path / "straight", folders))

    real_save = loop.save_checkpoint

    def save_then_die(accelerator, output_dir, state, **kwargs):
        path = real_save(accelerator, output_dir, state, **kwargs)
        if state.global_step == 3:
            raise Killed(path)
        return path

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        main(_arguments(tmp_path / "resumed", folders))
    checkpoint = tmp_path / "resumed" / "checkpoints" / "checkpoint-3"
    state = json.loads((checkpoint / "training_state.json").read_text())
    # 32 rows / 8 per batch = 4 micro-batches per epoch, 2 per step: step 3 stops half-way through epoch 1.
    assert state == {
        "global_step": 3, "epoch": 1, "batches_seen_in_epoch": 2, "auxiliary_batches_seen": {"fec": 6},
        "log_entries": 3,  # the log lines of steps 1-3, kept by a resume
    }
    assert not (tmp_path / "resumed" / "model.safetensors").exists()

    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    main(_arguments(tmp_path / "resumed", folders, "--resume_from_checkpoint", "latest"))

    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    initial = load_file(checkpoint / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=1e-5, atol=1e-6, msg=name)
    # The comparison is not vacuous: training moved the weights after the checkpoint.
    assert any(not torch.allclose(initial[name], straight[name]) for name in straight if straight[name].is_floating_point())

    # The resumed log continues the interrupted one without duplicated steps.
    log = [json.loads(line) for line in (tmp_path / "resumed" / "training_log.jsonl").read_text().splitlines()]
    steps = [entry["step"] for entry in log if "train_loss" in entry]
    assert steps == [1, 2, 3, 4]
    straight_log = [json.loads(line) for line in (tmp_path / "straight" / "training_log.jsonl").read_text().splitlines()]
    straight_losses = [entry["train_loss"] for entry in straight_log if "train_loss" in entry]
    assert [entry["train_loss"] for entry in log if "train_loss" in entry] == pytest.approx(straight_losses, rel=1e-5)


def test_interrupted_checkpoint_write_leaves_no_checkpoint(tmp_path):
    from accelerate import Accelerator

    from hf_deepfever.training.checkpointing import (
        TrainingState,
        complete_checkpoints,
        resolve_checkpoint,
        save_checkpoint,
    )

    accelerator = Accelerator(cpu=True)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model, optimizer = accelerator.prepare(model, optimizer)
    first = save_checkpoint(accelerator, tmp_path, TrainingState(global_step=5))
    assert resolve_checkpoint("latest", tmp_path) == first

    real_save_state = accelerator.save_state

    def crash_midway(output_dir, **kwargs):
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        real_save_state(output_dir, **kwargs)  # files written ...
        raise Killed("... but the process dies before the checkpoint is complete")

    accelerator.save_state = crash_midway
    with pytest.raises(Killed):
        save_checkpoint(accelerator, tmp_path, TrainingState(global_step=10))
    names = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert names == [".checkpoint-10.partial", "checkpoint-5"]  # no checkpoint-10 ever appears half-written
    assert complete_checkpoints(tmp_path) == [first]
    assert resolve_checkpoint("latest", tmp_path) == first
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        resolve_checkpoint(str(tmp_path / "checkpoints" / ".checkpoint-10.partial"), tmp_path)

    accelerator.save_state = real_save_state
    second = save_checkpoint(accelerator, tmp_path, TrainingState(global_step=10), keep_last=1)
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == ["checkpoint-10"]  # leftovers gone
    assert resolve_checkpoint("latest", tmp_path) == second


def test_latest_without_checkpoints_starts_fresh(tmp_path):
    from hf_deepfever.training.checkpointing import resolve_checkpoint

    assert resolve_checkpoint("latest", tmp_path) is None
    assert resolve_checkpoint(None, tmp_path) is None

"""``accelerate launch --multi_gpu --num_processes 2`` of training_scripts/distill.py on CPU (gloo), end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from training_corpora import save_random_teacher, write_training_corpora

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_distillation_end_to_end(tmp_path):
    from transformers import AutoModel

    folders = write_training_corpora(tmp_path / "data")
    teacher = save_random_teacher(tmp_path / "teacher", image_size=32)
    out = tmp_path / "student"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--main_process_port", str(_free_port()), str(REPO / "training_scripts" / "distill.py"),
        "--teacher", str(teacher), "--affectnet_dir", str(folders["affectnet"]), "--unlabelled_dir", str(folders["unlabelled"]),
        "--teacher_cache_dir", str(tmp_path / "cache"), "--output_dir", str(out),
        "--backbone", "test_efficientnet", "--no_backbone_pretrained", "--image_size", "32", "--embedding_dim", "8",
        "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "5", "--max_steps", "3",
        "--checkpointing_steps", "2", "--eval_steps", "2", "--logging_steps", "1", "--warmup_steps", "1",
        "--dataloader_num_workers", "0", "--mixed_precision", "no",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-6000:]

    model = AutoModel.from_pretrained(out)
    assert type(model).__name__ == "DeepFeverModel" and model.config.backbone == "test_efficientnet"
    for name in ("preprocessor_config.json", "training_args.json", "eval_results.json", "modeling_deepfever.py"):
        assert (out / name).is_file(), name

    # Global batch = 4 per device x 2 processes: 38 faces (32 AffectNet + 6 unlabelled) make 4 full steps an
    # epoch, so step k is at epoch k / 4. A single process would count k / 9.
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    train_entries = [e for e in log if "train_loss" in e]
    assert [(e["step"], e["epoch"]) for e in train_entries] == [(1, 0.25), (2, 0.5), (3, 0.75)]
    # Metrics are gathered over both shards, without the padding of uneven shards: all 16 validation rows.
    evaluations = [e for e in log if "eval_affectnet_eval_samples" in e]
    assert [e["eval_affectnet_eval_samples"] for e in evaluations] == [16]
    assert json.loads((out / "eval_results.json").read_text())["affectnet_eval_samples"] == 16

    # One checkpoint, written once, with the RNG states of both processes.
    checkpoint = out / "checkpoints" / "checkpoint-2"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2"]
    assert (checkpoint / "random_states_0.pkl").is_file() and (checkpoint / "random_states_1.pkl").is_file()
    assert json.loads((checkpoint / "training_state.json").read_text())["global_step"] == 2
    # The teacher cache was filled by both processes and written once by the main one.
    assert len(list((tmp_path / "cache").glob("*/shard-*.safetensors"))) == 1
    assert not list((tmp_path / "cache").glob("*/.shard-*"))

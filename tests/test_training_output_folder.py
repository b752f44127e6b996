"""A run's output folder across kills, resumes and new runs: one final evaluation line, strict JSON logs, the
results of this model only, and a clear refusal to resume another model's checkpoint."""

from __future__ import annotations

import json
import math

import pytest

from training_corpora import write_training_corpora


class Killed(RuntimeError):
    """Stands in for SIGKILL during the final export."""


def _arguments(output_dir, folders, *extra):
    return [
        "--output_dir", str(output_dir), "--affectnet_dir", str(folders["affectnet"]),
        "--backbone", "test_resnet", "--no_backbone_pretrained", "--image_size", "32", "--embedding_dim", "16",
        "--per_device_train_batch_size", "8", "--max_steps", "2", "--checkpointing_steps", "2", "--eval_steps", "0",
        "--learning_rate", "1e-3", "--dataloader_num_workers", "0", "--logging_steps", "1", "--seed", "3",
        "--max_eval_samples", "4", *extra,
    ]


def _strict_lines(path):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_output_folder_across_kill_resume_and_a_new_run(tmp_path, monkeypatch):
    from hf_deepfever.training import teacher
    from hf_deepfever.training.teacher import main

    folders = write_training_corpora(tmp_path / "data")
    run = tmp_path / "run"
    real_export = teacher.export_model

    def killed_during_export(*args, **kwargs):
        raise Killed("the process dies while the final model is written")

    # 1. Killed during the final export, after the final evaluation line was logged; resumed from the last
    #    checkpoint (at the final step): the final evaluation is logged once, not twice.
    monkeypatch.setattr(teacher, "export_model", killed_during_export)
    with pytest.raises(Killed):
        main(_arguments(run, folders))
    monkeypatch.setattr(teacher, "export_model", real_export)
    main(_arguments(run, folders, "--resume_from_checkpoint", "latest"))
    log = _strict_lines(run / "training_log.jsonl")
    assert [entry["step"] for entry in log if "train_loss" in entry] == [1, 2]
    assert sum(any(key.startswith("final_") for key in entry) for entry in log) == 1

    # 2. A resumed run keeps its own results file (e.g. a linear-probe figure added after the export).
    results = json.loads((run / "eval_results.json").read_text())
    results["rafdb_linear_probe_accuracy"] = 0.5
    (run / "eval_results.json").write_text(json.dumps(results))
    main(_arguments(run, folders, "--resume_from_checkpoint", "latest"))
    assert json.loads((run / "eval_results.json").read_text())["rafdb_linear_probe_accuracy"] == 0.5

    # 3. A NEW run into the same folder starts a new results file: the old model's figures are set aside.
    main(_arguments(run, folders))
    assert "rafdb_linear_probe_accuracy" not in json.loads((run / "eval_results.json").read_text())
    assert json.loads((run / "eval_results.previous.json").read_text())["rafdb_linear_probe_accuracy"] == 0.5

    # 4. Resuming with another backbone names what differs instead of a bare size mismatch.
    other = [value if value != "test_resnet" else "test_efficientnet" for value in _arguments(run, folders)]
    with pytest.raises(ValueError, match=r"cannot resume from .*checkpoint-2.*backbone: 'test_resnet' in the "
                                         r"checkpoint, 'test_efficientnet' in this run"):
        main([*other, "--resume_from_checkpoint", "latest"])


def test_non_finite_values_are_logged_as_strict_json_and_read_back(tmp_path):
    from hf_deepfever.demo.plots import read_training_log
    from hf_deepfever.training.log_file import TrainingLog

    log = TrainingLog(tmp_path / "training_log.jsonl")
    log.start()
    log.append({"step": 1, "train_loss": float("nan"), "eval_fec": float("inf"), "lr": 0.1})
    log.append({"step": 2, "train_loss": 0.5, "eval_fec": float("-inf")})
    lines = _strict_lines(log.path)
    assert lines[0]["train_loss"] == "NaN" and lines[0]["eval_fec"] == "Infinity"
    entries = read_training_log(log.path)
    assert math.isnan(entries[0]["train_loss"]) and entries[0]["eval_fec"] == math.inf
    assert entries[1]["eval_fec"] == -math.inf and entries[0]["lr"] == 0.1
    # Logs written before this fix (bare NaN) are still read.
    log.path.write_text('{"step": 1, "train_loss": NaN}\n')
    assert math.isnan(read_training_log(log.path)[0]["train_loss"])
    # Resuming keeps the lines counted at the checkpoint, and older checkpoints fall back to steps.
    log.path.write_text("".join(json.dumps({"step": step}) + "\n" for step in (1, 2, 2, 3)))
    log.resume(2, last_step=2)
    assert [entry["step"] for entry in read_training_log(log.path)] == [1, 2] and log.entries == 2
    log.path.write_text("".join(json.dumps({"step": step}) + "\n" for step in (1, 2, 2, 3)))
    log.resume(None, last_step=2)
    assert [entry["step"] for entry in read_training_log(log.path)] == [1, 2, 2]

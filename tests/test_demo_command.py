"""`deepfever demo --quick`: every stage runs, every output file is written, the results table is printed."""

from __future__ import annotations

import json

import pytest

from hf_deepfever.cli import main as cli_main
from hf_deepfever.demo import DEMO_STAGES, MODEL_NAMES


def test_quick_demo_runs_every_stage_and_writes_its_outputs(tmp_path, capsys):
    output_dir = tmp_path / "demo"
    assert cli_main(["demo", "--output_dir", str(output_dir), "--quick"]) == 0
    printed = capsys.readouterr().out

    assert "| Metric | Chance | Teacher | Student (distilled) | Student (no distillation) |" in printed
    assert "would be uploaded" in printed  # the Hub dry run listing

    results = json.loads((output_dir / "demo_results.json").read_text())
    assert set(results["timings"]) == {stage.name for stage in DEMO_STAGES} | {"total"}
    markdown = (output_dir / "demo_results.md").read_text()
    assert "SYNTHETIC" in markdown and "| Metric | Chance |" in markdown and "## Stage timings" in markdown

    for name in MODEL_NAMES:
        folder = output_dir / name
        for file_name in ("config.json", "model.safetensors", "preprocessor_config.json", "training_log.jsonl"):
            assert (folder / file_name).is_file(), f"{name}/{file_name}"
        eval_results = json.loads((folder / "eval_results.json").read_text())
        assert eval_results["dataset_kind"] == "synthetic-demo"
        for key in ("affectnet_accuracy_8", "affectnet_accuracy_7", "fec_triplet_accuracy", "rafdb_linear_probe_accuracy"):
            assert 0.0 <= eval_results[key] <= 1.0
            assert results["models"][name][key] == pytest.approx(eval_results[key])
    assert not list(output_dir.rglob("*.bin")) and not list(output_dir.rglob("*.pt"))

    for plot in ("training_curves.png", "confusion_matrix.png", "expression_vectors_2d.png"):
        assert (output_dir / "plots" / plot).stat().st_size > 1000

    pipelines = results["pipelines"]
    assert pipelines["auto_model_class"] == "DeepFeverModel" and pipelines["vector_size"] == 64
    assert len(pipelines["faces"]) == 2 and all(abs(face["vector_norm"] - 1.0) < 1e-3 for face in pipelines["faces"])

    hub_folder = output_dir / "hub_upload"
    assert (hub_folder / "README.md").is_file() and (hub_folder / "model.safetensors").is_file()
    assert 0.0 <= results["rafdb_chance_accuracy"] <= 1.0

    # DeepFEVER-AV beside its references on the same dev steps: the student's own head, the voice alone, the mean.
    audio_visual = results["audio_visual"]
    for stream in ("", "visual_only_", "audio_only_", "train_mean_"):
        for dimension in ("valence", "arousal", "mean"):
            assert -1.0 <= audio_visual[f"recola_dev_{stream}{dimension}_ccc"] <= 1.0, (stream, dimension)
    assert set(audio_visual["recola_dev_fusion_beats_each_stream"]) == {"valence", "arousal", "mean"}
    for title in ("DeepFEVER-AV (face + voice)", "Visual only (the extractor's own head)", "Audio only", "Training mean"):
        assert f"| {title} |" in markdown, title


def test_demo_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli_main(["demo", "--output_dir", str(tmp_path), "--quick"]) == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"

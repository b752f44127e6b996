"""Publishing: the checked upload folder, the dry run listing, and the upload calls (against a fake HfApi)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.hub import UploadFolderError, assemble_upload_folder, dry_run_listing
from hf_deepfever.hub.assemble import UPLOAD_FOLDER_MARKER
from hf_deepfever.hub.push import main as push_main
from hf_deepfever.hub.push import run_script
from hf_deepfever.hub.redaction import changed_keys, redact_local_paths

EXPECTED_FILES = {
    "README.md",
    "config.json",
    "configuration_deepfever.py",
    "eval_results.json",
    "face_detection_deepfever.py",  # the face-expression pipeline's remote code (saved expression models declare it)
    "image_processing_deepfever.py",
    "model.safetensors",
    "modeling_deepfever.py",
    "pipeline_face_expression.py",
    "preprocessor_config.json",
    "training_args.json",
}


@pytest.fixture(scope="module")
def pristine_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("pristine") / "run"
    torch.manual_seed(0)
    DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=64)).save_pretrained(model_dir)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}).save_pretrained(model_dir)
    (model_dir / "eval_results.json").write_text(json.dumps({"dataset_kind": "synthetic-demo", "valence_ccc": 0.2}))
    (model_dir / "training_args.json").write_text(json.dumps({"learning_rate": 0.001, "backbone": "test_resnet"}))
    # A training run's resume state: Accelerate pickles, never uploaded, must not block publishing.
    (model_dir / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (model_dir / "checkpoints" / "checkpoint-10" / "optimizer.bin").write_bytes(b"pickle")
    (model_dir / "runs.log").write_text("not uploaded")
    return model_dir


@pytest.fixture()
def model_dir(pristine_model: Path, tmp_path: Path) -> Path:
    """A fresh copy per test, free to break."""
    return Path(shutil.copytree(pristine_model, tmp_path / "run"))


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run must not talk to the Hub")

    for name in ("create_repo", "create_branch", "upload_folder", "whoami"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, refuse)


def test_assembles_exactly_the_publishable_files(model_dir: Path, tmp_path: Path) -> None:
    listing = assemble_upload_folder(model_dir, tmp_path / "upload", repo_id="org/deepfever")
    assert {name for name, _ in listing} == EXPECTED_FILES
    for name, size in listing:
        assert size == (tmp_path / "upload" / name).stat().st_size > 0
        if name != "README.md":  # the records hold no local path, so they too are copied byte for byte
            assert (tmp_path / "upload" / name).read_bytes() == (model_dir / name).read_bytes()
    assert "org/deepfever" in (tmp_path / "upload" / "README.md").read_text()
    # Re-assembling replaces an upload folder; a folder we did not write is never replaced.
    assert assemble_upload_folder(model_dir, tmp_path / "upload") == [
        (name, (tmp_path / "upload" / name).stat().st_size) for name, _ in listing
    ]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(UploadFolderError, match="not empty"):
        assemble_upload_folder(model_dir, foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(UploadFolderError, match="outside the model folder"):
        assemble_upload_folder(model_dir, model_dir / "upload")
    with pytest.raises(ValueError, match="repo"):
        assemble_upload_folder(model_dir, tmp_path / "bad-id", repo_id="not a/valid/repo id")


@pytest.mark.parametrize("pickle_path", ["pytorch_model.bin", "model.pt", "extra/weights.pth", "state.pkl", "x.ckpt"])
def test_refuses_pickled_files(model_dir: Path, tmp_path: Path, pickle_path: str) -> None:
    (model_dir / pickle_path).parent.mkdir(parents=True, exist_ok=True)
    (model_dir / pickle_path).write_bytes(b"\x80\x04pickle")
    with pytest.raises(UploadFolderError, match=f"pickle-format files \\({pickle_path}\\)"):
        assemble_upload_folder(model_dir, tmp_path / "upload")
    assert not (tmp_path / "upload").exists()


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("config.json", "config.json"),
        ("model.safetensors", "model.safetensors"),
        ("preprocessor_config.json", "preprocessor_config.json or processor_config.json"),
        ("modeling_deepfever.py", "modeling_deepfever.py"),
        ("configuration_deepfever.py", "configuration_deepfever.py"),
    ],
)
def test_missing_required_files_are_named(model_dir: Path, tmp_path: Path, remove: str, named: str) -> None:
    (model_dir / remove).unlink()
    with pytest.raises(UploadFolderError, match="missing") as error:
        assemble_upload_folder(model_dir, tmp_path / "upload")
    assert named in str(error.value)


def test_unreadable_weights_are_refused(model_dir: Path, tmp_path: Path) -> None:
    (model_dir / "model.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(UploadFolderError, match="model.safetensors is not a readable safetensors file"):
        assemble_upload_folder(model_dir, tmp_path / "upload")


def test_config_without_auto_map_is_refused(model_dir: Path, tmp_path: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    del config["auto_map"]
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UploadFolderError, match="no auto_map"):
        assemble_upload_folder(model_dir, tmp_path / "upload")


def test_dry_run_lists_files_with_sizes(model_dir: Path, tmp_path: Path, capsys, no_network) -> None:
    text = dry_run_listing(model_dir, tmp_path / "listing", repo_id="org/deepfever")
    assert text.startswith(f"{len(EXPECTED_FILES)} files (") and "org/deepfever" in text
    for name in EXPECTED_FILES:
        size = (tmp_path / "listing" / name).stat().st_size
        assert any(line.split()[:2] == [name, f"{size:,}"] for line in text.splitlines()), name
    assert UPLOAD_FOLDER_MARKER not in text

    # The script: --dry_run writes MODEL_DIR-upload beside the model and prints the same listing.
    assert push_main(["--model_dir", str(model_dir), "--repo_id", "org/deepfever", "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "Dry run: nothing was uploaded." in printed
    upload_dir = model_dir.parent / "run-upload"
    assert {p.name for p in upload_dir.iterdir()} == EXPECTED_FILES | {UPLOAD_FOLDER_MARKER}
    assert f"{(upload_dir / 'model.safetensors').stat().st_size:,}" in printed


def test_local_paths_never_leave(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network) -> None:
    """A run's training_args.json records absolute local paths; the upload folder and the card carry none."""
    home = tmp_path / "home" / "alice"
    monkeypatch.setenv("HOME", str(home))
    for variable in ("LOGNAME", "USER"):
        monkeypatch.setenv(variable, "alice")
    recorded = {
        "output_dir": str(model_dir),
        "affectnet_dir": "/data/corpora/AffectNet/",
        "cache_dir": f"{home}/.cache/hf_deepfever",
        "home_dir": str(home),
        "scratch_dir": "/scratch/alice",
        "fec_dirs": ["/data/corpora/FEC", "relative/FEC"],
        "resume_note": f"resumed from {model_dir}/checkpoints/checkpoint-10 (--seed=3)",
        "windows_dir": "C:\\Users\\alice\\AffectNet",
        "trackers": {"logging_dir": f"file://{home}/runs/x/logs"},
        "teacher": "org/deepfever-teacher",
        "homepage": "https://huggingface.co/org/deepfever",
        "augmentation": "crop 1/2 + flip",
        "learning_rate": 0.001,
        "unlabelled_dir": None,
    }
    (model_dir / "training_args.json").write_text(json.dumps(recorded, indent=2))
    results = {"dataset_kind": "synthetic-demo", "valence_ccc": 0.2, "evaluated_on": f"{home}/corpora/AffectNet"}
    (model_dir / "eval_results.json").write_text(json.dumps(results))

    listing = dry_run_listing(model_dir, tmp_path / "listing", repo_id="org/deepfever")

    published = json.loads((tmp_path / "listing" / "training_args.json").read_text())
    assert published == {
        **recorded,
        "output_dir": "run",
        "affectnet_dir": "AffectNet",
        "cache_dir": "hf_deepfever",
        "home_dir": "<local path>",
        "scratch_dir": "<local path>",  # the last component is the user's name
        "fec_dirs": ["FEC", "relative/FEC"],
        "resume_note": "resumed from run/checkpoints/checkpoint-10 (--seed=3)",
        "windows_dir": "AffectNet",
        "trackers": {"logging_dir": "logs"},
    }
    private = (str(tmp_path), str(home), "alice", "/data/corpora", "/scratch", "C:\\", "file://")
    for path in (tmp_path / "listing").iterdir():
        if path.suffix in (".json", ".md", ".py"):
            text = path.read_text()
            assert not [item for item in private if item in text], path.name
    card = (tmp_path / "listing" / "README.md").read_text()
    assert '"affectnet_dir": "AffectNet"' in card and '"learning_rate": 0.001' in card
    assert "`evaluated_on` = AffectNet" in card
    published_results = json.loads((tmp_path / "listing" / "eval_results.json").read_text())
    assert published_results == {**results, "evaluated_on": "AffectNet"}
    assert listing.splitlines()[-2:] == [
        "eval_results.json: local paths replaced by folder names in evaluated_on",
        "training_args.json: local paths replaced by folder names in output_dir, affectnet_dir, cache_dir, "
        "home_dir, scratch_dir, fec_dirs[0], resume_note, windows_dir, trackers.logging_dir",
    ]
    assert (model_dir / "training_args.json").read_text() == json.dumps(recorded, indent=2), "the run is untouched"


def test_redaction_keeps_what_is_not_a_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    kept = ["org/deepfever", "runs/student", "https://huggingface.co/org/x", "crop 1/2", "N/A", "", "--seed=3"]
    record = {"kept": kept, "number": 3, "flag": True, "none": None, "slash": "/",
              "log": f"wrote {tmp_path}/runs/student/log.txt", "root": str(tmp_path / "runs" / "student")}
    assert redact_local_paths(record, private_roots=["runs/student"]) == {
        **record, "slash": "<local path>", "log": "wrote student/log.txt", "root": "student",
    }
    assert changed_keys(record, redact_local_paths(record)) == ["slash", "log", "root"]


def test_command_line_errors_are_one_line(model_dir: Path, tmp_path: Path, capsys) -> None:
    """``python -m hf_deepfever.hub`` / training_scripts/push_to_hub.py: exit status 2 and the reason, no traceback."""
    (model_dir / "model.pt").write_bytes(b"pickle")
    assert run_script(["--model_dir", str(model_dir), "--repo_id", "org/deepfever", "--dry_run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: refusing to publish") and "model.pt" in error and error.count("\n") == 1
    assert run_script(["--model_dir", str(tmp_path / "absent"), "--repo_id", "org/x", "--dry_run"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_upload_calls_huggingface_hub(model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    calls: list[tuple[str, dict]] = []

    def create_repo(self, **kwargs):
        calls.append(("create_repo", kwargs))

    def create_branch(self, **kwargs):
        calls.append(("create_branch", kwargs))

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        ignored = kwargs["ignore_patterns"]
        uploaded = {p.name for p in folder.iterdir() if not any(p.match(pattern) for pattern in ignored)}
        card = (folder / "README.md").read_text()
        calls.append(("upload_folder", {**kwargs, "files": uploaded, "card": card}))
        return huggingface_hub.CommitInfo(
            commit_url="https://huggingface.co/org/deepfever/commit/abc", commit_message="m",
            commit_description="", oid="abc",
        )

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_branch", create_branch)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    argv = ["--model_dir", str(model_dir), "--repo_id", "org/deepfever", "--private", "--revision", "v1",
            "--commit_message", "first weights", "--base_model", "org/deepfever-teacher"]
    assert push_main(argv) == 0

    assert [name for name, _ in calls] == ["create_repo", "create_branch", "upload_folder"]
    assert calls[0][1] == {"repo_id": "org/deepfever", "repo_type": "model", "private": True, "exist_ok": True}
    assert calls[1][1] == {"repo_id": "org/deepfever", "repo_type": "model", "branch": "v1", "exist_ok": True}
    upload = calls[2][1]
    assert upload["repo_id"] == "org/deepfever" and upload["revision"] == "v1"
    assert upload["commit_message"] == "first weights" and upload["repo_type"] == "model"
    assert upload["files"] == EXPECTED_FILES
    assert "base_model: org/deepfever-teacher" in upload["card"] and '"org/deepfever"' in upload["card"]
    assert "commit/abc" in capsys.readouterr().out
    assert not Path(upload["folder_path"]).exists(), "the temporary upload folder is cleaned up"

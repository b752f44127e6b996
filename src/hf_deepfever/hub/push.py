"""Publishing a model folder: assemble the upload folder, then ``create_repo`` + ``upload_folder``.

    python -m hf_deepfever.hub --model_dir runs/student --repo_id ORG/deepfever --dry_run

Authentication is huggingface_hub's own (``HF_TOKEN`` or ``hf auth login``): this module never reads,
prints or writes a token.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .assemble import OPTIONAL_NAMES, UPLOAD_FOLDER_MARKER, assemble_upload_folder
from .cards import read_json_object
from .redaction import changed_keys


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def format_listing(files: Sequence[tuple[str, int]], folder: str | os.PathLike, repo_id: str | None = None) -> str:
    """A readable table of the files an upload sends, with sizes and the total."""
    target = f" to {repo_id}" if repo_id else ""
    total = sum(size for _, size in files)
    width = max((len(name) for name, _ in files), default=0)
    lines = [f"{len(files)} files ({_human_size(total)}) would be uploaded{target} from {folder}:"]
    lines += [f"  {name:<{width}}  {size:>12,} B  ({_human_size(size)})" for name, size in files]
    return "\n".join(lines)


def redaction_notes(model_dir: str | os.PathLike, folder: str | os.PathLike) -> list[str]:
    """One line per run record (``training_args.json``, ...) that the upload folder carries redacted."""
    notes = []
    for name in OPTIONAL_NAMES:
        original, published = Path(model_dir) / name, Path(folder) / name
        if original.is_file() and published.is_file():
            keys = changed_keys(read_json_object(original), read_json_object(published))
            if keys:
                notes.append(f"{name}: local paths replaced by folder names in {', '.join(keys)}")
    return notes


def dry_run_listing(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
) -> str:
    """Assemble the upload folder of `model_dir` into `out_dir` (nothing is uploaded) and describe it.

    Returns the listing text (one line per file with its size, and the total; then which training
    arguments were redacted, if any). Raises like `assemble_upload_folder` when the model folder cannot
    be published.
    """
    files = assemble_upload_folder(model_dir, out_dir, repo_id=repo_id, base_model=base_model)
    return "\n".join([format_listing(files, out_dir, repo_id), *redaction_notes(model_dir, out_dir)])


def push_to_hub(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    upload_dir: str | os.PathLike | None = None,
    base_model: str | None = None,
    api: object | None = None,
) -> str:
    """Check and assemble `model_dir`, create `repo_id` if needed and upload the folder in one commit.

    Args:
        model_dir: the saved model folder.
        repo_id: ``"org/name"`` on the Hub.
        private: create the repository private (only when it does not exist yet).
        revision: branch to commit to (created from main when missing); default main.
        commit_message: default ``"Upload DeepFEVER model with hf_deepfever"``.
        upload_dir: where to assemble the folder; default a temporary folder removed afterwards.
        base_model: the card's ``base_model`` metadata (see `assemble_upload_folder`).
        api: a ``huggingface_hub.HfApi`` (default: a new one, configured by the environment).

    Returns:
        The URL of the commit.
    """
    from huggingface_hub import HfApi

    api = api if api is not None else HfApi()
    with tempfile.TemporaryDirectory(prefix="hf_deepfever_upload_") as temporary:
        folder = Path(upload_dir) if upload_dir is not None else Path(temporary) / "upload"
        assemble_upload_folder(model_dir, folder, repo_id=repo_id, base_model=base_model)
        api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id=repo_id, repo_type="model", branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=str(folder),
            revision=revision,
            commit_message=commit_message or "Upload DeepFEVER model with hf_deepfever",
            ignore_patterns=[UPLOAD_FOLDER_MARKER],
        )
    return str(getattr(commit, "commit_url", commit))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Publish a saved DeepFEVER / DeepFEVER-AV model folder to the Hugging Face Hub: checks it "
        "(safetensors only, required files present), renders its model card from eval_results.json, and uploads."
    )
    parser.add_argument("--model_dir", required=True, help="Saved model folder (e.g. a training run's --output_dir).")
    parser.add_argument("--repo_id", required=True, help="Target repository, ORG/NAME.")
    parser.add_argument("--private", action="store_true", help="Create the repository private (new repositories only).")
    parser.add_argument("--revision", default=None, help="Branch to commit to (created when missing). Default: main.")
    parser.add_argument("--commit_message", default=None, help="Commit message of the upload.")
    parser.add_argument(
        "--base_model",
        default=None,
        help="Hub id for the card's base_model (e.g. ORG/deepfever for an AV model built on it). Default: the timm "
        "weights the backbone started from, when it did.",
    )
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="Only write the upload folder and list what would be uploaded, with sizes; no network.",
    )
    parser.add_argument(
        "--upload_dir",
        default=None,
        help="Where the upload folder is written. Default: MODEL_DIR-upload beside the model folder with "
        "--dry_run, a temporary folder otherwise.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, then list (``--dry_run``) or upload; errors are raised."""
    args = build_parser().parse_args(argv)
    model_dir = Path(args.model_dir)
    if args.dry_run:
        default_dir = model_dir.parent / f"{model_dir.resolve().name}-upload"
        upload_dir = Path(args.upload_dir) if args.upload_dir else default_dir
        print(dry_run_listing(model_dir, upload_dir, repo_id=args.repo_id, base_model=args.base_model))
        print("Dry run: nothing was uploaded.")
        return 0
    url = push_to_hub(
        model_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        upload_dir=args.upload_dir,
        base_model=args.base_model,
    )
    print(f"Uploaded {model_dir} to {args.repo_id}: {url}")
    return 0


def run_script(argv: Sequence[str] | None = None) -> int:
    """`main` for a command line (``python -m hf_deepfever.hub``, ``training_scripts/push_to_hub.py``):
    a folder that cannot be published is a one-line error and exit status 2, not a traceback."""
    try:
        return main(argv)
    except (FileNotFoundError, ValueError) as error:  # UploadFolderError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2

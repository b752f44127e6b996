"""The upload folder: exactly the files a DeepFEVER Hub repository carries, checked before anything leaves.

A saved model folder (``save_pretrained`` output, or a training run's ``--output_dir``) becomes a folder of:
safetensors weights, ``config.json``, the processor config(s), the remote-code model files, the rendered
``README.md`` card, and ``eval_results.json`` / ``training_args.json`` when present. Pickled weights are
refused, never converted or skipped silently: a pickle can run code when loaded. Every file goes through
`hub.members`: a symbolic link that leaves the model folder is refused by name, never followed into the
upload. ``training_args.json`` and ``eval_results.json`` are copied redacted: the absolute local paths a
run recorded become folder names (`hub.redaction`); a record without any is copied byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub.utils import validate_repo_id

from ..core.loading import PICKLE_SUFFIXES, WEIGHTS_INDEX_NAME, WEIGHTS_NAME
from ..core.vocabulary import CHECKPOINTS_FOLDER, EVAL_RESULTS_NAME, TRAINING_ARGS_NAME
from .cards import read_json_object, read_published_record, render_model_card
from .members import UploadFolderError, copy_member, member_path, members_named, read_member_text

MODEL_FILE_PREFIXES = (
    "configuration_", "modeling_", "image_processing_", "feature_extraction_", "processing_", "pipeline_", "face_detection_",
)
PROCESSOR_CONFIG_NAMES = ("preprocessor_config.json", "processor_config.json")
OPTIONAL_NAMES = (EVAL_RESULTS_NAME, TRAINING_ARGS_NAME)
# Written into every upload folder so that re-assembling may replace it; never uploaded.
UPLOAD_FOLDER_MARKER = ".hf_deepfever_upload_folder"
_RELATIVE_IMPORT = re.compile(r"^\s*from\s+\.([A-Za-z_][A-Za-z0-9_]*)\s+import\b", re.MULTILINE)


def find_pickled_files(model_dir: Path) -> list[str]:
    """Pickle-format files anywhere under `model_dir`, except a training run's resume state.

    ``checkpoints/`` holds Accelerate's resume state (optimizer, scheduler, RNG: pickles by design); it is
    never uploaded, so it does not block publishing the final model saved beside it.
    """
    found = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if relative.parts[0] == CHECKPOINTS_FOLDER:
            continue
        if path.is_file() and path.name.lower().endswith(PICKLE_SUFFIXES):
            found.append(relative.as_posix())
    return found


def _weight_files(model_dir: Path) -> tuple[list[str], list[str]]:
    """(weight files to upload, missing required weight files)."""
    index = member_path(model_dir, WEIGHTS_INDEX_NAME)
    if index is not None:
        try:
            weight_map = json.loads(read_member_text(index))["weight_map"]
            shards = sorted(set(weight_map.values()))
            if not all(isinstance(shard, str) for shard in shards):
                raise TypeError("shard names must be strings")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            raise UploadFolderError(f"{index} is not a valid safetensors index ({error})") from error
        missing = [shard for shard in shards if member_path(model_dir, shard) is None]  # "../x" is refused
        return [WEIGHTS_INDEX_NAME, *shards], missing
    if member_path(model_dir, WEIGHTS_NAME) is not None:
        return [WEIGHTS_NAME], []
    return [], [WEIGHTS_NAME]


def _check_safetensors(model_dir: Path, names: list[str]) -> None:
    from safetensors import SafetensorError, safe_open

    for name in names:
        if not name.endswith(".safetensors"):
            continue
        try:
            with safe_open(str(model_dir / name), framework="numpy") as handle:
                handle.keys()
        except (SafetensorError, OSError) as error:
            raise UploadFolderError(f"{model_dir / name} is not a readable safetensors file ({error})") from error


def _auto_map_modules(config: dict[str, Any]) -> set[str]:
    """Module names referenced by an ``auto_map`` ("module.Class", or a dict/list of them)."""
    modules = set()

    def collect(value: Any) -> None:
        if isinstance(value, str) and "." in value:
            modules.add(value.split("--")[-1].rsplit(".", 1)[0])
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)

    collect(config.get("auto_map", {}))
    return modules


def collect_upload_files(model_dir: str | os.PathLike) -> list[str]:
    """The files of `model_dir` that an upload carries (the card is rendered separately), after every check.

    Raises:
        FileNotFoundError: `model_dir` does not exist.
        UploadFolderError: pickled files, missing required files (named), unreadable weights or configs, a
            file that is a link leaving the folder (named, with its target) or not a regular file.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model folder {model_dir} does not exist or is not a folder")
    pickles = find_pickled_files(model_dir)
    if pickles:
        raise UploadFolderError(
            f"refusing to publish {model_dir}: it holds pickle-format files ({', '.join(pickles)}); pickles can run "
            "code when loaded. Save the model with save_pretrained (safetensors) and remove these files."
        )
    missing: list[str] = []
    if member_path(model_dir, "config.json") is None:
        missing.append("config.json")
    weights, missing_weights = _weight_files(model_dir)
    missing += missing_weights
    processor_configs = [name for name in PROCESSOR_CONFIG_NAMES if member_path(model_dir, name) is not None]
    if not processor_configs:
        missing.append(" or ".join(PROCESSOR_CONFIG_NAMES) + " (save the processor into the folder)")
    if missing:
        raise UploadFolderError(f"{model_dir} is missing required files: {', '.join(missing)}")
    _check_safetensors(model_dir, weights)

    config = read_json_object(model_dir / "config.json", UploadFolderError)
    if not config.get("auto_map"):
        raise UploadFolderError(
            f"{model_dir / 'config.json'} has no auto_map: without it the repository cannot be loaded with "
            "trust_remote_code=True; save the model with hf_deepfever's save_pretrained"
        )
    code_files = members_named(model_dir, prefixes=MODEL_FILE_PREFIXES, suffix=".py")
    needed_modules = set(_auto_map_modules(config))
    for name in processor_configs:
        needed_modules |= _auto_map_modules(read_json_object(model_dir / name, UploadFolderError))
    for name in code_files:
        needed_modules |= set(_RELATIVE_IMPORT.findall(read_member_text(model_dir / name)))
    missing_code = sorted(f"{module}.py" for module in needed_modules if f"{module}.py" not in code_files)
    if missing_code:
        raise UploadFolderError(
            f"{model_dir} is missing remote-code files that its configs or model files refer to: "
            f"{', '.join(missing_code)}"
        )
    optional = [name for name in OPTIONAL_NAMES if member_path(model_dir, name) is not None]
    return sorted({"config.json", *weights, *processor_configs, *code_files, *optional})


def _prepare_out_dir(out_dir: Path, model_dir: Path) -> None:
    out_resolved, model_resolved = out_dir.resolve(), model_dir.resolve()
    nested = model_resolved in out_resolved.parents or out_resolved in model_resolved.parents
    if out_resolved == model_resolved or nested:
        raise UploadFolderError(
            f"upload folder {out_dir} must be outside the model folder {model_dir} (and not contain it)"
        )
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UploadFolderError(f"upload folder {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not (out_dir / UPLOAD_FOLDER_MARKER).is_file():
            raise UploadFolderError(
                f"upload folder {out_dir} exists and is not empty; give a new or empty folder "
                "(only folders written by assemble_upload_folder are replaced)"
            )


def assemble_upload_folder(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    template: str | os.PathLike | None = None,
    base_model: str | None = None,
) -> list[tuple[str, int]]:
    """Write the folder to upload for `model_dir` into `out_dir` and list it.

    Args:
        model_dir: a saved model folder (weights, config, processor config, remote code).
        out_dir: where the upload folder is written; it must be new, empty, or an earlier upload folder
            (which is replaced as a whole, atomically).
        repo_id: the Hub id shown in the card's usage snippets.
        template: card template; default ``hub_cards/<model_type>.md``.
        base_model: the card's ``base_model`` (e.g. the DeepFEVER repo an AV model builds on); default:
            the timm weights the backbone started from, if any.

    Returns:
        ``(relative_path, size_bytes)`` of every file that would be uploaded, sorted by path.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if repo_id is not None:
        validate_repo_id(repo_id)
    names = collect_upload_files(model_dir)
    _prepare_out_dir(out_dir, model_dir)
    records = {
        name: read_published_record(model_dir, name, UploadFolderError) for name in names if name in OPTIONAL_NAMES
    }
    card = render_model_card(model_dir, template, repo_id=repo_id, base_model=base_model)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
    try:
        for name in names:
            if name in records and records[name] != read_json_object(model_dir / name, UploadFolderError):
                text = json.dumps(records[name], indent=2, sort_keys=True) + "\n"
                (staging / name).write_text(text, encoding="utf-8")
            else:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                copy_member(model_dir / name, staging / name)
        (staging / "README.md").write_text(card, encoding="utf-8")
        (staging / UPLOAD_FOLDER_MARKER).write_text("written by hf_deepfever.hub.assemble_upload_folder\n")
        staging.chmod(0o755)
        if out_dir.exists():
            # Swap the old folder out first: os.replace cannot replace a non-empty directory.
            retired = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
            os.replace(out_dir, retired / "folder")
            os.replace(staging, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return list_upload_folder(out_dir)


def list_upload_folder(folder: str | os.PathLike) -> list[tuple[str, int]]:
    """``(relative_path, size_bytes)`` of the files an upload of `folder` sends (the marker excluded)."""
    folder = Path(folder)
    return [
        (path.relative_to(folder).as_posix(), path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != UPLOAD_FOLDER_MARKER
    ]

"""Atomic, resumable checkpoints on top of ``accelerator.save_state`` / ``load_state``.

A checkpoint is ``OUTPUT_DIR/checkpoints/checkpoint-<step>/`` holding what Accelerate saves (model weights
as safetensors, optimizer, scheduler, gradient scaler, and every process's RNG states; Accelerate reads
them back with ``torch.load(weights_only=True)``) plus ``training_state.json`` (step, epoch, the data
position of every loader, the number of log lines written) and ``model_config.json`` (the config of the
model trained). Resuming with another model (e.g. another ``--backbone``) is refused before any state is
loaded, with the settings and tensors that differ, instead of a bare size-mismatch traceback.

Atomicity: every process writes into ``.checkpoint-<step>.partial``; only when all have finished does the
main process write ``training_state.json`` and ``os.replace`` the folder to its final name. A run killed
mid-write leaves only a ``.partial`` folder, which is never resumed from and is removed by the next save.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core.files import JSON_MAX_BYTES, atomic_write_json, atomic_write_text, fsync_directory, read_regular_text
from ..core.vocabulary import CHECKPOINTS_FOLDER

STATE_FILE = "training_state.json"
MODEL_CONFIG_FILE = "model_config.json"
MODEL_WEIGHTS_FILE = "model.safetensors"  # what accelerator.save_state names the (first) model's weights
# Config entries that say nothing about the model trained.
_VOLATILE_CONFIG_KEYS = frozenset({"transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype"})
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainingState:
    """Where training stands: written with every checkpoint and read back on resume."""

    global_step: int = 0
    epoch: int = 0
    batches_seen_in_epoch: int = 0  # micro-batches of the main loader already consumed in `epoch`
    auxiliary_batches_seen: dict[str, int] = field(default_factory=dict)  # per cycling loader, in total
    log_entries: int | None = None  # lines of training_log.jsonl when saved (None: a checkpoint from before 0.2)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> TrainingState:
        try:
            values = json.loads(read_regular_text(path, max_bytes=JSON_MAX_BYTES))
            return cls(**values)
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"cannot read training state {path}: {error}") from error


def checkpoints_dir(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / CHECKPOINTS_FOLDER


def complete_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints (those with a state file) of a run, oldest first."""
    folder = checkpoints_dir(output_dir)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _CHECKPOINT_NAME.match(entry.name)
        if match and (entry / STATE_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return [path for _, path in sorted(found)]


def resolve_checkpoint(resume_from_checkpoint: str | None, output_dir: str | os.PathLike) -> Path | None:
    """``--resume_from_checkpoint`` -> a checkpoint folder (None: start fresh).

    ``latest`` picks the newest complete checkpoint of ``output_dir`` and starts fresh when there is none
    (so one command line both starts and resumes a job); an explicit folder must be a complete checkpoint.
    """
    if resume_from_checkpoint is None:
        return None
    if resume_from_checkpoint == "latest":
        found = complete_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume_from_checkpoint)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(
            f"{path} is not a complete checkpoint (no {STATE_FILE}); pass a checkpoints/checkpoint-<step> folder or 'latest'"
        )
    return path


def _model_config(accelerator: Any, model: Any) -> dict[str, Any] | None:
    config = getattr(accelerator.unwrap_model(model), "config", None) if model is not None else None
    return config.to_dict() if hasattr(config, "to_dict") else None


def save_checkpoint(
    accelerator: Any, output_dir: str | os.PathLike, state: TrainingState, *, keep_last: int = 0, model: Any = None
) -> Path:
    """Save a resumable checkpoint atomically; call on EVERY process (all take part in ``save_state``).

    ``model`` (the model trained, possibly wrapped): its config is saved too, so that a resume with another
    model can say what differs.
    """
    folder = checkpoints_dir(output_dir)
    final = folder / f"checkpoint-{state.global_step}"
    partial = folder / f".checkpoint-{state.global_step}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        config = _model_config(accelerator, model)
        if config is not None:
            atomic_write_json(partial / MODEL_CONFIG_FILE, config, durable=True, default=str)
        atomic_write_text(partial / STATE_FILE, state.to_json(), durable=True)
        if final.exists():  # the same step saved before (e.g. a re-run): swap the old one out first
            stale = folder / f".checkpoint-{state.global_step}.stale"
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(final, stale)
            os.replace(partial, final)
            shutil.rmtree(stale, ignore_errors=True)
        else:
            os.replace(partial, final)
        fsync_directory(folder)
        _remove_leftovers(folder, keep_last)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, checkpoint: Path, *, model: Any = None) -> TrainingState:
    """Restore model, optimizer, scheduler and RNG states (via Accelerate) and return the training state.

    With ``model`` (the run's model, possibly wrapped), the checkpoint is first checked to hold that model's
    tensors (names and shapes); see :func:`check_same_model`.
    """
    state = TrainingState.from_file(checkpoint / STATE_FILE)
    if model is not None:
        check_same_model(accelerator, checkpoint, model)
    accelerator.load_state(str(checkpoint))
    return state


def _config_differences(checkpoint: Path, config: dict[str, Any] | None, limit: int = 6) -> list[str]:
    """``key: saved -> this run`` for the settings of the model config that differ (first ``limit``)."""
    path = checkpoint / MODEL_CONFIG_FILE
    if config is None or not path.is_file():
        return []
    try:
        saved = json.loads(read_regular_text(path, max_bytes=JSON_MAX_BYTES))
    except (OSError, ValueError):
        return []
    keys = sorted((set(saved) | set(config)) - _VOLATILE_CONFIG_KEYS)

    def canonical(value: Any) -> str:  # JSON as saved: int keys become strings, order does not matter
        return json.dumps(value, default=str, sort_keys=True)

    differing = [key for key in keys if canonical(saved.get(key)) != canonical(config.get(key))]
    return [f"{key}: {saved.get(key)!r} in the checkpoint, {config.get(key)!r} in this run" for key in differing[:limit]]


def check_same_model(accelerator: Any, checkpoint: Path, model: Any) -> None:
    """Raise a ``ValueError`` naming the checkpoint, the differing config settings and tensors when the
    checkpoint's weights (read from the safetensors header only) do not fit ``model``.

    Without this, resuming with another ``--backbone`` dies inside ``load_state`` with a bare size mismatch.
    """
    from safetensors import SafetensorError, safe_open

    weights = checkpoint / MODEL_WEIGHTS_FILE
    if not weights.is_file():
        return  # not Accelerate's safetensors layout: leave the check to load_state
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            saved = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except (SafetensorError, OSError) as error:
        raise ValueError(f"cannot resume from {checkpoint}: {weights} is not a readable safetensors file ({error})")
    # save_state writes the prepared (possibly wrapped) model's state dict: compare with the same one.
    current = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    shapes = sorted(name for name in saved.keys() & current.keys() if saved[name] != current[name])
    only_saved, only_current = sorted(saved.keys() - current.keys()), sorted(current.keys() - saved.keys())
    if not (shapes or only_saved or only_current):
        return
    details = _config_differences(checkpoint, _model_config(accelerator, model))
    details += [f"{name}: shape {saved[name]} in the checkpoint, {current[name]} in this run" for name in shapes[:3]]
    if only_saved or only_current:
        details.append(f"{len(only_saved)} tensor(s) only in the checkpoint, {len(only_current)} only in this run "
                       f"(e.g. {(only_saved or only_current)[0]})")
    raise ValueError(
        f"cannot resume from {checkpoint}: it was saved by another model ({len(shapes)} tensor(s) of other shapes). "
        + "; ".join(details)
        + ". Resume with the model arguments of that run, or train into a new --output_dir."
    )


def _remove_leftovers(folder: Path, keep_last: int) -> None:
    """Drop partial folders of interrupted saves and all but the newest ``keep_last`` checkpoints."""
    for entry in folder.iterdir():
        if entry.name.startswith(".checkpoint-") and entry.name.endswith((".partial", ".stale")):
            shutil.rmtree(entry, ignore_errors=True)
    if keep_last > 0:
        for old in complete_checkpoints(folder.parent)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "CHECKPOINTS_FOLDER",
    "MODEL_CONFIG_FILE",
    "check_same_model",
    "STATE_FILE",
    "TrainingState",
    "checkpoints_dir",
    "complete_checkpoints",
    "load_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
]

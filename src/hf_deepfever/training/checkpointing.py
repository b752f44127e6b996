"""Atomic, resumable checkpoints on top of ``accelerator.save_state`` / ``load_state``.

A checkpoint is ``OUTPUT_DIR/checkpoints/checkpoint-<step>/`` holding what Accelerate saves (model weights
as safetensors, optimizer, scheduler, gradient scaler, and every process's RNG states; Accelerate reads
them back with ``torch.load(weights_only=True)``) plus ``training_state.json`` (step, epoch and the data
position of every loader).

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

from ..core.files import atomic_write_text, fsync_directory
from ..core.vocabulary import CHECKPOINTS_FOLDER

STATE_FILE = "training_state.json"
_CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainingState:
    """Where training stands: written with every checkpoint and read back on resume."""

    global_step: int = 0
    epoch: int = 0
    batches_seen_in_epoch: int = 0  # micro-batches of the main loader already consumed in `epoch`
    auxiliary_batches_seen: dict[str, int] = field(default_factory=dict)  # per cycling loader, in total

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_file(cls, path: Path) -> TrainingState:
        try:
            values = json.loads(path.read_text())
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


def save_checkpoint(accelerator: Any, output_dir: str | os.PathLike, state: TrainingState, *, keep_last: int = 0) -> Path:
    """Save a resumable checkpoint atomically; call on EVERY process (all take part in ``save_state``)."""
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


def load_checkpoint(accelerator: Any, checkpoint: Path) -> TrainingState:
    """Restore model, optimizer, scheduler and RNG states (via Accelerate) and return the training state."""
    state = TrainingState.from_file(checkpoint / STATE_FILE)
    accelerator.load_state(str(checkpoint))
    return state


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
    "STATE_FILE",
    "TrainingState",
    "checkpoints_dir",
    "complete_checkpoints",
    "load_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
]

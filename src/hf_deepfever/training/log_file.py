"""``training_log.jsonl``: one strict JSON object per line, written by the training loop and read back by the demo.

A loss that diverged or a metric undefined on the data is a non-finite float; Python's ``json`` would write it
as a bare ``NaN``, which strict parsers (``jq``, JavaScript, most non-Python tools) reject. Such values are
written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` and turned back into floats by
:func:`read_training_log` (which also still reads older logs holding bare ``NaN``).

The file is appended to by the main process only; :class:`TrainingLog` counts its lines, so that a resumed
run keeps exactly the lines written before its checkpoint (a final evaluation written after the last
checkpoint, then interrupted, is written once again, not twice).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.files import atomic_write_text, open_regular_file

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _strict(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


def _restored(value: Any) -> Any:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, dict):
        return {key: _restored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restored(item) for item in value]
    return value


def encode_entry(entry: dict[str, Any]) -> str:
    """One log line (without its newline): strict JSON, non-finite floats as strings."""
    return json.dumps(_strict(entry), allow_nan=False)


def decode_entry(line: str) -> dict[str, Any]:
    """An entry from one log line; ``"NaN"``/``"Infinity"``/``"-Infinity"`` (and bare ``NaN``) become floats."""
    entry = json.loads(line)
    if not isinstance(entry, dict):
        raise ValueError(f"not a JSON object but a {type(entry).__name__}")
    return _restored(entry)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_regular_file(path, "r", encoding="utf-8") as handle:  # line by line: a long log is never read whole
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line.rstrip("\n")


def read_training_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of a run's ``training_log.jsonl``; ``[]`` when there is none.

    Raises:
        ValueError: a line is not a JSON object (the file and line are named).
    """
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for number, line in _lines(path):
        try:
            entries.append(decode_entry(line))
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: not a JSON object ({error})") from error
    return entries


class TrainingLog:
    """The log of one run: :meth:`start` (fresh run) or :meth:`resume`, then :meth:`append`; :attr:`entries`
    is the number of lines the file holds (stored with each checkpoint)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.entries = 0

    def start(self) -> None:
        """A fresh run starts a fresh log."""
        if self.path.exists():
            atomic_write_text(self.path, "")
        self.entries = 0

    def resume(self, entries: int | None, last_step: int) -> None:
        """Keep the first ``entries`` lines: those written before the checkpoint resumed from. Checkpoints that
        predate the count (``entries=None``) keep the entries of steps up to ``last_step`` instead."""
        if not self.path.is_file():
            self.entries = 0
            return
        lines = [line for _, line in _lines(self.path)]
        if entries is not None:
            kept = lines[:entries]
        else:
            kept = [line for line in lines if decode_entry(line).get("step", 0) <= last_step]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        self.entries = len(kept)

    def append(self, entry: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(encode_entry(entry) + "\n")
        self.entries += 1


__all__ = ["TrainingLog", "decode_entry", "encode_entry", "read_training_log"]

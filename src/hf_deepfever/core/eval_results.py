"""``eval_results.json``: the one file of measured results a model folder carries to the Hub.

Keys are flat (``affectnet_accuracy_8``, ``valence_ccc``, ``rafdb_linear_probe_accuracy``, dataset sizes,
...). Several tools write into the same file (evaluation, linear probe), so writes MERGE into what is
there, atomically. ``dataset_kind`` records whether the numbers come from the synthetic demo corpus
(``"synthetic-demo"``) or from real corpora (``"real"``): the model card must never present demo numbers as
AffectNet/FEC/RAF-DB results, so results of the two kinds are never mixed in one file.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

from .files import JSON_MAX_BYTES, atomic_write_json, read_regular_text
from .vocabulary import DATASET_KIND_KEY, DEMO_CORPUS_MARKER, EVAL_RESULTS_NAME, REAL, SYNTHETIC_DEMO

PathLike = Union[str, os.PathLike]

logger = logging.getLogger(__name__)


def is_demo_corpus(folder: PathLike) -> bool:
    """True when ``folder`` (a corpus folder, or its parent) was written by ``make_demo_corpus``.

    ``make_demo_corpus(out_dir)`` writes its marker file in ``out_dir`` and the corpora below it
    (``out_dir/affectnet``, ``out_dir/fec``, ...), so the corpus folder itself and its parent are checked;
    nothing further up is read.
    """
    path = Path(folder)
    marker = DEMO_CORPUS_MARKER
    return (path / marker).is_file() or (path.parent / marker).is_file()


def dataset_kind(folders: Iterable[PathLike | None]) -> str:
    """``"synthetic-demo"`` when every given corpus folder is demo data, ``"real"`` when none is.

    Raises:
        ValueError: the folders mix demo and real corpora (their results must not share one file).
    """
    given = [Path(folder) for folder in folders if folder is not None]
    if not given:
        raise ValueError("no corpus folder given: nothing to evaluate")
    demo = {str(folder): is_demo_corpus(folder) for folder in given}
    if all(demo.values()):
        return SYNTHETIC_DEMO
    if not any(demo.values()):
        return REAL
    raise ValueError(
        "refusing to mix synthetic demo corpora with real ones in one evaluation: "
        + ", ".join(f"{folder} ({'demo' if is_demo else 'real'})" for folder, is_demo in demo.items())
    )


def read_eval_results(path: PathLike) -> dict[str, Any]:
    """The results stored in ``path`` (``{}`` when the file does not exist).

    Only a regular file of at most ``JSON_MAX_BYTES`` is read; anything else is a ``ValueError`` naming the file.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return {}
    try:
        results = json.loads(read_regular_text(path, max_bytes=JSON_MAX_BYTES))
    except OSError as error:  # not a regular file, too large, a dangling link: bad input, named
        raise ValueError(f"cannot read results: {error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); fix or remove it before writing results into it")
    if not isinstance(results, dict):
        raise ValueError(f"{path} must hold a JSON object of results, found a {type(results).__name__}")
    return results


PREVIOUS_RESULTS_NAME = "eval_results.previous.json"
"""Where a new training run moves the results of the model it is about to replace (never uploaded)."""


def set_aside_eval_results(output_dir: PathLike) -> Path | None:
    """Start a new results file for a NEW training run into ``output_dir``: an existing ``eval_results.json``
    describes the model this run replaces, so it is renamed to ``eval_results.previous.json`` (nothing is
    deleted; a resumed run keeps its own file). Returns the new name of the old file, if there was one.

    Without this, the new model's export merged into the old file and its card showed the previous model's
    figures for every metric the new run did not measure.
    """
    path = Path(output_dir) / EVAL_RESULTS_NAME
    if not os.path.lexists(path):
        return None
    previous = path.with_name(PREVIOUS_RESULTS_NAME)
    os.replace(path, previous)
    logger.warning("%s holds results of an earlier model: moved to %s; this run writes a new one", path, previous.name)
    return previous


def _json_value(key: str, value: Any) -> Any:
    """A plain JSON value; numpy scalars become Python numbers."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if not isinstance(value, (str, int, float, bool)) or value is None:
        raise TypeError(f"result {key!r} must be a number or a string, got {type(value).__name__}")
    return value


def merge_eval_results(path: PathLike, results: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``results`` into the JSON file at ``path`` (created if missing) and return the merged results.

    Keys in ``results`` replace those in the file; other keys are kept. A non-finite value (NaN: a metric
    undefined on the data, e.g. a triplet type absent from the split) is not written, and removes a stale
    value of that key. The file is replaced atomically (temporary file + ``os.replace``).

    Raises:
        ValueError: the file is not a JSON object, or its ``dataset_kind`` differs from the new one.
    """
    path = Path(path)
    merged = read_eval_results(path)
    new_kind, old_kind = results.get(DATASET_KIND_KEY), merged.get(DATASET_KIND_KEY)
    if new_kind is not None and old_kind is not None and new_kind != old_kind:
        raise ValueError(
            f"{path} holds results measured on {old_kind!r} data; refusing to add results measured on "
            f"{new_kind!r} data to it. Write them to another folder, or remove the file first."
        )
    undefined = []
    for key, value in results.items():
        value = _json_value(key, value)
        if isinstance(value, float) and not math.isfinite(value):
            merged.pop(key, None)
            undefined.append(key)
        else:
            merged[key] = value
    if undefined:
        logger.warning("left out of %s, undefined on this data: %s", path.name, ", ".join(sorted(undefined)))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, merged)
    return merged


def save_eval_results(accelerator: Any, output_dir: PathLike, results: Mapping[str, Any]) -> Path:
    """Merge ``results`` into ``output_dir/eval_results.json`` on the main process only; every process waits."""
    path = Path(output_dir) / EVAL_RESULTS_NAME
    if accelerator.is_main_process:
        merge_eval_results(path, results)
    accelerator.wait_for_everyone()
    return path


def format_results(results: Mapping[str, Any]) -> str:
    """One ``key: value`` line per result, for the console."""
    return "\n".join(
        f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}" for key, value in sorted(results.items())
    )


__all__ = [
    "DATASET_KIND_KEY",
    "EVAL_RESULTS_NAME",
    "REAL",
    "SYNTHETIC_DEMO",
    "dataset_kind",
    "format_results",
    "is_demo_corpus",
    "merge_eval_results",
    "PREVIOUS_RESULTS_NAME",
    "read_eval_results",
    "save_eval_results",
    "set_aside_eval_results",
]

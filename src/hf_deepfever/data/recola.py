"""Reader for RECOLA (Ringeval et al.): the AVEC 2016 release, or the original one.

``layout="avec2016"`` expects below ``root``::

    recordings_audio/<split>_<n>.wav                      (split: train, dev, test)
    recordings_video/<split>_<n>.mp4                      (optional; see ``video_dir``)
    ratings_gold_standard/{arousal,valence}/<split>_<n>.arff

An ARFF holds a header (``@relation``, ``@attribute`` lines, ``@data``) then one
``name,time,value`` row every 40 ms. Test labels are withheld in that release.

``layout="original"`` expects::

    RECOLA-Audio-recordings/P<id>.wav
    RECOLA-Video-recordings/P<id>.mp4                     (optional; see ``video_dir``)
    RECOLA-Annotation/emotional_behaviour/{arousal,valence}/P<id>.csv

with ``;``-separated CSVs (header ``time;FM1 ;FM2 ;...``, one column per rater); the raters are
averaged into one trace. The original release has no splits, so recordings are assigned by
participant number: sorted ascending, the k-th participant goes to ``train`` if k % 3 == 0,
``dev`` if k % 3 == 1 and ``test`` if k % 3 == 2 (P16, P17, P19 ... -> train, dev, test, train ...).
Interleaving keeps the splits balanced over recording sessions; the rule is fixed so that results
are comparable across runs. All three splits have labels in this layout.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.corpus_layouts import RECOLA_AUDIO_SUFFIX, RECOLA_DIMENSIONS, RECOLA_FOLDERS, RECOLA_LAYOUTS
from ..core.files import read_regular_text
from ..core.vocabulary import VIDEO_EXTENSIONS
from ._common import (
    FILE_MISSING,
    FILE_OK,
    FILE_OUTSIDE_ROOT,
    FILE_UNREADABLE,
    REASON_OUTSIDE,
    BuildContext,
    SkipCounts,
    is_inside,
    load_with_cache,
    make_dataset,
    require_dir,
)
from ._fields import parse_floats, split_fields

CORPUS = "RECOLA"
SPLITS = ("train", "dev", "test")
DIMENSIONS = RECOLA_DIMENSIONS
LAYOUTS = RECOLA_LAYOUTS

_AVEC_NAME = re.compile(r"^(train|dev|test)_(\d+)$")
_ORIGINAL_NAME = re.compile(r"^P(\d+)$")
_TIME_DECIMALS = 1000  # labels are paired on time rounded to the millisecond
MAX_TIME_S = 2**24 / _TIME_DECIMALS
"""Latest label time accepted (4.66 h; a RECOLA session lasts 5 min): up to here float32, the stored type,
still tells milliseconds apart."""
MAX_LABEL_FILE_BYTES = 64 << 20
"""Largest label file read (a 5-minute trace is about 200 kB)."""

REASON_MISSING_AUDIO = "missing audio"
REASON_UNREADABLE_AUDIO = "unreadable audio"
REASON_ONE_DIMENSION = "labels for only one dimension"
REASON_LABEL_FILE = "malformed label file"
REASON_LABEL_LINE = "malformed label line"
REASON_LABEL_RANGE = "label value outside -1..1"
REASON_TIME_RANGE = "label time outside 0..16777 s"
REASON_UNPAIRED = "label time without partner"

_AUDIO_STATUS_REASONS = {
    FILE_OUTSIDE_ROOT: REASON_OUTSIDE,
    FILE_MISSING: REASON_MISSING_AUDIO,
    FILE_UNREADABLE: REASON_UNREADABLE_AUDIO,
}

Trace = tuple[np.ndarray, np.ndarray]  # (time in seconds, value)


def _features():
    from datasets import Features, List, Value

    return Features(
        {
            "id": Value("string"),
            "audio": Value("string"),
            "video": Value("string"),
            "time": List(Value("float32")),
            "arousal": List(Value("float32")),
            "valence": List(Value("float32")),
        }
    )


def _stems(folder: Path, suffix: str, pattern: re.Pattern[str], root: Path) -> tuple[dict[str, Path], set[str]]:
    """Files in ``folder`` ending with ``suffix`` whose stem matches ``pattern``, by stem, and the
    stems of such entries that resolve outside ``root`` (refused)."""
    found: dict[str, Path] = {}
    refused: set[str] = set()
    if not folder.is_dir():
        return found, refused
    root_real = os.path.realpath(root)
    for entry in os.scandir(folder):
        stem, extension = os.path.splitext(entry.name)
        if extension.lower() != suffix or not pattern.match(stem):
            continue
        if not is_inside(os.path.realpath(entry.path), root_real):
            refused.add(stem)
        else:
            found[stem] = Path(entry.path)
    return found, refused


def _read_lines(path: Path) -> list[str]:
    """The stripped lines of a label file: only a regular file of bounded size is read (a FIFO named like a
    label file used to hang the loader)."""
    text = read_regular_text(path, errors="replace", max_bytes=MAX_LABEL_FILE_BYTES)
    return [line.strip() for line in text.split("\n")]


def _checked_trace(time: np.ndarray, value: np.ndarray, ok: np.ndarray, lines: int) -> tuple[Trace, Counter]:
    """The lines whose (float32) time and value are in range, and the others counted by reason."""
    dropped: Counter = Counter()
    dropped[REASON_LABEL_LINE] = lines - int(np.count_nonzero(ok))
    time_ok = ok & (time >= 0) & (time <= MAX_TIME_S)
    dropped[REASON_TIME_RANGE] = int(np.count_nonzero(ok & ~time_ok))
    value_ok = time_ok & (np.abs(value) <= 1)
    dropped[REASON_LABEL_RANGE] = int(np.count_nonzero(time_ok & ~value_ok))
    return (time[value_ok], value[value_ok]), dropped


def read_arff_trace(path: Path) -> tuple[Trace, Counter]:
    """``(time, value)`` (float32, as stored) from an AVEC gold-standard ARFF, and the data lines dropped, by
    reason (malformed, time outside [0, :data:`MAX_TIME_S`], value outside [-1, 1]).

    Raises ``ValueError`` when the file has no ``@data`` section, ``OSError`` when it is not a regular file or
    larger than :data:`MAX_LABEL_FILE_BYTES`.
    """
    lines = _read_lines(path)
    starts = [number for number, line in enumerate(lines) if line.lower() == "@data"]
    if not starts:
        raise ValueError(f"{path}: no @data line")
    data = [line for line in lines[starts[0] + 1 :] if line and not line.startswith("%")]
    fields, counts = split_fields(pa.array(data, type=pa.string()), ",")
    well_formed = counts == 3
    fields = fields.filter(pa.array(well_formed))
    time, time_ok = parse_floats(pc.list_element(fields, 1))
    value, value_ok = parse_floats(pc.list_element(fields, 2))
    return _checked_trace(time, value, time_ok & value_ok, len(data))


def read_rater_csv_trace(path: Path) -> tuple[Trace, Counter]:
    """``(time, mean over raters)`` from an original-release ``;``-separated rating CSV, and the lines dropped.

    A decimal comma is accepted. Lines whose time, or every rating, fails to parse, or whose field count
    differs from the header's, count as malformed; a time outside [0, :data:`MAX_TIME_S`] or any rating
    outside [-1, 1] drops the line too. Raises ``ValueError`` on an empty file.
    """
    lines = [line for line in _read_lines(path) if line]
    if not lines:
        raise ValueError(f"{path}: empty rating file")
    header_width = len(lines[0].split(";"))
    text = pc.replace_substring(pa.array(lines[1:], type=pa.string()), ",", ".")
    fields, counts = split_fields(text, ";")
    well_formed = (counts == header_width) & (header_width >= 2)
    fields = fields.filter(pa.array(well_formed))
    if not len(fields):
        empty = np.zeros(0, dtype=np.float32)
        return (empty, empty), Counter({REASON_LABEL_LINE: len(lines) - 1})
    time, time_ok = parse_floats(pc.list_element(fields, 0))
    ratings = np.stack([parse_floats(pc.list_element(fields, column))[0] for column in range(1, header_width)], axis=1)
    parsed = ~np.isnan(ratings)
    rated = parsed.any(axis=1)
    # Mean over the raters that parsed (in float64, then stored as float32); an out-of-range rating counts
    # as an out-of-range line through the largest magnitude.
    mean = np.nansum(ratings.astype(np.float64), axis=1) / np.maximum(parsed.sum(axis=1), 1)
    largest = np.max(np.abs(np.where(parsed, ratings, 0)), axis=1)
    value = np.where(largest > 1, np.float32(2), mean.astype(np.float32))
    return _checked_trace(time, value, time_ok & rated, len(lines) - 1)


def _deduplicate(trace: Trace) -> tuple[np.ndarray, np.ndarray, int]:
    """Millisecond keys sorted ascending, values, and how many duplicate times were dropped."""
    keys = np.rint(trace[0].astype(np.float64) * _TIME_DECIMALS).astype(np.int64)  # times are bounded: no overflow
    unique, first = np.unique(keys, return_index=True)
    return unique, trace[1][first], len(keys) - len(unique)


def _pair_traces(arousal: Trace, valence: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Time, arousal and valence on the times both traces share, and how many lines were unpaired."""
    arousal_keys, arousal_values, arousal_duplicates = _deduplicate(arousal)
    valence_keys, valence_values, valence_duplicates = _deduplicate(valence)
    keys, arousal_at, valence_at = np.intersect1d(arousal_keys, valence_keys, assume_unique=True, return_indices=True)
    unpaired = len(arousal_keys) + len(valence_keys) - 2 * len(keys) + arousal_duplicates + valence_duplicates
    return keys / _TIME_DECIMALS, arousal_values[arousal_at], valence_values[valence_at], unpaired


def _audio_problem(path: Path) -> str | None:
    """Why ``path`` is not usable audio (reading only its header), or None."""
    import soundfile

    try:
        soundfile.info(str(path))
    except (RuntimeError, OSError, soundfile.LibsndfileError):
        return REASON_UNREADABLE_AUDIO
    return None


def _original_split(participants: list[str]) -> dict[str, str]:
    """The documented interleaved assignment of original-release participants to splits."""
    ordered = sorted(participants, key=lambda name: int(_ORIGINAL_NAME.match(name).group(1)))
    return {name: SPLITS[rank % len(SPLITS)] for rank, name in enumerate(ordered)}


def _avec_sort_key(name: str) -> tuple[int, int]:
    match = _AVEC_NAME.match(name)
    return SPLITS.index(match.group(1)), int(match.group(2))


def load_recola(
    root: Union[str, os.PathLike],
    *,
    layout: str = "avec2016",
    video_dir: Union[str, os.PathLike, None] = None,
    cache_dir: Union[str, os.PathLike, None] = None,
):
    """Index RECOLA as a ``DatasetDict`` with splits ``train``, ``dev`` and ``test``, one row per recording.

    Args:
        root: the unpacked release (see the module docstring for both layouts).
        layout: ``"avec2016"`` (AVEC 2016 release) or ``"original"``.
        video_dir: folder holding the videos, when not the layout's default
            (``recordings_video`` / ``RECOLA-Video-recordings`` below ``root``).
        cache_dir: where the Arrow cache lives; default ``$HF_DATASETS_CACHE/hf_deepfever``.

    Returns:
        Columns ``id`` (e.g. ``"train_1"`` or ``"P16"``), ``audio`` (absolute path of the wav; decode
        it with ``soundfile``), ``video`` (absolute path, or None when absent), ``time`` (seconds),
        ``arousal`` and ``valence`` (float32 sequences sampled every 40 ms; all three are empty when
        the labels are withheld, as for AVEC 2016's test split).

    Recordings with missing or unreadable audio (the wav header is read), a label file that does not
    parse (or is not a regular file, or is over 64 MiB), or labels for one dimension only are skipped;
    label lines that do not parse, whose time lies outside [0, 16777] s or whose value lies outside
    [-1, 1] (checked in float32, the stored type), or whose time has no partner in the other dimension
    are dropped. Each is counted in one warning per split.

    Raises:
        FileNotFoundError: ``root``, the audio folder or the labels folder is missing.
        ValueError: unknown ``layout``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"{CORPUS}: layout must be one of {LAYOUTS}, got {layout!r}")
    root = require_dir(CORPUS, root)
    folders = RECOLA_FOLDERS[layout]
    if layout == "avec2016":
        audio_dir = require_dir(CORPUS, root / folders.audio, "audio folder")
        labels_dir = require_dir(CORPUS, root / folders.labels, "gold-standard labels folder")
        pattern, read_trace = _AVEC_NAME, read_arff_trace
    else:
        audio_dir = require_dir(CORPUS, root / folders.audio, "audio folder")
        labels_dir = require_dir(CORPUS, root / folders.labels, "emotional behaviour annotation folder")
        pattern, read_trace = _ORIGINAL_NAME, read_rater_csv_trace
    label_suffix, default_video_dir = folders.label_suffix, root / folders.video
    videos = Path(os.path.abspath(video_dir)) if video_dir is not None else default_video_dir
    video_containment = videos if video_dir is not None else root
    label_files: dict[str, dict[str, Path]] = {}
    refused: set[str] = set()
    for dimension in DIMENSIONS:
        label_files[dimension], refused_here = _stems(labels_dir / dimension, label_suffix, pattern, root)
        refused |= refused_here
    audio_files, _ = _stems(audio_dir, RECOLA_AUDIO_SUFFIX, pattern, root)
    names = sorted(set(audio_files) | set(label_files["arousal"]) | set(label_files["valence"]) | refused)
    if layout == "avec2016":
        names.sort(key=_avec_sort_key)
        split_of = {name: _AVEC_NAME.match(name).group(1) for name in names}
    else:
        split_of = _original_split(names)
        names.sort(key=lambda name: (SPLITS.index(split_of[name]), int(_ORIGINAL_NAME.match(name).group(1))))

    inputs = sorted(path for files in label_files.values() for path in files.values())
    arguments = {"root": str(root), "layout": layout, "video_dir": str(videos), "recordings": names}

    def build(context: BuildContext):
        from datasets import DatasetDict

        for folder in (audio_dir, videos, *(labels_dir / dimension for dimension in DIMENSIONS)):
            context.watch(folder)
        audio_index = context.index(audio_dir, containment=root)
        video_index = context.index(videos, containment=video_containment)
        rows = {split: [] for split in SPLITS}
        for name in names:
            split = split_of[name]
            if name in refused:
                context.skips.add(split, REASON_OUTSIDE)
                continue
            row = _index_recording(
                name, split, label_files, read_trace, audio_index.lookup, video_index.lookup, context.skips
            )
            if row is not None:
                rows[split].append(row)
        features = _features()
        return DatasetDict({split: make_dataset(_columns(rows[split]), features, split) for split in SPLITS})

    return load_with_cache(CORPUS, arguments, inputs, cache_dir, build)


def _index_recording(
    name: str,
    split: str,
    label_files: dict[str, dict[str, Path]],
    read_trace: Callable[[Path], tuple[Trace, Counter]],
    find_audio: Callable,
    find_video: Callable,
    skips: SkipCounts,
) -> dict | None:
    """One recording's row, or None (counted in ``skips``) when it cannot be used."""
    audio_paths, (audio_status,) = find_audio([name + RECOLA_AUDIO_SUFFIX])
    audio_path = audio_paths[0].as_py()
    if audio_status != FILE_OK:
        skips.add(split, _AUDIO_STATUS_REASONS[audio_status])
        return None
    problem = _audio_problem(Path(audio_path))
    if problem:
        skips.add(split, problem)
        return None
    video_paths, video_statuses = find_video([name + extension for extension in VIDEO_EXTENSIONS])
    video = next((path for path, status in zip(video_paths.to_pylist(), video_statuses) if status == FILE_OK), None)

    present = [dimension for dimension in DIMENSIONS if name in label_files[dimension]]
    time = arousal = valence = np.zeros(0)
    if len(present) == 1:
        skips.add(split, REASON_ONE_DIMENSION)
        return None
    if present:
        traces = {}
        for dimension in DIMENSIONS:
            try:
                traces[dimension], dropped = read_trace(label_files[dimension][name])
            except (OSError, ValueError):  # not a regular file, too large, no @data section, ...
                skips.add(split, REASON_LABEL_FILE)
                return None
            skips.add_counts(split, dropped)
        time, arousal, valence, unpaired = _pair_traces(traces["arousal"], traces["valence"])
        skips.add(split, REASON_UNPAIRED, unpaired)
        if not len(time):
            skips.add(split, REASON_LABEL_FILE)
            return None
    return {"id": name, "audio": audio_path, "video": video, "time": time, "arousal": arousal, "valence": valence}


def _columns(rows: list[dict]) -> dict[str, pa.Array]:
    def sequences(key: str) -> pa.Array:
        return pa.array([np.asarray(row[key], dtype=np.float32) for row in rows], type=pa.list_(pa.float32()))

    return {
        "id": pa.array([row["id"] for row in rows], type=pa.string()),
        "audio": pa.array([row["audio"] for row in rows], type=pa.string()),
        "video": pa.array([row["video"] for row in rows], type=pa.string()),
        "time": sequences("time"),
        "arousal": sequences("arousal"),
        "valence": sequences("valence"),
    }

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
from collections.abc import Callable
from pathlib import Path
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    parse_floats,
    require_dir,
    split_fields,
)

CORPUS = "RECOLA"
SPLITS = ("train", "dev", "test")
DIMENSIONS = ("arousal", "valence")
LAYOUTS = ("avec2016", "original")

_AVEC_NAME = re.compile(r"^(train|dev|test)_(\d+)$")
_ORIGINAL_NAME = re.compile(r"^P(\d+)$")
_TIME_DECIMALS = 1000  # labels are paired on time rounded to the millisecond

REASON_MISSING_AUDIO = "missing audio"
REASON_UNREADABLE_AUDIO = "unreadable audio"
REASON_ONE_DIMENSION = "labels for only one dimension"
REASON_LABEL_FILE = "malformed label file"
REASON_LABEL_LINE = "malformed label line"
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
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [line.strip() for line in handle]


def read_arff_trace(path: Path) -> tuple[Trace, int]:
    """``(time, value)`` from an AVEC gold-standard ARFF, and how many data lines were malformed.

    Raises ``ValueError`` when the file has no ``@data`` section.
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
    ok = time_ok & value_ok
    return (time[ok], value[ok]), int(len(data) - np.count_nonzero(ok))


def read_rater_csv_trace(path: Path) -> tuple[Trace, int]:
    """``(time, mean over raters)`` from an original-release ``;``-separated rating CSV.

    A decimal comma is accepted. Lines whose time, or every rating, fails to parse, or whose field
    count differs from the header's, count as malformed. Raises ``ValueError`` on an empty file.
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
        return (np.zeros(0), np.zeros(0)), len(lines) - 1
    time, time_ok = parse_floats(pc.list_element(fields, 0))
    ratings = np.stack([parse_floats(pc.list_element(fields, column))[0] for column in range(1, header_width)], axis=1)
    rated = ~np.isnan(ratings).all(axis=1)
    # Mean over the raters that parsed; rows where none did are dropped below.
    mean = np.nansum(ratings, axis=1) / np.maximum((~np.isnan(ratings)).sum(axis=1), 1)
    ok = time_ok & rated
    return (time[ok], mean[ok]), int(len(lines) - 1 - np.count_nonzero(ok))


def _deduplicate(trace: Trace) -> tuple[np.ndarray, np.ndarray, int]:
    """Millisecond keys sorted ascending, values, and how many duplicate times were dropped."""
    keys = np.rint(trace[0] * _TIME_DECIMALS).astype(np.int64)
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
    parse, or labels for one dimension only are skipped; label lines that do not parse or whose time
    has no partner in the other dimension are dropped. Each is counted in one warning per split.

    Raises:
        FileNotFoundError: ``root``, the audio folder or the labels folder is missing.
        ValueError: unknown ``layout``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"{CORPUS}: layout must be one of {LAYOUTS}, got {layout!r}")
    root = require_dir(CORPUS, root)
    if layout == "avec2016":
        audio_dir = require_dir(CORPUS, root / "recordings_audio", "audio folder")
        labels_dir = require_dir(CORPUS, root / "ratings_gold_standard", "gold-standard labels folder")
        default_video_dir = root / "recordings_video"
        pattern, label_suffix, read_trace = _AVEC_NAME, ".arff", read_arff_trace
    else:
        audio_dir = require_dir(CORPUS, root / "RECOLA-Audio-recordings", "audio folder")
        labels_dir = require_dir(
            CORPUS, root / "RECOLA-Annotation" / "emotional_behaviour", "emotional behaviour annotation folder"
        )
        default_video_dir = root / "RECOLA-Video-recordings"
        pattern, label_suffix, read_trace = _ORIGINAL_NAME, ".csv", read_rater_csv_trace
    videos = Path(os.path.abspath(video_dir)) if video_dir is not None else default_video_dir
    video_containment = videos if video_dir is not None else root
    label_files: dict[str, dict[str, Path]] = {}
    refused: set[str] = set()
    for dimension in DIMENSIONS:
        label_files[dimension], refused_here = _stems(labels_dir / dimension, label_suffix, pattern, root)
        refused |= refused_here
    audio_files, _ = _stems(audio_dir, ".wav", pattern, root)
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
    read_trace: Callable[[Path], tuple[Trace, int]],
    find_audio: Callable,
    find_video: Callable,
    skips: SkipCounts,
) -> dict | None:
    """One recording's row, or None (counted in ``skips``) when it cannot be used."""
    audio_paths, (audio_status,) = find_audio([name + ".wav"])
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
                traces[dimension], malformed = read_trace(label_files[dimension][name])
            except (OSError, ValueError):
                skips.add(split, REASON_LABEL_FILE)
                return None
            skips.add(split, REASON_LABEL_LINE, malformed)
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

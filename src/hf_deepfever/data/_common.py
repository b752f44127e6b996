"""Helpers shared by the corpus loaders: skip counting, safe file lookup, Arrow caching (fields: :mod:`._fields`).

Design points every loader relies on:

* Bad corpus rows are never fatal. Each is skipped and counted under one reason, and each split gets
  ONE :class:`CorpusRowsSkippedWarning` naming the corpus and the counts.
* File existence is checked through one directory listing per folder (:class:`DirectoryIndex`), not
  one ``stat`` per row, and no path may resolve outside the folder the caller gave (``..``, absolute
  paths and symlinks that escape are all refused). Image contents are not opened while indexing:
  a file that exists but cannot be decoded fails when the ``Image`` column decodes it.
* List files are split into lines in bounded memory (:mod:`._lines`: a line over 1 MiB is skipped and
  counted) and validated with vectorised Arrow and NumPy kernels, in the type each value is stored in
  (float32: a number float32 cannot hold is a bad row, not an ``inf``).
* Only regular files are opened (a FIFO or a device named like a list or label file would block forever).
* Results are cached as Arrow files (:func:`load_with_cache`), keyed on the list files' path, mtime and
  size and on the loader's arguments; the cache also remembers the modification times of every image
  folder it listed, so adding or removing images invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import shutil
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.files import JSON_MAX_BYTES, missing_path_reason, read_regular_text
from ._lines import REASON_ENCODING, REASON_LINE_TOO_LONG, iter_line_batches

logger = logging.getLogger(__name__)

# Bump when the layout of cached datasets changes, so that old caches are not reused.
CACHE_FORMAT_VERSION = 1

# Status codes returned by DirectoryIndex.lookup.
FILE_OK = 0
FILE_OUTSIDE_ROOT = 1
FILE_MISSING = 2
FILE_UNREADABLE = 3

# Skip reasons shared by the loaders, so that warnings read the same for every corpus.
REASON_COLUMNS = "wrong column count"
REASON_NULL = "NULL value"
REASON_NUMBER = "unparsable number"
REASON_LABEL = "label out of range"
REASON_OUTSIDE = "path outside root"
REASON_MISSING_IMAGE = "missing image"
REASON_UNREADABLE_IMAGE = "unreadable image"
REASON_IMAGE_TOO_LARGE = "image too large"

_FILE_STATUS_REASONS = {
    FILE_OUTSIDE_ROOT: REASON_OUTSIDE,
    FILE_MISSING: REASON_MISSING_IMAGE,
    FILE_UNREADABLE: REASON_UNREADABLE_IMAGE,
}

DatasetLike = Any  # datasets.Dataset | datasets.DatasetDict; kept loose to avoid importing datasets here


class CorpusRowsSkippedWarning(UserWarning):
    """Some rows of a corpus were skipped; the message names the corpus, the split and the counts."""


# --------------------------------------------------------------------------------------------------
# Skip counting and errors
# --------------------------------------------------------------------------------------------------


class SkipCounts:
    """Per-split, per-reason counts of skipped rows."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {}

    def add(self, split: str, reason: str, count: int = 1) -> None:
        """Count ``count`` rows of ``split`` skipped for ``reason`` (zero counts are ignored)."""
        if count:
            self._counts.setdefault(split, Counter())[reason] += int(count)

    def add_counts(self, split: str, counts: Mapping[str, int]) -> None:
        """Count several reasons at once (e.g. the lines :func:`iter_line_batches` dropped)."""
        for reason, count in counts.items():
            self.add(split, reason, count)

    def add_mask(self, split: str, reason: str, mask: np.ndarray) -> None:
        """Count the rows where boolean ``mask`` is true."""
        self.add(split, reason, int(np.count_nonzero(mask)))

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {split: dict(counts) for split, counts in self._counts.items()}


def emit_skip_warnings(corpus: str, skips: Mapping[str, Mapping[str, int]]) -> None:
    """Emit one :class:`CorpusRowsSkippedWarning` per split that skipped rows."""
    for split, counts in skips.items():
        total = sum(counts.values())
        if not total:
            continue
        detail = ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items()))
        warnings.warn(
            f"{corpus} {split}: skipped {total} row(s) ({detail})",
            CorpusRowsSkippedWarning,
            stacklevel=4,
        )


def is_utf8_name(name: str) -> bool:
    """Whether a name from the file system (``os.fsdecode``: undecodable bytes became surrogates) is valid
    UTF-8, as every Arrow string (and so every ``datasets`` path column) must be."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_dir(corpus: str, path: Union[str, os.PathLike], what: str = "root folder") -> Path:
    """Absolute ``path`` if it is a folder, else a ``FileNotFoundError`` naming corpus and path; a path that
    is not valid UTF-8 is a ``ValueError`` (no row below it could be stored)."""
    folder = Path(os.path.abspath(os.fspath(path)))
    if not folder.is_dir():
        raise FileNotFoundError(f"{corpus}: {what} not found: expected a folder at {folder}")
    if not is_utf8_name(str(folder)):
        raise ValueError(f"{corpus}: {what} {str(folder)!r} is not a valid UTF-8 path; rename it")
    return folder


def require_file(corpus: str, path: Path, what: str) -> Path:
    """``path`` if it is a regular file, else a ``FileNotFoundError`` naming corpus and path (a FIFO or a
    device is not a list file: reading it would block)."""
    if path.is_file():
        return path
    reason = missing_path_reason(path) or "not a regular file"  # e.g. a FIFO, or a folder of that name
    raise FileNotFoundError(f"{corpus}: {what} not found: expected a file at {path} ({reason})")


def is_inside(path: str, folder_real: str) -> bool:
    """Whether the already-resolved ``path`` is ``folder_real`` or lies below it."""
    return path == folder_real or path.startswith(folder_real.rstrip(os.sep) + os.sep)


def find_folder(root: Path, name: str, max_depth: int = 2) -> Path | None:
    """The shallowest folder called ``name`` at ``root`` or up to ``max_depth`` levels below it.

    Candidates at the same depth are tried in sorted order, so the answer is deterministic. Only real
    sub-folders are descended into (symlinked folders are not followed); callers check that the
    folder found resolves inside ``root``.
    """
    level = [root]
    for _ in range(max_depth + 1):
        hits = sorted(folder / name for folder in level if (folder / name).is_dir())
        if hits:
            return hits[0]
        next_level: list[Path] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError:
                continue
            next_level.extend(Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False))
        level = next_level
    return None


# --------------------------------------------------------------------------------------------------
# File lookup through directory listings
# --------------------------------------------------------------------------------------------------


class DirectoryIndex:
    """Checks that many files exist below ``base`` with one directory listing per folder.

    Relative paths are resolved against ``base``; anything that would resolve outside ``containment``
    (``..`` segments, absolute paths, or symlinks pointing elsewhere) is reported as outside root.
    A listed entry that is not a regular file (a folder, a dangling symlink, a device) is reported
    as unreadable. The folders listed and their modification times are kept in :attr:`listed`
    for cache validation.
    """

    def __init__(self, base: Path, containment: Path | None = None) -> None:
        self.base = os.path.abspath(base)
        if not is_utf8_name(self.base):
            raise ValueError(f"{self.base!r} is not a valid UTF-8 path; rename it")
        self._containment_real = os.path.realpath(containment if containment is not None else base)
        self._listings: dict[str, tuple[pa.StringArray, np.ndarray] | int] = {}
        self._by_name: dict[str, dict[str, int]] = {}
        self.listed: dict[str, int] = {}

    def lookup(self, relative_paths: pa.Array | pa.ChunkedArray | Iterable[str]) -> tuple[pa.StringArray, np.ndarray]:
        """Absolute paths and status codes (``FILE_OK`` ...) for paths relative to ``base``.

        Clean paths (no ``.``/``..``/empty segments) are resolved with vectorised kernels, one
        directory listing and one set-membership test per folder; the rare other paths are
        normalised one by one. An absolute path is meaningful only where its status is ``FILE_OK``.
        """
        relative = relative_paths
        if not isinstance(relative, (pa.Array, pa.ChunkedArray)):
            relative = pa.array(list(relative), pa.string())
        if isinstance(relative, pa.ChunkedArray):
            relative = relative.combine_chunks()
        relative = relative.cast(pa.string())
        row_count = len(relative)
        statuses = np.full(row_count, FILE_MISSING, dtype=np.int8)
        absolute = pc.binary_join_element_wise(pa.scalar(self.base.rstrip("/") + "/"), relative, "")
        suspicious = pc.fill_null(pc.match_substring_regex(relative, r"^$|^/|^\.|//|/\.|/$|\x00"), True)
        suspicious = suspicious.to_numpy(zero_copy_only=False)

        clean_rows = np.flatnonzero(~suspicious)
        if len(clean_rows):
            self._lookup_clean(relative.take(pa.array(clean_rows)), clean_rows, statuses)

        odd_rows = np.flatnonzero(suspicious)
        if len(odd_rows):
            replacements = []
            for row in odd_rows:
                path, statuses[row] = self._lookup_one(relative[int(row)].as_py())
                replacements.append(path)
            mask = np.zeros(row_count, dtype=bool)
            mask[odd_rows] = True
            absolute = pc.replace_with_mask(absolute, pa.array(mask), pa.array(replacements, pa.string()))
        return absolute, statuses

    def _lookup_clean(self, relative: pa.StringArray, rows: np.ndarray, statuses: np.ndarray) -> None:
        """Statuses of normalised relative paths, grouped by folder."""
        # A leading "/" makes every split two parts: ("/folder" or "", name).
        parts = pc.split_pattern(pc.binary_join_element_wise("/", relative, ""), "/", max_splits=1, reverse=True)
        folder = pc.utf8_slice_codeunits(pc.list_element(parts, 0), 1)
        name = pc.list_element(parts, 1)
        encoded = folder.dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        order = np.argsort(codes, kind="stable")
        boundaries = np.flatnonzero(np.diff(codes[order])) + 1
        for group in np.split(order, boundaries):
            listing = self._listing(encoded.dictionary[int(codes[group[0]])].as_py())
            if isinstance(listing, int):
                statuses[rows[group]] = listing
                continue
            names, name_statuses = listing
            if not len(names):
                continue  # an empty folder: every row stays missing
            positions = pc.fill_null(pc.index_in(name.take(pa.array(group)), value_set=names), -1)
            positions = positions.to_numpy(zero_copy_only=False)
            statuses[rows[group]] = np.where(positions >= 0, name_statuses[np.maximum(positions, 0)], FILE_MISSING)

    def _lookup_one(self, relative: str | None) -> tuple[str, int]:
        if not relative or relative.startswith("/") or "\x00" in relative:
            return "", FILE_OUTSIDE_ROOT
        relative = posixpath.normpath(relative)
        if relative == ".." or relative.startswith("../"):
            return "", FILE_OUTSIDE_ROOT
        folder, _, name = relative.rpartition("/")
        if not name or name == ".":
            return "", FILE_MISSING
        listing = self._listing(folder)
        absolute = os.path.join(self.base, relative)
        if isinstance(listing, int):
            return absolute, listing
        by_name = self._by_name.get(folder)
        if by_name is None:  # built once per folder, and only for folders that odd paths reach
            names, name_statuses = listing
            by_name = self._by_name[folder] = dict(zip(names.to_pylist(), name_statuses.tolist()))
        return absolute, by_name.get(name, FILE_MISSING)

    def _listing(self, folder: str) -> tuple[pa.StringArray, np.ndarray] | int:
        cached = self._listings.get(folder)
        if cached is None:
            cached = self._listings[folder] = self._list(folder)
        return cached

    def _list(self, folder: str) -> tuple[pa.StringArray, np.ndarray] | int:
        """Entry names of ``folder`` and their statuses, or one status for the whole folder."""
        full = os.path.join(self.base, folder) if folder else self.base
        if not is_inside(os.path.realpath(full), self._containment_real):
            return FILE_OUTSIDE_ROOT
        self.listed[full] = -1  # a folder created later must invalidate a cache built without it
        try:
            self.listed[full] = os.stat(full).st_mtime_ns
            entries = list(os.scandir(full))
        except (FileNotFoundError, NotADirectoryError):
            return FILE_MISSING
        except OSError:
            return FILE_UNREADABLE
        # A name that is not UTF-8 cannot be stored, nor named by a (UTF-8) list row: it is left out, and a
        # row naming the file in another encoding is dropped as undecodable or counted as a missing image.
        entries = [entry for entry in entries if is_utf8_name(entry.name)]
        names = []
        statuses = np.empty(len(entries), dtype=np.int8)
        for position, entry in enumerate(entries):
            names.append(entry.name)
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not is_inside(target, self._containment_real):
                    statuses[position] = FILE_OUTSIDE_ROOT
                else:
                    statuses[position] = FILE_OK if os.path.isfile(target) else FILE_UNREADABLE
            elif entry.is_file(follow_symlinks=False):
                statuses[position] = FILE_OK
            else:
                statuses[position] = FILE_UNREADABLE
        return pa.array(names, type=pa.string()), statuses


def count_file_statuses(skips: SkipCounts, split: str, statuses: np.ndarray) -> None:
    """Count rows whose image lookup failed, under the standard reasons."""
    for status, reason in _FILE_STATUS_REASONS.items():
        skips.add_mask(split, reason, statuses == status)


# --------------------------------------------------------------------------------------------------
# Building Arrow-backed datasets
# --------------------------------------------------------------------------------------------------


def image_column(paths: pa.Array | Sequence[str]) -> pa.StructArray:
    """A datasets ``Image()`` column that references files by absolute path (decoded lazily)."""
    if isinstance(paths, pa.ChunkedArray):
        paths = paths.combine_chunks()
    paths = paths if isinstance(paths, pa.Array) else pa.array(list(paths), type=pa.string())
    return pa.StructArray.from_arrays(
        [pa.nulls(len(paths), pa.binary()), paths.cast(pa.string())], names=["bytes", "path"]
    )


def make_dataset(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], features: Any, split: str, fingerprint: str | None = None
) -> Any:
    """A ``datasets.Dataset`` over Arrow ``columns`` typed as ``features``.

    ``fingerprint`` defaults to a random one: left to ``datasets``, it would hash (and so copy) the
    whole in-memory table.
    """
    import datasets
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.table import InMemoryTable

    schema = features.arrow_schema
    arrays = [columns[name].cast(schema.field(name).type) for name in schema.names]
    table = pa.Table.from_arrays(arrays, schema=schema)
    return datasets.Dataset(
        InMemoryTable(table),
        info=datasets.DatasetInfo(features=features),
        split=datasets.NamedSplit(split),
        fingerprint=fingerprint or generate_random_fingerprint(),
    )


def concat_columns(
    parts: Sequence[Mapping[str, pa.Array | pa.ChunkedArray]], names: Sequence[str]
) -> dict[str, pa.ChunkedArray]:
    """Per-batch column dicts joined into one dict of chunked arrays (the batches are not copied)."""
    joined = {}
    for name in names:
        chunks = []
        for part in parts:
            column = part[name]
            chunks.extend(column.chunks if isinstance(column, pa.ChunkedArray) else [column])
        joined[name] = pa.chunked_array(chunks, type=chunks[0].type)
    return joined


# --------------------------------------------------------------------------------------------------
# Arrow cache
# --------------------------------------------------------------------------------------------------


class BuildContext:
    """What a loader's build function reports besides the dataset: skips and the folders it listed."""

    def __init__(self) -> None:
        self.skips = SkipCounts()
        self._indexes: dict[tuple[str, str], DirectoryIndex] = {}
        self._watched: dict[str, int] = {}

    def index(self, base: Path, containment: Path | None = None) -> DirectoryIndex:
        """A :class:`DirectoryIndex` whose listed folders become part of the cache's validity check.

        Asking twice for the same folders returns the same index, so splits share their listings.
        """
        key = (os.path.abspath(base), os.path.realpath(containment if containment is not None else base))
        if key not in self._indexes:
            self._indexes[key] = DirectoryIndex(base, containment)
        return self._indexes[key]

    def watch(self, folder: Path) -> None:
        """Make the cache depend on ``folder``'s modification time (files added or removed)."""
        try:
            self._watched[os.path.abspath(folder)] = os.stat(folder).st_mtime_ns
        except OSError:
            self._watched[os.path.abspath(folder)] = -1

    def watched(self) -> dict[str, int]:
        merged = dict(self._watched)
        for index in self._indexes.values():
            merged.update(index.listed)
        return merged


def default_cache_dir() -> Path:
    """``$HF_DATASETS_CACHE/hf_deepfever`` (by default ``~/.cache/huggingface/datasets/hf_deepfever``)."""
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "hf_deepfever"


def _file_signature(path: Path) -> list[Any]:
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_mtime_ns, stat.st_size]


def _mtime_or_missing(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def cache_key(corpus: str, arguments: Mapping[str, Any], input_files: Sequence[Path]) -> str:
    """Hex key for a loader call: corpus, arguments and each input file's path, mtime and size."""
    material = {
        "format": CACHE_FORMAT_VERSION,
        "corpus": corpus,
        "arguments": {name: (str(value) if isinstance(value, Path) else value) for name, value in arguments.items()},
        "inputs": [_file_signature(path) for path in input_files],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def _read_valid_meta(entry: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(read_regular_text(entry / "meta.json", max_bytes=JSON_MAX_BYTES))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("watched", {}), dict):
        return None
    watched = meta.get("watched", {})
    if any(_mtime_or_missing(folder) != mtime for folder, mtime in watched.items()):
        return None
    return meta


def _write_arrow(dataset: DatasetLike, path: Path) -> None:
    """One split's table as an Arrow stream file (the format ``Dataset.from_file`` memory-maps).

    ``Dataset.save_to_disk`` is not used: it embeds every referenced image's bytes, which would copy
    the whole corpus into the cache.
    """
    table = dataset.data.table
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=64 * 1024)


def _read_cached(entry: Path, meta: Mapping[str, Any]) -> DatasetLike:
    """The dataset (or dataset dict) stored in cache ``entry``, memory-mapped."""
    import datasets

    splits = {
        split: datasets.Dataset.from_file(str(entry / f"{split}.arrow"), split=datasets.NamedSplit(split))
        for split in meta["splits"]
    }
    return datasets.DatasetDict(splits) if meta["kind"] == "dict" else splits[meta["splits"][0]]


def _save_atomically(dataset: DatasetLike, meta: dict[str, Any], entry: Path) -> None:
    """Write ``dataset`` and ``meta`` to a temporary folder, then move it into place in one rename."""
    import datasets

    splits = dict(dataset) if isinstance(dataset, datasets.DatasetDict) else {str(dataset.split or "train"): dataset}
    meta["kind"] = "dict" if isinstance(dataset, datasets.DatasetDict) else "dataset"
    meta["splits"] = list(splits)
    entry.parent.mkdir(parents=True, exist_ok=True)
    temporary = entry.parent / f".tmp-{entry.name}-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        temporary.mkdir()
        for split, split_dataset in splits.items():
            _write_arrow(split_dataset, temporary / f"{split}.arrow")
        # meta.json is written last: an entry holding it is complete.
        (temporary / "meta.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        stale = None
        if entry.exists():
            stale = entry.parent / f".stale-{entry.name}-{uuid.uuid4().hex}"
            try:
                os.rename(entry, stale)
            except OSError:
                stale = None
        try:
            os.rename(temporary, entry)
        except OSError:
            pass  # another process published the same entry first; theirs is as good as ours
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def load_with_cache(
    corpus: str,
    arguments: Mapping[str, Any],
    input_files: Sequence[Path],
    cache_dir: Union[str, os.PathLike, None],
    build: Callable[[BuildContext], DatasetLike],
) -> DatasetLike:
    """Load a corpus index from the Arrow cache, or build it with ``build`` and cache it.

    The entry is ``<cache_dir>/<corpus>/<key>/`` where the key hashes the corpus, ``arguments`` and
    each input file's absolute path, mtime and size. An entry is reused only while every folder
    the build listed keeps its modification time. Writes go to a temporary folder renamed into place.
    Skip warnings are emitted on every call, from the counts stored with the entry.
    """
    base = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / corpus.lower().replace(" ", "_")
    entry = base / cache_key(corpus, arguments, input_files)
    meta = _read_valid_meta(entry)
    if meta is not None:
        try:
            dataset = _read_cached(entry, meta)
        except (OSError, ValueError, KeyError, pa.ArrowException) as error:
            logger.warning("%s: ignoring unreadable cache entry %s (%s)", corpus, entry, error)
        else:
            emit_skip_warnings(corpus, meta["skips"])
            return dataset

    context = BuildContext()
    dataset = build(context)
    skips = context.skips.as_dict()
    meta = {"corpus": corpus, "skips": skips, "watched": context.watched()}
    try:
        _save_atomically(dataset, meta, entry)
        dataset = _read_cached(entry, meta)
    except OSError as error:
        logger.warning(
            "%s: could not write the Arrow cache at %s (%s); using the index in memory", corpus, entry, error
        )
    emit_skip_warnings(corpus, skips)
    return dataset

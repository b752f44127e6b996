"""Reading the output of ``deepfever extract``: one table, or a folder of Parquet shards, into vectors + rows.

The one reader of vectors tables (the index, ``deepfever similar`` and the app all call :func:`read_vectors`),
so a change of the extract format is adapted here only. Accepted:

- ``vectors.parquet``: a ``path`` column and a ``vector`` list column;
- ``vectors.csv``: ``path`` and the vector spread over ``vector_0 ... vector_{D-1}``;
- a folder of Parquet shards (what ``datasets.load_dataset("parquet", data_dir=DIR)`` reads), with an optional
  ``manifest.json`` or ``.manifest.json`` (see :data:`MANIFEST_NAMES`); only regular ``*.parquet`` files inside
  the folder are read, temporary and hidden names skipped.

Optional columns are kept: ``expression``, ``probability``, ``valence``, ``arousal`` and the face columns of
``extract --detect-faces`` (``face_index``, ``face_x``, ``face_y``, ``face_w``, ``face_h``, ``detection_score``);
a row whose four box values are all null means the whole image. The model that made the vectors is read from
the Parquet metadata key :data:`~hf_deepfever.search.identity.MODEL_METADATA_KEY` or the manifest's ``"model"``.
Rows with a missing, wrong-length, non-finite or all-zero vector, a missing path or a half-null box are skipped
and counted by reason.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.files import is_temporary_name, open_regular_file, read_json_object
from .identity import MODEL_METADATA_KEY, ModelIdentity

MANIFEST_NAMES = ("manifest.json", ".manifest.json")
"""Where a sharded folder may describe itself. ``datasets.load_dataset("parquet", data_dir=DIR)`` (datasets 5.2)
tries to read every file of DIR except hidden ones and README.md as Parquet, so only ``.manifest.json`` (or
the model identity in each shard's metadata) keeps such a folder loadable that way."""
BOX_COLUMNS = ("face_x", "face_y", "face_w", "face_h")
ROW_COLUMNS = ("path", "face_index", *BOX_COLUMNS, "detection_score", "expression", "probability", "valence", "arousal")
"""Columns carried from a vectors table into an index's rows (those present; ``path`` always)."""

_CSV_VECTOR = re.compile(r"vector_(\d+)")
REASON_NO_PATH = "missing path"
REASON_NO_VECTOR = "missing vector"
REASON_LENGTH = "vector of another length"
REASON_NON_FINITE = "non-finite vector value"
REASON_ZERO = "all-zero vector"
REASON_BOX = "half-null face box"
REASON_BAD_BOX = "non-positive face box size"


@dataclass
class VectorsTable:
    """Vectors and their rows, as read from a vectors table or folder.

    Attributes:
        source: the file or folder read.
        vectors: ``(N, D)`` float32, as stored (not normalised here).
        rows: the kept rows' columns of :data:`ROW_COLUMNS` (``path`` always, the rest when present) plus
            ``source_row``, the row's number in the source (file order, shards in name order).
        model: the model identity recorded with the vectors, or ``None`` when the source records none.
        skipped: rows left out, by reason.
        first_skipped: ``(source_row, reason)`` of the first few skipped rows, for messages.
    """

    source: str
    vectors: np.ndarray
    rows: pa.Table
    model: ModelIdentity | None
    skipped: Counter = field(default_factory=Counter)
    first_skipped: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def has_faces(self) -> bool:
        return all(name in self.rows.column_names for name in BOX_COLUMNS)

    def face_boxes(self) -> np.ndarray | None:
        """``(N, 4)`` float64 ``(x, y, w, h)``, NaN for rows of a whole image; ``None`` without face columns."""
        if not self.has_faces:
            return None
        return np.stack(
            [self.rows[name].to_numpy(zero_copy_only=False).astype(np.float64) for name in BOX_COLUMNS], axis=1
        )

    def skipped_summary(self) -> str:
        return ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))


# ------------------------------------------------------------------------------------------------ sources


def _model_from_metadata(metadata: dict[bytes, bytes] | None, source: str) -> ModelIdentity | None:
    raw = (metadata or {}).get(MODEL_METADATA_KEY.encode())
    if raw is None:
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: metadata {MODEL_METADATA_KEY!r} is not JSON ({error})") from None
    return ModelIdentity.from_dict(value, f"{source}: metadata {MODEL_METADATA_KEY!r}")


def _read_parquet(path: Path) -> tuple[pa.Table, ModelIdentity | None]:
    import pyarrow.parquet as pq

    with open_regular_file(path) as handle:
        try:
            table = pq.read_table(handle)
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"{path}: not a readable Parquet file ({error})") from None
    return table, _model_from_metadata(table.schema.metadata, str(path))


def _read_csv(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    with open_regular_file(path) as handle:
        try:
            table = pacsv.read_csv(handle, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        except (pa.ArrowException, OSError) as error:
            raise ValueError(f"{path}: not a readable CSV table ({error})") from None
    found = sorted((int(m.group(1)), name) for name in table.column_names if (m := _CSV_VECTOR.fullmatch(name)))
    if not found:
        raise ValueError(f"{path}: no vector_0 ... vector_N columns (is it the output of deepfever extract?)")
    if [number for number, _ in found] != list(range(len(found))):
        raise ValueError(f"{path}: vector columns must be vector_0 ... vector_{len(found) - 1} without gaps")
    columns = [pc.cast(table[name], pa.float32()) for _, name in found]
    matrix = np.stack([column.to_numpy(zero_copy_only=False) for column in columns], axis=1)
    null_rows = np.zeros(table.num_rows, dtype=bool)
    for column in columns:
        null_rows |= column.is_null().to_numpy(zero_copy_only=False)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), pa.float32()), len(found))
    vectors = pc.if_else(pa.array(null_rows), pa.nulls(table.num_rows, vectors.type), vectors)
    keep = [name for name in table.column_names if not _CSV_VECTOR.fullmatch(name)]
    return table.select(keep).append_column("vector", vectors)


def _shards(folder: Path) -> tuple[list[Path], ModelIdentity | None]:
    """The folder's shards (manifest order, else name order) and the manifest's model, if any."""
    root = folder.resolve()
    manifest_path = next((folder / name for name in MANIFEST_NAMES if (folder / name).exists()), None)
    model = None
    listed: list[str] | None = None
    if manifest_path is not None:
        manifest = read_json_object(manifest_path)
        if manifest.get("model") is not None:
            model = ModelIdentity.from_dict(manifest["model"], f"{manifest_path}: 'model'")
        for key in ("shards", "files"):
            if key in manifest:
                entries = manifest[key]
                if not isinstance(entries, list):
                    raise ValueError(f"{manifest_path}: {key!r} must be a list")
                listed = [entry["path"] if isinstance(entry, dict) and "path" in entry else entry for entry in entries]
                if not all(isinstance(entry, str) for entry in listed):
                    raise ValueError(f"{manifest_path}: {key!r} must list file names (or objects with a 'path')")
                break
    if listed is not None:
        paths = [folder / entry for entry in listed]
    else:
        paths = sorted(
            path
            for path in folder.rglob("*.parquet")
            if not is_temporary_name(path.name)
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        )
    for path in paths:
        try:
            path.resolve().relative_to(root)
        except ValueError:
            raise ValueError(f"{folder}: shard {path} lies outside the folder; refusing to read it") from None
    if not paths:
        raise ValueError(f"{folder}: no .parquet shards in this folder (is it an output folder of deepfever extract?)")
    return paths, model


def _read_source(source: Path) -> tuple[pa.Table, ModelIdentity | None]:
    if source.is_dir():
        paths, model = _shards(source)
        tables = []
        for path in paths:
            table, shard_model = _read_parquet(path)
            if shard_model is not None:
                if model is not None and shard_model.fingerprint != model.fingerprint:
                    raise ValueError(f"{path}: made by {shard_model.describe()}, but the folder's other vectors by {model.describe()}")
                model = shard_model
            tables.append(table.replace_schema_metadata(None))
        try:
            return pa.concat_tables(tables, promote_options="permissive"), model
        except pa.ArrowException as error:
            raise ValueError(f"{source}: its shards have incompatible columns ({error})") from None
    if not source.exists():
        raise FileNotFoundError(f"no such vectors table or folder: {source}")
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(source)
    if suffix == ".csv":
        return _read_csv(source), None
    raise ValueError(f"{source}: a vectors table must be a .parquet or .csv file, or a folder of .parquet shards")


# ------------------------------------------------------------------------------------------------ checks


def _vector_matrix(column: pa.ChunkedArray, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(matrix (N, D) float32, null rows, wrong-length rows)``; D is the most common length."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or pa.types.is_fixed_size_list(array.type)):
        raise ValueError(f"{source}: column 'vector' must be a list of numbers, got {array.type}")
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    present = lengths[~nulls]
    if present.size == 0:
        raise ValueError(f"{source}: no row has a vector")
    values, counts = np.unique(present, return_counts=True)
    dim = int(values[np.argmax(counts)])
    if dim < 1:
        raise ValueError(f"{source}: the vectors are empty")
    wrong = ~nulls & (lengths != dim)
    good = ~nulls & ~wrong
    matrix = np.zeros((len(array), dim), dtype=np.float32)
    if good.any():
        kept = array.filter(pa.array(good))
        flat = pc.list_flatten(kept).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        matrix[good] = flat.reshape(-1, dim)
    return matrix, nulls, wrong


def read_vectors(source: str | os.PathLike[str]) -> VectorsTable:
    """Read a vectors table or folder of shards (see the module docstring); bad rows are skipped and counted.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: it is not a vectors table (no ``path`` or vector columns, unreadable file) or no row is usable.
    """
    source = Path(source)
    table, model = _read_source(source)
    name = str(source)
    if "path" not in table.column_names:
        raise ValueError(f"{name}: no 'path' column (is it the output of deepfever extract?); columns: {table.column_names}")
    if "vector" not in table.column_names:
        raise ValueError(f"{name}: no 'vector' column; columns: {table.column_names}")
    matrix, null_vectors, wrong_length = _vector_matrix(table["vector"], name)
    reasons = np.full(table.num_rows, "", dtype=object)
    paths = pc.cast(table["path"], pa.string())
    reasons[paths.is_null().to_numpy(zero_copy_only=False)] = REASON_NO_PATH
    with np.errstate(invalid="ignore"):
        non_finite = ~np.isfinite(matrix).all(axis=1)
        zero = ~non_finite & (np.abs(matrix).max(axis=1) == 0)
    for mask, reason in ((null_vectors, REASON_NO_VECTOR), (wrong_length, REASON_LENGTH), (non_finite, REASON_NON_FINITE), (zero, REASON_ZERO)):
        reasons[mask & (reasons == "")] = reason
    columns = {"path": paths}
    for column in ROW_COLUMNS[1:]:
        if column in table.column_names:
            columns[column] = table[column]
    rows = pa.table(columns)
    missing_box = [column for column in BOX_COLUMNS if column not in rows.column_names]
    if len(missing_box) not in (0, len(BOX_COLUMNS)):
        raise ValueError(f"{name}: has some face box columns but not {missing_box}")
    if not missing_box:
        box = np.stack([pc.cast(rows[c], pa.float64()).to_numpy(zero_copy_only=False) for c in BOX_COLUMNS], axis=1)
        box_nulls = np.isnan(box)
        reasons[box_nulls.any(axis=1) & ~box_nulls.all(axis=1) & (reasons == "")] = REASON_BOX
        with np.errstate(invalid="ignore"):
            bad_size = ~box_nulls.any(axis=1) & ((box[:, 2] <= 0) | (box[:, 3] <= 0))
        reasons[bad_size & (reasons == "")] = REASON_BAD_BOX
        for index, column in enumerate(BOX_COLUMNS):
            rows = rows.set_column(rows.column_names.index(column), column, pa.array(box[:, index], pa.float64(), from_pandas=True))
    keep = reasons == ""
    rows = rows.append_column("source_row", pa.array(np.arange(table.num_rows, dtype=np.int64))).filter(pa.array(keep))
    skipped = Counter(str(reason) for reason in reasons[~keep])
    first = [(int(row), str(reasons[row])) for row in np.flatnonzero(~keep)[:5]]
    if not keep.any():
        raise ValueError(f"{name}: no usable row ({', '.join(f'{c} {r}' for r, c in sorted(skipped.items()))})")
    return VectorsTable(name, np.ascontiguousarray(matrix[keep]), rows, model, skipped, first)


__all__ = ["BOX_COLUMNS", "MANIFEST_NAMES", "ROW_COLUMNS", "VectorsTable", "read_vectors"]

"""`ExpressionIndex`: nearest expressions by cosine distance, on faiss (the ``[search]`` extra: ``faiss-cpu``).

Vectors are L2-normalised when added and when queried, so the inner product faiss ranks by is the cosine
similarity; distances are reported as ``1 - cosine`` (0 = the same expression direction, 2 = opposite), which
orders pairs exactly as the squared Euclidean distance of the normalised vectors (``2 - 2 cosine``) that the
FEC triplet loss and :func:`hf_deepfever.metrics.triplet_accuracy` use.

Kinds:

- ``"exact"`` (``IndexFlatIP``): every vector compared; the default below :data:`AUTO_APPROXIMATE_FROM` rows.
- ``"ivf"`` (``IndexIVFFlat``): inverted lists (about 4 sqrt(N)), of which 1/8 are searched; approximate; chosen by
  ``"auto"`` from :data:`AUTO_APPROXIMATE_FROM` rows on.
- ``"hnsw"`` (``IndexHNSWFlat``): a graph, approximate; on request. On 1,000,000 random vectors it built 10-22x
  slower than IVF (340 s vs 32 s, 575 s vs 26 s in two runs on one core) for about the same recall at the same
  query time (benchmarks/RESULTS.md), so ``"auto"`` takes IVF.

Each row keeps its image path and face box (and the expression columns of the vectors table). The index
records the :class:`~hf_deepfever.search.identity.ModelIdentity` of the model that made its vectors and
refuses queries from another (:class:`~hf_deepfever.search.identity.ModelMismatchError`).

Saved as a folder (:meth:`ExpressionIndex.save`, written whole under a temporary name, then renamed into place):
``index.faiss`` (faiss's own format), ``rows.parquet`` and ``index.json`` (kind, parameters, model, and the size
and SHA-256 of the two other files, checked by :meth:`ExpressionIndex.load` before anything is parsed).
Nothing is pickled.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..core.files import atomic_output, atomic_write_json, fsync_directory, open_regular_file, temporary_path
from .identity import ModelIdentity
from .vectors_table import BOX_COLUMNS, VectorsTable

INDEX_KINDS = ("auto", "exact", "hnsw", "ivf")
AUTO_APPROXIMATE_FROM = 1_000_000
"""``kind="auto"`` builds an exact index below this many rows and an IVF index from it on. An exact query over
1,000,000 vectors of dimension 64 takes 18-29 ms on one core (benchmarks/RESULTS.md): below that, exactness costs
a user nothing they would notice, and approximate search gives up recall (most on unclustered vectors)."""

HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 256
IVF_PROBE_FRACTION = 1 / 8
IVF_TRAINING_POINTS_PER_LIST = 64

FORMAT_NAME = "hf_deepfever.expression_index"
FORMAT_VERSION = 1
MANIFEST_NAME = "index.json"
FAISS_NAME = "index.faiss"
ROWS_NAME = "rows.parquet"


def import_faiss() -> Any:
    """faiss, or an ImportError that says how to install it."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            f"the expression index needs faiss, which cannot be imported ({error}); "
            "install it with: pip install 'hf_deepfever[search]' (faiss-cpu)"
        ) from error
    return faiss


def normalise(vectors: Any, what: str = "vectors") -> np.ndarray:
    """``(N, D)`` float32 rows of unit length (a 1-D vector is one row); zero or non-finite rows are an error."""
    array = np.array(vectors, dtype=np.float32, copy=True)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{what} must be an (N, D) array, got shape {array.shape}")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise ValueError(f"{what}: row {int(np.flatnonzero(bad)[0])} holds a non-finite value")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{what}: row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros (no direction)")
    array /= norms
    return array


def resolve_kind(kind: str, count: int) -> str:
    if kind not in INDEX_KINDS:
        raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {kind!r}")
    if kind == "auto":
        return "ivf" if count >= AUTO_APPROXIMATE_FROM else "exact"
    return kind


def default_ivf_lists(count: int) -> int:
    """About 4 sqrt(N) lists (faiss's usual advice), at least 1, at most N / 39 so each list is trainable."""
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


@dataclass
class Neighbour:
    """One result of a search."""

    rank: int
    distance: float  # 1 - cosine similarity
    row: int  # row number in the index
    path: str
    face_box: tuple[float, float, float, float] | None  # (x, y, w, h) in the upright image; None: the whole image
    info: dict[str, Any]  # the row's other columns (face_index, expression, probability, valence, arousal, ...)


@dataclass
class SearchResult:
    """Distances (``1 - cosine``, ascending) and row numbers, ``(queries, k)``; row -1 pads missing results."""

    distances: np.ndarray
    rows: np.ndarray
    index: ExpressionIndex

    def neighbours(self, query: int = 0) -> list[Neighbour]:
        """The results of query ``query`` with each row's path, face box and columns."""
        found = []
        for rank, (distance, row) in enumerate(zip(self.distances[query], self.rows[query])):
            if row >= 0:
                found.append(self.index.neighbour(int(row), rank=rank, distance=float(distance)))
        return found


def _digest(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _read_checked(folder: Path, name: str, expected: Any) -> bytes:
    """The bytes of ``folder/name``, checked against the manifest's size and SHA-256; never outside ``folder``."""
    path = folder / name
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        raise ValueError(f"{path}: points outside the index folder; refusing to read it") from None
    if not isinstance(expected, dict) or not isinstance(expected.get("sha256"), str):
        raise ValueError(f"{folder / MANIFEST_NAME}: no size and sha256 recorded for {name}")
    try:
        with open_regular_file(path) as handle:
            data = handle.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing from the index folder") from None
    actual = _digest(data)
    if actual != {"bytes": expected.get("bytes"), "sha256": expected["sha256"]}:
        raise ValueError(
            f"{path}: does not match {MANIFEST_NAME} ({actual['bytes']} bytes, sha256 {actual['sha256'][:12]} vs "
            f"{expected.get('bytes')} bytes, sha256 {expected['sha256'][:12]}): the index is damaged or was edited"
        )
    return data


class ExpressionIndex:
    """Nearest-neighbour search over expression vectors, each row with its image path and face box.

    Build with :meth:`build` (arrays) or :meth:`from_table` (a :class:`VectorsTable`); :meth:`save` /
    :meth:`load` a folder; :meth:`search` with vectors of the same model.

    Example:

    ```python
    >>> from hf_deepfever.search import ExpressionIndex, read_vectors
    >>> index = ExpressionIndex.from_table(read_vectors("vectors.parquet"), model=identity)
    >>> index.save("faces.index")
    >>> result = ExpressionIndex.load("faces.index").search(query_vectors, k=10, model=identity)
    >>> [(n.path, round(n.distance, 3)) for n in result.neighbours(0)]
    ```
    """

    def __init__(self, faiss_index: Any, rows: pa.Table, model: ModelIdentity, kind: str, params: dict[str, Any]) -> None:
        if faiss_index.ntotal != rows.num_rows:
            raise ValueError(f"the faiss index holds {faiss_index.ntotal} vectors but there are {rows.num_rows} rows")
        self._index = faiss_index
        self.rows = rows
        self.model = model
        self.kind = kind
        self.params = dict(params)

    # ------------------------------------------------------------------------------------------ build

    @classmethod
    def build(
        cls,
        vectors: Any,
        paths: Sequence[str],
        *,
        model: ModelIdentity,
        face_boxes: Any = None,
        columns: dict[str, Sequence[Any]] | None = None,
        kind: str = "auto",
        hnsw_neighbours: int = HNSW_NEIGHBOURS,
        ivf_lists: int | None = None,
        seed: int = 0,
    ) -> ExpressionIndex:
        """Index ``vectors`` (``(N, D)``, normalised here) with their ``paths``.

        Args:
            model: the identity of the model that made the vectors (see :func:`model_fingerprint`).
            face_boxes: ``(N, 4)`` ``(x, y, w, h)`` in upright pixels, NaN rows (or ``None``) for whole images.
            columns: other per-row columns to keep (``expression``, ``valence``, ...).
            kind: ``"auto"``, ``"exact"``, ``"hnsw"`` or ``"ivf"`` (see the module docstring).
        """
        rows: dict[str, Any] = {"path": pa.array([str(path) for path in paths], pa.string())}
        if face_boxes is not None:
            boxes = np.asarray(face_boxes, dtype=np.float64).reshape(-1, 4)
            for position, name in enumerate(BOX_COLUMNS):
                rows[name] = pa.array(boxes[:, position], pa.float64(), from_pandas=True)
        for name, values in (columns or {}).items():
            rows[name] = pa.array(values)
        return cls._from_arrays(vectors, pa.table(rows), model, kind, hnsw_neighbours, ivf_lists, seed)

    @classmethod
    def from_table(
        cls, table: VectorsTable, *, model: ModelIdentity | None = None, kind: str = "auto", **options: Any
    ) -> ExpressionIndex:
        """Index a :class:`VectorsTable`; ``model`` defaults to (and must agree with) the one the table records."""
        if model is None:
            if table.model is None:
                raise ValueError(
                    f"{table.source} does not record which model made its vectors: give the model "
                    "(deepfever index ... --model M, or model=model_fingerprint(M))"
                )
            model = table.model
        elif table.model is not None:
            table.model.check_same(model, what=f"the vectors of {table.source}")
        if model.embedding_dim is not None and model.embedding_dim != table.dim:
            raise ValueError(f"{table.source}: vectors of length {table.dim}, but {model.describe()} makes {model.embedding_dim}")
        return cls._from_arrays(table.vectors, table.rows, model, kind, options.get("hnsw_neighbours", HNSW_NEIGHBOURS),
                                options.get("ivf_lists"), options.get("seed", 0))

    @classmethod
    def _from_arrays(
        cls, vectors: Any, rows: pa.Table, model: ModelIdentity, kind: str, hnsw_neighbours: int, ivf_lists: int | None, seed: int
    ) -> ExpressionIndex:
        faiss = import_faiss()
        unit = normalise(vectors, "index vectors")
        count, dim = unit.shape
        if rows.num_rows != count:
            raise ValueError(f"{count} vectors but {rows.num_rows} rows (paths)")
        kind = resolve_kind(kind, count)
        if model.embedding_dim is None:
            model = ModelIdentity(model.fingerprint, model.name, dim)
        elif model.embedding_dim != dim:
            raise ValueError(f"vectors of length {dim}, but {model.describe()} makes vectors of length {model.embedding_dim}")
        params: dict[str, Any] = {}
        if kind == "exact":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, int(hnsw_neighbours), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            params = {"neighbours": int(hnsw_neighbours), "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH}
        else:
            lists = default_ivf_lists(count) if ivf_lists is None else int(ivf_lists)
            if not 1 <= lists <= count:
                raise ValueError(f"an IVF index of {count} vectors needs 1 to {count} lists, got {lists}")
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
            sample = min(count, IVF_TRAINING_POINTS_PER_LIST * lists)
            chosen = np.sort(np.random.default_rng(seed).choice(count, size=sample, replace=False))
            index.train(unit[chosen])
            params = {"lists": lists, "probes": max(1, round(lists * IVF_PROBE_FRACTION)), "training_points": sample}
        index.add(unit)
        return cls(index, rows, model, kind, params)

    # ------------------------------------------------------------------------------------------ search

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(
        self,
        vectors: Any,
        k: int = 10,
        *,
        model: ModelIdentity,
        exclude_rows: Sequence[int | None] | None = None,
        ef_search: int | None = None,
        probes: int | None = None,
    ) -> SearchResult:
        """The ``k`` nearest rows to each query vector (normalised here), nearest first.

        Args:
            model: the identity of the model that made the query vectors; another model than the index's is
                refused with :class:`ModelMismatchError`.
            exclude_rows: per query, a row to leave out of its results (the query's own row), or ``None``.
            ef_search / probes: the HNSW search breadth / IVF lists visited, instead of the saved defaults.
        """
        self.model.check_same(model)
        queries = normalise(vectors, "query vectors")
        if queries.shape[1] != self.dim:
            raise ValueError(f"query vectors of length {queries.shape[1]}, but the index holds vectors of length {self.dim}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if exclude_rows is not None and len(exclude_rows) != len(queries):
            raise ValueError(f"exclude_rows has {len(exclude_rows)} entries for {len(queries)} queries")
        wanted = min(int(k), len(self))
        fetch = min(wanted + (1 if exclude_rows is not None else 0), len(self))
        self._set_breadth(ef_search, probes, fetch)
        similarities, rows = self._index.search(queries, fetch)
        distances = (1.0 - similarities).astype(np.float32)
        if exclude_rows is not None:
            distances, rows = _drop_rows(distances, rows, exclude_rows, wanted)
        else:
            distances, rows = distances[:, :wanted], rows[:, :wanted]
        distances = np.where(rows >= 0, np.clip(distances, 0.0, 2.0), np.inf).astype(np.float32)
        return SearchResult(distances, rows.astype(np.int64), self)

    def _set_breadth(self, ef_search: int | None, probes: int | None, k: int) -> None:
        if self.kind == "hnsw":
            self._index.hnsw.efSearch = max(int(ef_search or self.params["ef_search"]), k)
        elif self.kind == "ivf":
            self._index.nprobe = int(probes or self.params["probes"])

    def vectors(self) -> np.ndarray:
        """All stored (normalised) vectors, ``(N, D)``, in row order."""
        if self.kind == "ivf":
            self._index.make_direct_map()  # IVF lists are not in row order: map rows to list entries first
        return self._index.reconstruct_n(0, len(self))

    def neighbour(self, row: int, *, rank: int = 0, distance: float = 0.0) -> Neighbour:
        """Row ``row`` as a :class:`Neighbour`."""
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} is outside this index of {len(self)} rows")
        values = {name: column[0] for name, column in self.rows.slice(row, 1).to_pydict().items()}
        box = tuple(values.pop(name, None) for name in BOX_COLUMNS)
        face_box = None if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in box) else tuple(map(float, box))
        return Neighbour(rank=rank, distance=distance, row=row, path=values.pop("path"), face_box=face_box, info=values)

    def __repr__(self) -> str:
        return f"ExpressionIndex(kind={self.kind!r}, rows={len(self)}, dim={self.dim}, model={self.model.describe()!r})"

    # ------------------------------------------------------------------------------------------ files

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the index folder; a complete new folder replaces an old index there, or nothing changes.

        Refuses to replace a folder that is not an index (files there and no ``index.json``).
        """
        import pyarrow.parquet as pq

        faiss = import_faiss()
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / MANIFEST_NAME).is_file())):
            raise FileExistsError(f"{folder} exists and is not an expression index folder; choose a new or empty folder")
        if not folder.parent.is_dir():
            raise FileNotFoundError(f"the folder to hold the index does not exist: {folder.parent}")
        faiss_bytes = faiss.serialize_index(self._index).tobytes()
        sink = pa.BufferOutputStream()
        pq.write_table(self.rows, sink)
        rows_bytes = sink.getvalue().to_pybytes()
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "metric": "cosine",
            "distance": "1 - cosine similarity of the L2-normalised vectors",
            "dim": self.dim,
            "count": len(self),
            "params": self.params,
            "model": self.model.to_dict(),
            "files": {FAISS_NAME: _digest(faiss_bytes), ROWS_NAME: _digest(rows_bytes)},
            "faiss_version": getattr(faiss, "__version__", "unknown"),
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        staging = temporary_path(folder)
        staging.mkdir()
        try:
            for name, data in ((FAISS_NAME, faiss_bytes), (ROWS_NAME, rows_bytes)):
                with atomic_output(staging / name) as temporary:
                    temporary.write_bytes(data)
            atomic_write_json(staging / MANIFEST_NAME, manifest)
            _replace_folder(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> ExpressionIndex:
        """Read an index folder, checking every file against ``index.json`` before parsing it."""
        import pyarrow.parquet as pq

        faiss = import_faiss()
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no such index folder: {folder}")
        manifest_path = folder / MANIFEST_NAME
        try:
            with open_regular_file(manifest_path, "r", encoding="utf-8") as handle:
                manifest = json.load(handle)
        except FileNotFoundError:
            raise FileNotFoundError(f"{folder} is not an expression index: no {MANIFEST_NAME} (build one with deepfever index)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{manifest_path}: not valid JSON ({error})") from None
        _check_manifest(manifest, manifest_path)
        faiss_bytes = _read_checked(folder, FAISS_NAME, manifest["files"].get(FAISS_NAME))
        rows_bytes = _read_checked(folder, ROWS_NAME, manifest["files"].get(ROWS_NAME))
        try:
            index = faiss.deserialize_index(np.frombuffer(faiss_bytes, dtype=np.uint8))
        except RuntimeError as error:
            raise ValueError(f"{folder / FAISS_NAME}: faiss cannot read it ({str(error).splitlines()[0]})") from None
        try:
            rows = pq.read_table(pa.BufferReader(rows_bytes))
        except pa.ArrowException as error:
            raise ValueError(f"{folder / ROWS_NAME}: not a readable Parquet file ({error})") from None
        expected_type = {"exact": faiss.IndexFlatIP, "hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}[manifest["kind"]]
        problems = []
        if not isinstance(index, expected_type):
            problems.append(f"holds a {type(index).__name__}, not the {expected_type.__name__} of a {manifest['kind']!r} index")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            problems.append("does not rank by inner product")
        if index.d != manifest["dim"] or index.ntotal != manifest["count"]:
            problems.append(f"holds {index.ntotal} vectors of length {index.d}, the manifest says {manifest['count']} of {manifest['dim']}")
        if rows.num_rows != manifest["count"] or "path" not in rows.column_names:
            problems.append(f"{ROWS_NAME} has {rows.num_rows} rows (columns {rows.column_names}) for {manifest['count']} vectors")
        if problems:
            raise ValueError(f"{folder}: the index is inconsistent: " + "; ".join(problems))
        model = ModelIdentity.from_dict(manifest["model"], f"{manifest_path}: 'model'")
        return cls(index, rows, model, manifest["kind"], manifest["params"])


def _drop_rows(distances: np.ndarray, rows: np.ndarray, exclude: Sequence[int | None], wanted: int) -> tuple[np.ndarray, np.ndarray]:
    out_d = np.full((len(rows), wanted), np.inf, dtype=np.float32)
    out_r = np.full((len(rows), wanted), -1, dtype=np.int64)
    for query, excluded in enumerate(exclude):
        keep = rows[query] != (-2 if excluded is None else int(excluded))
        kept_d, kept_r = distances[query][keep][:wanted], rows[query][keep][:wanted]
        out_d[query, : len(kept_d)], out_r[query, : len(kept_r)] = kept_d, kept_r
    return out_d, out_r


def _check_manifest(manifest: Any, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not an hf_deepfever expression index manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {manifest.get('format_version')!r}; this hf_deepfever reads version {FORMAT_VERSION}")
    if manifest.get("kind") not in INDEX_KINDS[1:]:
        raise ValueError(f"{path}: unknown index kind {manifest.get('kind')!r}")
    for key in ("dim", "count"):
        value = manifest.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path}: {key!r} must be a positive integer, got {value!r}")
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("params"), dict):
        raise ValueError(f"{path}: 'files' and 'params' must be objects")
    required = {"hnsw": ("ef_search",), "ivf": ("probes",), "exact": ()}[manifest["kind"]]
    for key in required:
        value = manifest["params"].get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path}: params.{key} must be a positive integer, got {value!r}")


def _replace_folder(staging: Path, folder: Path) -> None:
    """Move the complete ``staging`` folder to ``folder``; an old index there is moved aside, then deleted."""
    old = None
    if folder.exists():
        old = temporary_path(folder)
        os.replace(folder, old)
    try:
        os.replace(staging, folder)
    except BaseException:
        if old is not None:
            os.replace(old, folder)
        raise
    fsync_directory(folder.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "AUTO_APPROXIMATE_FROM",
    "INDEX_KINDS",
    "ExpressionIndex",
    "Neighbour",
    "SearchResult",
    "import_faiss",
    "normalise",
    "resolve_kind",
]

"""The rows ``deepfever extract`` writes, as Arrow tables with one fixed schema per run.

Columns, in order: ``path``; with face detection (or given face boxes) ``face_index`` (detection only: 0 =
largest, -1 = no face found), ``face_x``, ``face_y``, ``face_w``, ``face_h``, ``detection_score`` (detection only);
then ``expression``, ``probability``, ``valence``, ``arousal`` for a model with expression heads; then ``vector``
(a list column) or, for CSV, ``vector_0 ... vector_{D-1}``. A row without output (an image where no face was
found) holds nulls there. The schema is fixed by the run's settings, not by the rows, so an empty table (and every
shard of a folder) has the same one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .extraction import ExtractionBatch

BOX_COLUMNS = ("face_x", "face_y", "face_w", "face_h")


@dataclass(frozen=True)
class RowLayout:
    """What a run's rows hold (see the module docstring)."""

    dim: int
    id2label: dict[int, str] | None  # None: a model without expression heads (vectors only)
    detect_faces: bool = False
    given_boxes: bool = False
    csv: bool = False

    def schema(self, metadata: dict[str, Any] | None = None) -> pa.Schema:
        fields: list[pa.Field] = [pa.field("path", pa.string())]
        if self.detect_faces:
            fields.append(pa.field("face_index", pa.int64()))
        if self.detect_faces or self.given_boxes:
            fields += [pa.field(name, pa.float64()) for name in BOX_COLUMNS]
        if self.detect_faces:
            fields.append(pa.field("detection_score", pa.float64()))
        if self.id2label is not None:
            fields += [
                pa.field("expression", pa.string()),
                pa.field("probability", pa.float32()),
                pa.field("valence", pa.float32()),
                pa.field("arousal", pa.float32()),
            ]
        if self.csv:
            fields += [pa.field(f"vector_{dim}", pa.float32()) for dim in range(self.dim)]
        else:
            fields.append(pa.field("vector", pa.list_(pa.float32())))
        encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in (metadata or {}).items()}
        return pa.schema(fields, metadata=encoded or None)

    def table(self, batch: ExtractionBatch, schema: pa.Schema) -> pa.Table:
        """The rows of ``batch`` in ``schema`` (from :meth:`schema`)."""
        count = len(batch.paths)
        if not count:
            return schema.empty_table()
        has_output = batch.has_output if batch.has_output is not None else np.ones(count, dtype=bool)
        missing = ~has_output
        columns: dict[str, Any] = {"path": pa.array([str(path) for path in batch.paths], pa.string())}
        if self.detect_faces:
            columns["face_index"] = pa.array(batch.face_index, pa.int64())
        if self.detect_faces or self.given_boxes:
            boxes = batch.boxes if batch.boxes is not None else np.full((count, 4), np.nan)
            for position, name in enumerate(BOX_COLUMNS):
                columns[name] = pa.array(boxes[:, position], pa.float64(), mask=np.isnan(boxes[:, position]))
        if self.detect_faces:
            scores = batch.detection_scores
            columns["detection_score"] = pa.array(scores, pa.float64(), mask=np.isnan(scores))
        if self.id2label is not None:
            # A batch where nothing ran (every image without a face) has no outputs at all: all null.
            labels_count = max(len(self.id2label), 1)
            raw = batch.probabilities if batch.probabilities is not None else np.full((count, labels_count), np.nan)
            affect = batch.valence_arousal if batch.valence_arousal is not None else np.full((count, 2), np.nan)
            probabilities = np.nan_to_num(raw, nan=0.0)
            best = probabilities.argmax(axis=1)
            labels = [self.id2label.get(int(index), str(int(index))) for index in best]
            columns["expression"] = pa.array(labels, pa.string(), mask=missing)
            columns["probability"] = pa.array(raw[np.arange(count), best], pa.float32(), mask=missing)
            columns["valence"] = pa.array(affect[:, 0], pa.float32(), mask=missing)
            columns["arousal"] = pa.array(affect[:, 1], pa.float32(), mask=missing)
        vectors = batch.vectors
        if vectors is None or vectors.shape[1:] != (self.dim,):  # nothing ran in this batch: no vectors at all
            vectors = np.full((count, self.dim), np.nan, dtype=np.float32)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.csv:
            for dim in range(self.dim):
                columns[f"vector_{dim}"] = pa.array(vectors[:, dim], pa.float32(), mask=missing)
        else:
            flat = pa.array(vectors.reshape(-1), pa.float32())
            offsets = pa.array(np.arange(count + 1, dtype=np.int32) * self.dim, pa.int32())
            lists = pa.ListArray.from_arrays(offsets, flat, mask=pa.array(missing))
            columns["vector"] = lists.cast(pa.list_(pa.float32()))
        return pa.Table.from_pydict(columns, schema=schema)


__all__ = ["BOX_COLUMNS", "RowLayout"]

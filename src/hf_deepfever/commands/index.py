"""`deepfever index`: the output of `deepfever extract` -> an expression index folder for `deepfever similar`.

VECTORS is one `.parquet` / `.csv` table or a folder of Parquet shards, with or without `--detect-faces`
columns; each row keeps its image path and face box. Distances are cosine distances (1 - cosine similarity)
of the L2-normalised vectors. `--kind auto` (default) builds an exact index below 1,000,000 rows and an
approximate IVF index from there on (recall and speed: benchmarks/RESULTS.md); `--kind exact|ivf|hnsw` chooses.

Relative image paths (as `deepfever extract` writes them) are made absolute against the current folder, so
that `deepfever similar --sheet` and the app find the images from any folder.

The index records the model that made the vectors (a fingerprint of its config, processor config and weights),
read from the table when it records one, else from `--model` (which must then be the extraction's model); a
query from another model is refused. Rows with a missing, malformed or all-zero vector are skipped and counted.
The folder is written whole under a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .shared_arguments import command_parser


def add_parser(subparsers: Any) -> None:
    summary = "Build an expression index (faiss) from the output of deepfever extract."
    parser = command_parser(subparsers, "index", summary, __doc__)
    parser.add_argument("vectors", help="The output of deepfever extract: a .parquet/.csv table or a folder of .parquet shards.")
    parser.add_argument("--output", required=True, help="The index folder to write (replaced if it is an index).")
    parser.add_argument(
        "--model", default=None,
        help="The model that extracted the vectors (folder or Hub id); needed when the table does not record it.",
    )
    parser.add_argument("--kind", default="auto", choices=("auto", "exact", "hnsw", "ivf"), help="Index kind (default: auto).")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..search.identity import model_fingerprint
    from ..search.index import ExpressionIndex
    from ..search.vectors_table import read_vectors

    output = Path(args.output)
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {output.parent}")
    start = time.perf_counter()
    table = read_vectors(args.vectors)
    if table.skipped:
        first = ", ".join(f"row {row}: {reason}" for row, reason in table.first_skipped)
        print(f"deepfever index: skipped {sum(table.skipped.values())} row(s) ({table.skipped_summary()}; first: {first})", file=sys.stderr)
    table.rows = _absolute_paths(table.rows)
    model = model_fingerprint(args.model) if args.model else None
    index = ExpressionIndex.from_table(table, model=model, kind=args.kind)
    index.save(output)
    faces = "with face boxes" if table.has_faces else "whole images"
    print(
        f"indexed {len(index)} vector(s) of length {index.dim} ({faces}) from {args.vectors}: {index.kind} index, "
        f"model {index.model.describe()}, {time.perf_counter() - start:.1f} s -> {output}"
    )
    return 0


def _absolute_paths(rows: Any) -> Any:
    import os

    import pyarrow as pa

    paths = [path if os.path.isabs(path) else os.path.abspath(path) for path in rows["path"].to_pylist()]
    return rows.set_column(rows.column_names.index("path"), "path", pa.array(paths, pa.string()))


__all__ = ["add_parser", "run"]

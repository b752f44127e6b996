"""`deepfever similar`: the faces of an index whose expression is nearest to a query's, with distances.

Each QUERY is either an image, or a vectors table (the output of `deepfever extract`) with `--row`:

- An image: its largest face, or every face with `--detect-faces`, is cropped and run through the model the
  index was built with (its recorded folder or Hub id, or `--model`, whose fingerprint must match). When the
  index holds whole images (extracted without face boxes), the whole query image is used the same way, unless
  `--detect-faces` is given; `--whole-image` forces that. A photo without a face is an error that says so.
- A table row: `--row N` (the row's number in the table) or `--row PATH` (every row of that image); `--row` may
  be given several times. The vectors
  must come from the index's model (recorded in the table, or stated with `--model`). The row itself is left
  out of its own results unless `--include-self`.

Distances are cosine distances of the L2-normalised vectors (0 = same direction, 2 = opposite).
`--sheet out.png` draws a contact sheet: each query face, then its neighbours' face crops with their distances.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .shared_arguments import (
    add_device_argument,
    add_photo_detector_argument,
    add_trust_remote_code_argument,
    command_parser,
)

TABLE_SUFFIXES = (".parquet", ".csv")


def add_parser(subparsers: Any) -> None:
    summary = "Find the indexed faces whose expression is nearest to a query image or table row."
    parser = command_parser(subparsers, "similar", summary, __doc__)
    parser.add_argument("query", nargs="+", help="Image files, or a vectors table/folder (then give --row).")
    parser.add_argument("--index", required=True, help="An index folder written by deepfever index.")
    parser.add_argument("--k", type=int, default=10, help="Neighbours per query face (default 10).")
    parser.add_argument("--detect-faces", action="store_true", help="Query with every face of the image, not only the largest.")
    parser.add_argument("--whole-image", action="store_true", help="Query with the whole image (no face detection).")
    add_photo_detector_argument(parser)
    parser.add_argument(
        "--row", action="append", default=None,
        help="With a table QUERY: a row number, or an image path of the table (repeat for several rows).",
    )
    parser.add_argument("--include-self", action="store_true", help="With a table QUERY: keep the row itself in its results.")
    parser.add_argument("--model", default=None, help="The model to embed an image with (default: the index's own).")
    parser.add_argument("--sheet", default=None, help="Also draw a contact sheet (.png, .jpg, .pdf, .svg).")
    add_device_argument(parser)
    add_trust_remote_code_argument(parser)
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> tuple[list[Path], Path | None]:
    from ..search.contact_sheet import SHEET_FORMATS

    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    if args.detect_faces and args.whole_image:
        raise ValueError("--detect-faces and --whole-image exclude each other")
    sheet = Path(args.sheet) if args.sheet else None
    if sheet is not None:
        if sheet.suffix.lower() not in SHEET_FORMATS:
            raise ValueError(f"--sheet must end in one of {', '.join(SHEET_FORMATS)}, got {sheet}")
        if not sheet.parent.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {sheet.parent}")
    queries = [Path(query) for query in args.query]
    for query in queries:
        if not query.exists():
            raise FileNotFoundError(f"no such query image or table: {query}")
    return queries, sheet


def _is_table(query: Path) -> bool:
    return query.is_dir() or query.suffix.lower() in TABLE_SUFFIXES


def _table_queries(args: argparse.Namespace, query: Path, index: Any) -> list[dict[str, Any]]:
    """Query entries from rows of a vectors table (their own row excluded unless --include-self)."""
    import numpy as np

    from ..search.identity import model_fingerprint
    from ..search.vectors_table import read_vectors

    if args.row is None:
        raise ValueError(f"{query} is a vectors table: say which row to query with --row N or --row PATH")
    table = read_vectors(query)
    model = table.model
    if args.model:
        stated = model_fingerprint(args.model)
        if model is not None:
            model.check_same(stated, what=f"the vectors of {query} (--model)")
        model = stated
    if model is None:
        raise ValueError(f"{query} does not record which model made its vectors: state it with --model M")
    source_rows = table.rows["source_row"].to_numpy()
    paths = table.rows["path"].to_pylist()
    chosen: list[int] = []
    for wanted in args.row:
        if wanted.isdigit():
            found = np.flatnonzero(source_rows == int(wanted))
            if found.size == 0:
                raise ValueError(f"{query} has no usable row {wanted} (rows 0-{int(source_rows.max())}; skipped rows cannot be queried)")
        else:
            found = np.array([i for i, path in enumerate(paths) if path == wanted], dtype=np.int64)
            if found.size == 0:
                raise ValueError(f"{query} has no row with path {wanted!r}")
        chosen.extend(int(i) for i in found)
    boxes = table.face_boxes()
    entries = []
    for position in chosen:
        box = None if boxes is None or np.isnan(boxes[position]).any() else tuple(float(v) for v in boxes[position])
        own = None if args.include_self else _own_row(index, paths[position], box)
        expression = table.rows["expression"][position].as_py() if "expression" in table.rows.column_names else None
        entries.append({
            "title": f"{Path(paths[position]).name} (row {int(source_rows[position])}" + (f", {expression})" if expression else ")"),
            "vector": table.vectors[position], "box": box, "image": None, "path": paths[position], "exclude": own,
        })
    return [{"model": model, **entry} for entry in entries]


def _own_row(index: Any, path: str, box: Any) -> int | None:
    """The index's row of a queried table row (same image path, as given or made absolute as `deepfever index`
    does, and same face box), or None when it is not indexed."""
    import os

    import pyarrow as pa
    import pyarrow.compute as pc

    same_path = pc.is_in(index.rows["path"], value_set=pa.array(sorted({path, os.path.abspath(path)})))
    for row in pc.indices_nonzero(same_path).to_pylist():
        if index.neighbour(row).face_box == box:
            return int(row)
    return None


def _visual_model(args: argparse.Namespace, index: Any) -> tuple[Any, Any]:
    """The model to embed query images with (the index's own unless --model) and its identity, checked."""
    from ..inference.devices import checked_device
    from ..search.identity import model_fingerprint
    from ..core.face_front_end import load_visual_model

    name = args.model or index.model.name
    if not name:
        raise ValueError("the index records no model folder or Hub id: give the model to embed the query with --model")
    identity = model_fingerprint(name)
    index.model.check_same(identity, what=f"vectors of --model {name}" if args.model else f"vectors of {name} (the index's model as found now)")
    return load_visual_model(name, device=checked_device(args.device), trust_remote_code=args.trust_remote_code), identity


def _image_queries(args: argparse.Namespace, query: Path, index: Any, visual_and_identity: tuple[Any, Any]) -> list[dict[str, Any]]:
    """Query entries from the faces of an image, embedded with the index's model."""
    from ..core.face_front_end import analyse_photo

    visual, identity = visual_and_identity
    index_has_boxes = "face_x" in index.rows.column_names and index.rows["face_x"].null_count < len(index)
    whole = args.whole_image or (not args.detect_faces and not index_has_boxes)
    if whole and not args.whole_image and not getattr(args, "_whole_image_noted", False):
        args._whole_image_noted = True
        print("deepfever similar: the index holds whole images (no face boxes): querying with the whole image too "
              "(--detect-faces to query with its faces)", file=sys.stderr)
    analysis = analyse_photo(query, visual.model, visual.processor, detector=args.detector,
                             every_face=args.detect_faces, whole_image=whole)
    if not analysis.faces:
        raise ValueError(f"{query}: no face found (detector {args.detector}); use --whole-image to query with the whole image")
    entries = []
    for number, face in enumerate(analysis.faces, start=1):
        label = f" [{face.label} {face.probabilities.max():.2f}]" if face.label else ""
        where = "whole image" if face.box is None else f"face {number} of {len(analysis.faces)} at " + _box_text(face.box)
        entries.append({"title": f"{query.name}: {where}{label}", "vector": face.vector, "box": face.box,
                        "image": analysis.image, "path": str(query), "exclude": None, "model": identity})
    return entries


def _box_text(box: Any) -> str:
    return "(" + ", ".join(f"{value:.0f}" for value in box) + ")" if box is not None else "whole image"


def print_results(entry: dict[str, Any], neighbours: list[Any]) -> None:
    print(f"query {entry['title']}")
    print(f"  {'rank':>4}  {'distance':>8}  path  [face box]  expression")
    for neighbour in neighbours:
        expression = neighbour.info.get("expression")
        extra = f"  {expression}" if expression else ""
        box = f"  {_box_text(neighbour.face_box)}" if neighbour.face_box is not None else ""
        print(f"  {neighbour.rank + 1:>4}  {neighbour.distance:8.4f}  {neighbour.path}{box}{extra}")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..search.contact_sheet import SheetQuery, draw_contact_sheet
    from ..search.index import ExpressionIndex

    from ..inference.devices import validate_runtime_arguments

    validate_runtime_arguments(args)  # a bogus --device fails before any index or model is read
    queries, sheet = _check_args(args)
    index = ExpressionIndex.load(args.index)
    entries = []
    visual = None
    for query in queries:
        if _is_table(query):
            entries += _table_queries(args, query, index)
        else:
            visual = visual or _visual_model(args, index)
            entries += _image_queries(args, query, index, visual)
    if len({entry["model"].fingerprint for entry in entries}) > 1:
        raise ValueError("the queries come from different models; query one model's vectors at a time")
    exclude = [entry["exclude"] for entry in entries]
    result = index.search(
        np.stack([entry["vector"] for entry in entries]), args.k, model=entries[0]["model"],
        exclude_rows=exclude if any(row is not None for row in exclude) else None,
    )
    lines = []
    for position, entry in enumerate(entries):
        neighbours = result.neighbours(position)
        print_results(entry, neighbours)
        lines.append(SheetQuery(entry["title"], entry["image"], entry["box"], neighbours, path=entry["path"]))
    if sheet is not None:
        draw_contact_sheet(lines, sheet, title=f"nearest expressions in {args.index} (cosine distance)")
        print(f"contact sheet -> {sheet}", file=sys.stderr)
    return 0


__all__ = ["add_parser", "print_results", "run"]

"""`deepfever extract`: image files or folders -> one row per image (vector, expression, valence, arousal).

Output format follows the extension: `.parquet` stores the vector as one list column `vector`; `.csv` spreads
it over `vector_0 ... vector_{D-1}`. The file appears only when complete (written to a temporary name, then
renamed), so a killed run never leaves a half table behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..core.files import temporary_path

OUTPUT_FORMATS = (".parquet", ".csv")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="Extract expression vectors (and expression, valence, arousal) from images.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", help="Image files and/or folders (searched recursively).")
    parser.add_argument("--model", required=True, help="A saved DeepFEVER folder or a Hub repo id.")
    parser.add_argument("--output", required=True, help="Output table: .parquet or .csv.")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="Images per forward pass (default: 4 on CPU, 32 on accelerators)."
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, mps, ...")
    parser.add_argument(
        "--dtype", default="float32", choices=("float32", "bfloat16", "float16"), help="Model weights dtype."
    )
    parser.add_argument(
        "--num-workers", type=int, default=None, help="Decoding workers (default: min(4, cores - 1))."
    )
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="Run the model in channels-last memory format (faster for CNN backbones; see benchmarks/RESULTS.md).",
    )
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="CPU: export the model to ONNX (checked against PyTorch) and run it with onnxruntime "
        "(needs the onnx extra; about 3x faster on CPU, see benchmarks/RESULTS.md).",
    )
    parser.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="Model threads on CPU (default: cores - decoding workers, so threads never outnumber cores).",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="Skip unreadable images (counted at the end) instead of stopping."
    )
    parser.add_argument("--trust-remote-code", action="store_true", help="Allow the model's own code from the Hub.")
    parser.set_defaults(func=run)


def _columns(batch: Any, id2label: dict[int, str] | None, csv: bool) -> dict[str, Any]:
    columns: dict[str, Any] = {"path": [str(path) for path in batch.paths]}
    if batch.probabilities is not None:
        best = batch.probabilities.argmax(axis=1)
        columns["expression"] = [id2label[int(i)] if id2label else str(int(i)) for i in best]
        columns["probability"] = batch.probabilities[range(len(best)), best]
        columns["valence"] = batch.valence_arousal[:, 0]
        columns["arousal"] = batch.valence_arousal[:, 1]
    if csv:
        for dim in range(batch.vectors.shape[1]):
            columns[f"vector_{dim}"] = batch.vectors[:, dim]
    else:
        columns["vector"] = list(batch.vectors)
    return columns


class _TableWriter:
    """Streams record batches to a temporary file and renames it into place on success."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.tmp = temporary_path(output)
        self.csv = output.suffix.lower() == ".csv"
        self._writer: Any = None

    def write(self, columns: dict[str, Any]) -> None:
        import pyarrow as pa

        if "vector" in columns:
            columns["vector"] = pa.array([v.tolist() for v in columns["vector"]], type=pa.list_(pa.float32()))
        table = pa.table(columns)
        if self._writer is None:
            if self.csv:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(str(self.tmp), table.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.tmp), table.schema)
        self._writer.write_table(table)

    def close(self, success: bool) -> int:
        if self._writer is not None:
            self._writer.close()
        if success and self._writer is not None:
            os.replace(self.tmp, self.output)
        elif self.tmp.exists():
            self.tmp.unlink()
        return 0


def _onnxruntime_model(model: Any, args: argparse.Namespace, device: Any) -> tuple[Any, int | None]:
    """The model exported to a temporary ONNX file (checked against PyTorch) and loaded in onnxruntime.

    onnxruntime gets the threads torch would have had (cores - decoding workers); torch then needs one.
    """
    import tempfile

    from ..inference import default_num_workers, usable_cores
    from ..inference.onnx import OnnxRuntimeExtractor, export_checked_onnx

    if device.type != "cpu":
        raise ValueError(f"--onnx runs on CPU (onnxruntime's CPU provider); got --device {device}")
    workers = default_num_workers() if args.num_workers is None else args.num_workers
    threads = args.num_threads or max(1, usable_cores() - workers)
    with tempfile.TemporaryDirectory(prefix="deepfever_onnx_") as folder:
        path = Path(folder) / "model.onnx"
        export_checked_onnx(model, path)
        return OnnxRuntimeExtractor(path, model.config, threads=threads), 1


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm


    from ..core.images import find_image_files
    from ..core.loading import load_model_and_processor
    from ..inference import ExtractionReport, iter_extraction
    from ..inference.devices import validate_runtime_arguments

    device = validate_runtime_arguments(args)  # --device, --num-threads, --num-workers, --batch-size: checked first
    output = Path(args.output)
    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise ValueError(f"--output must end in .parquet or .csv, got {output}")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {output.parent}")
    files = find_image_files(args.paths)
    if not files:
        raise ValueError(f"no image files found in {' '.join(args.paths)}")

    model, processor = load_model_and_processor(
        args.model,
        kind="image",
        device=device,
        dtype=getattr(torch, args.dtype),
        channels_last=args.channels_last,
        trust_remote_code=args.trust_remote_code,
    )
    id2label = {int(k): v for k, v in model.config.id2label.items()} if hasattr(model, "heads") else None
    num_threads = args.num_threads
    if args.onnx:
        model, num_threads = _onnxruntime_model(model, args, device)
    if id2label is None:
        print("note: the model has no expression heads; writing vectors only", file=sys.stderr)

    report = ExtractionReport()
    writer = _TableWriter(output)
    written = 0
    success = False
    try:
        with tqdm(total=len(files), unit="img", desc="extract", disable=None) as progress:
            for batch in iter_extraction(
                model,
                processor,
                files,
                batch_size=args.batch_size,
                num_workers=args.num_workers,
                num_threads=num_threads,
                device=device,
                skip_bad=args.skip_bad,
                report=report,
            ):
                writer.write(_columns(batch, id2label, writer.csv))
                written += len(batch.paths)
                progress.update(written + len(report.skipped) - progress.n)  # skipped files count as done
        success = written > 0
    finally:
        writer.close(success)

    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if report.skipped:
        print(f"skipped {len(report.skipped)} unreadable image(s) of {len(files)}", file=sys.stderr)
    if not success:
        raise ValueError("no image could be read; nothing written")
    print(f"wrote {written} row(s) to {output}", file=sys.stderr)
    return 0

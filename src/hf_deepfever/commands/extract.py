"""`deepfever extract`: images (files, folders or a Hugging Face dataset) -> expression vectors, one row per image
(or per detected face): vector, expression, probability, valence, arousal.

Output: a `.parquet` file stores the vector as one list column `vector`; a `.csv` file spreads it over
`vector_0 ... vector_{D-1}`; both appear only when complete (written to a hidden name, then renamed). A folder
(`--output DIR/`, or an existing folder) receives Parquet shards of `--shard-size` inputs and a hidden
`.manifest.json`, loadable with `datasets.load_dataset("parquet", data_dir=DIR)`; each shard appears only when
whole, so the same command run again after a crash or `kill -9` continues where it stopped. Several processes:

  accelerate launch --multi_gpu --num_processes 2 -m hf_deepfever.cli extract PATHS --model M --output DIR/

(on GPU machines one process per GPU; on CPU machines too, the processes sharing the cores). Each process
writes its own shards; the folder equals a one-process run's.

Engine (`--engine auto`): on CPU the model's ONNX export (checked against PyTorch when made, then cached) in
onnxruntime when the `onnx` extra is installed; on CUDA PyTorch in half precision, channels-last, from pinned
memory; otherwise PyTorch. With onnxruntime on CPU every DataLoader worker decodes its batches and runs its own
session on them (one per core), so decoding and the model use every core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .shared_arguments import (
    add_device_argument,
    add_min_face_size_argument,
    add_trust_remote_code_argument,
    command_parser,
)

OUTPUT_FORMATS = (".parquet", ".csv")
DEFAULT_SHARD_SIZE = 10_000


def add_parser(subparsers: Any) -> None:
    summary = "Extract expression vectors (and expression, valence, arousal) from images."
    parser = command_parser(subparsers, "extract", summary, __doc__)
    parser.add_argument("paths", nargs="*", help="Image files and/or folders (searched recursively).")
    parser.add_argument("--model", required=True, help="A saved DeepFEVER folder or a Hub repo id.")
    parser.add_argument(
        "--output", required=True,
        help="A table (.parquet or .csv), or a folder (DIR/ or an existing folder) of resumable Parquet shards.",
    )
    source = parser.add_argument_group("dataset input (instead of PATHS)")
    source.add_argument("--dataset", default=None, help="A Hugging Face dataset: Hub id, data folder or save_to_disk folder.")
    source.add_argument("--split", default="train", help="Its split (default: train).")
    source.add_argument("--config", default=None, help="Its configuration name, if it has several.")
    source.add_argument("--image-column", default="image", help="Column of images (default: image).")
    source.add_argument(
        "--box-columns", default=None,
        help="Face box columns in pixels of the stored image: x,y,w,h (four columns) or one column of [x, y, w, h].",
    )
    source.add_argument("--streaming", action="store_true", help="Stream the dataset instead of preparing it.")
    faces = parser.add_argument_group("face detection")
    faces.add_argument("--detect-faces", action="store_true", help="Detect faces: one row per face (0 = largest).")
    faces.add_argument("--detector", default="auto", help="auto (default), dlib, haar, yunet or yunet:PATH.")
    add_min_face_size_argument(faces)
    faces.add_argument("--max-faces", type=int, default=None, help="Keep the N largest faces of an image.")
    folder = parser.add_argument_group("folder output")
    folder.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
        help=f"Inputs per shard (default {DEFAULT_SHARD_SIZE}); part of the run, like the model and the inputs.",
    )
    folder.add_argument("--overwrite", action="store_true", help="Replace another run's shards in the output folder.")
    parser.add_argument("--engine", default="auto", choices=("auto", "torch", "onnx"), help="See above (default: auto).")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="Images per forward pass (default: 4 on CPU, 64 on accelerators)."
    )
    add_device_argument(parser)
    parser.add_argument(
        "--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
        help="Model weights dtype (another than float32 runs in PyTorch).",
    )
    parser.add_argument(
        "--num-workers", type=int, default=None,
        help="DataLoader workers (default: with onnxruntime on CPU one per core, up to 8, each decoding and running "
             "the model; otherwise min(4, cores - 1) decoding workers).",
    )
    parser.add_argument(
        "--channels-last", action="store_true",
        help="PyTorch engine: run the model in channels-last memory format (always on with CUDA).",
    )
    parser.add_argument("--onnx", action="store_true", help="Deprecated: the same as --engine onnx.")
    parser.add_argument(
        "--num-threads", type=int, default=None,
        help="Model threads on CPU, per worker when the model runs in the workers (default: the cores divided "
             "between workers and model, so threads never outnumber cores).",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="Skip unreadable images (counted at the end) instead of stopping."
    )
    add_trust_remote_code_argument(parser)
    parser.set_defaults(func=run)


def _say(processes: Any, message: str, *, every: bool = False) -> None:
    """One line on stderr: from the main process, or from each (prefixed) with ``every``."""
    if processes.world == 1:
        print(message, file=sys.stderr)
    elif every or processes.is_main:
        print(f"[process {processes.rank}/{processes.world}] {message}" if every else message, file=sys.stderr)


def _check_options(args: argparse.Namespace) -> str:
    from ..inference.devices import checked_count

    checked_count(args.shard_size, "--shard-size", 1)
    checked_count(args.max_faces, "--max-faces", 1)
    if args.min_face_size is not None and not args.min_face_size > 0:
        raise ValueError(f"--min-face-size must be positive, got {args.min_face_size}")
    engine = args.engine
    if args.onnx:
        if engine not in ("auto", "onnx"):
            raise ValueError(f"--onnx (deprecated) is --engine onnx; it contradicts --engine {engine}")
        print("note: --onnx is deprecated; use --engine onnx (the default, auto, already picks it on CPU)", file=sys.stderr)
        engine = "onnx"
    if args.dataset is None and not args.paths:
        raise ValueError("give image files or folders, or --dataset PATH_OR_ID")
    if args.dataset is not None and args.paths:
        raise ValueError("give image files or folders, or --dataset, not both")
    if args.dataset is None and (args.box_columns or args.streaming):
        raise ValueError("--box-columns and --streaming read a --dataset")
    if args.detect_faces and args.box_columns:
        raise ValueError("--detect-faces finds the boxes; it cannot be combined with --box-columns")
    return engine


def _source(args: argparse.Namespace) -> Any:
    from ..core.images import find_image_files
    from ..inference.sources import FileSource, load_dataset_source

    if args.dataset is not None:
        columns = [column.strip() for column in args.box_columns.split(",")] if args.box_columns else None
        return load_dataset_source(
            args.dataset, split=args.split, config=args.config, image_column=args.image_column,
            box_columns=columns, streaming=args.streaming,
        )
    files = find_image_files(args.paths)
    if not files:
        raise ValueError(f"no image files found in {' '.join(args.paths)}")
    return FileSource(files)


def _model_identity(name: str) -> dict[str, Any] | None:
    from ..search.identity import model_fingerprint

    try:
        return model_fingerprint(name).to_dict()
    except (OSError, ValueError):  # e.g. a Hub model read by remote code with files the fingerprint cannot find
        return None


def _run_settings(args: argparse.Namespace, identity: dict[str, Any], source: Any) -> dict[str, Any]:
    """What decides a folder's rows: the model, the inputs, the shard size, face detection, the weights' dtype."""
    faces = None
    if args.detect_faces:
        faces = {"detector": args.detector, "min_face_size": args.min_face_size, "max_faces": args.max_faces}
    return {"model": identity["fingerprint"], "inputs": source.identity(), "shard_size": args.shard_size,
            "faces": faces, "dtype": args.dtype}


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from ..core.loading import load_model_and_processor
    from ..core.vocabulary import MODEL_METADATA_KEY
    from ..inference import FaceDetection, default_batch_size, prepare_engine, usable_cores
    from ..inference.work_split import calling_process_threads, split_work
    from ..inference.devices import validate_runtime_arguments
    from ..inference.job import extract_to_file, extract_to_folder
    from ..inference.processes import current_processes, launched_world
    from ..inference.shards import ShardFolder, is_folder_output
    from ..inference.tables import RowLayout

    device = validate_runtime_arguments(args)  # --device, --num-threads, --num-workers, --batch-size: checked first
    engine_name = _check_options(args)
    to_folder = is_folder_output(args.output)
    output = Path(args.output)
    if not to_folder:
        if output.suffix.lower() not in OUTPUT_FORMATS:
            raise ValueError(f"--output must end in .parquet or .csv, or name a folder (DIR/), got {output}")
        if not output.parent.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {output.parent}")
        if launched_world() > 1:
            raise ValueError("several processes write a folder of shards: give --output DIR/")
    source = _source(args)
    shard_folder = None
    if to_folder:
        identity = _model_identity(args.model)
        if identity is None:
            raise ValueError(f"{args.model}: cannot fingerprint the model's files, which a folder of shards records")
        shard_folder = ShardFolder(output, _run_settings(args, identity, source), identity)
        shard_folder.check(overwrite=args.overwrite)  # another run's folder: said before the model is loaded
    processes = current_processes(device)
    device = processes.device(device)

    model, processor = load_model_and_processor(
        args.model, kind="image", device=device, dtype=getattr(torch, args.dtype),
        channels_last=args.channels_last, trust_remote_code=args.trust_remote_code,
    )
    id2label = {int(k): v for k, v in model.config.id2label.items()} if hasattr(model, "heads") else None
    if id2label is None:
        _say(processes, "note: the model has no expression heads; writing vectors only")
    faces = None
    if args.detect_faces:
        faces = FaceDetection(args.detector, args.min_face_size, args.max_faces).resolved()

    # The cores are shared by the processes of this machine; each splits its share between workers and model.
    cores = max(1, usable_cores() // processes.local_world)
    batch_size = args.batch_size or default_batch_size(device)
    count = None if getattr(source, "streaming", False) else len(source)
    planned = {"cores": cores, "workers": args.num_workers, "threads": args.num_threads, "streaming": count is None,
               "batches": None if count is None else -(-count // batch_size)}
    threads = calling_process_threads(device, **planned)
    # The main process makes (or finds) the cached ONNX export first; the others then find it there.
    if not processes.is_main:
        processes.wait_for_everyone()
    engine = prepare_engine(model, processor, engine=engine_name, device=device, threads=threads)
    if processes.is_main:
        processes.wait_for_everyone()
    split = split_work(engine, device, **planned)
    shown = engine.in_workers(split.threads) if split.model_in_workers else engine
    _say(processes, f"engine: {shown.description}; {split.describe()}")
    layout = RowLayout(
        dim=int(model.config.embedding_dim), id2label=id2label, detect_faces=faces is not None,
        given_boxes=bool(getattr(source, "box_columns", ())), csv=output.suffix.lower() == ".csv" and not to_folder,
    )

    with tqdm(total=count if processes.world == 1 else None, unit="img", desc="extract",
              disable=None if processes.is_main else True) as progress:
        if shard_folder is not None:
            result = extract_to_folder(
                engine, processor, source, shard_folder, layout,
                processes=processes, shard_size=args.shard_size, batch_size=batch_size, workers=split.workers,
                threads=split.threads, cores=cores, faces=faces, skip_bad=args.skip_bad, overwrite=args.overwrite,
                progress=progress.update,
            )
        else:
            # A Parquet table records its model as a shard does, so `deepfever index` needs no --model; CSV
            # cannot hold it (and a model the fingerprint cannot read leaves it out: index then asks for --model).
            identity = _model_identity(args.model)
            metadata: dict[str, Any] = {MODEL_METADATA_KEY: identity} if identity is not None else {}
            result = extract_to_file(
                engine, processor, source, output, layout, metadata=metadata, batch_size=batch_size,
                workers=split.workers, threads=split.threads, cores=cores, faces=faces, skip_bad=args.skip_bad,
                progress=progress.update,
            )

    report = result.report
    for path, reason in report.skipped:
        _say(processes, f"skipped {path}: {reason}", every=True)
    if report.skipped:
        _say(processes, f"skipped {len(report.skipped)} unreadable image(s) of {result.inputs_done}", every=True)
    if faces is not None:
        _say(processes, f"found {report.faces} face(s); {report.images_without_face} image(s) without a face "
                        "(one row each, face_index -1)", every=processes.world > 1)
    if not to_folder:
        if not result.folder_rows:
            raise ValueError("no image could be read; nothing written")
        _say(processes, f"wrote {result.folder_rows} row(s) to {output}")
        return 0
    if result.shards_written or processes.world > 1:
        _say(processes, f"wrote {result.shards_written} shard(s), {result.rows_written} row(s) of {result.inputs_done} "
                        "input(s)", every=processes.world > 1)
    else:
        _say(processes, "every shard was already there: nothing to do")
    if processes.is_main:
        if not result.complete:
            raise ValueError(f"{output}: shards are missing; run the same command again to finish")
        if not result.folder_rows:
            raise ValueError("no image could be read; the folder holds no rows")
        _say(processes, f"{output}: {len(result.folder_shards)} shard(s), {result.folder_rows} row(s) of "
                        f"{result.inputs_total} input(s), complete")
    return 0

"""`deepfever video`: a face video -> a trace every 40 ms (CSV) and a plot over time.

With a DeepFEVER-AV model: valence and arousal from the face and the voice. With a DeepFEVER image model (with
expression heads): the main face's expression probabilities, valence and arousal at every step.

Frames and the audio track are decoded with PyAV (a dependency); frames are turned upright by the stream's
rotation (display matrix). The main face is found with the package's face detectors (`--face-detector`: auto,
haar, dlib, yunet:PATH, or centre for a centred square) and followed from frame to frame; a frame where it is not
found has `face_found` 0. A file without an audio track is predicted from the face alone, one without a video
stream from the voice alone (DeepFEVER-AV; said on stderr). Long files run in windows of `--chunk-seconds` with
`--warmup-seconds` of context on both sides, so the trace has no seams. The number of rows is what decodes, not
what the container claims. CSV columns start `time_s, valence, arousal` (valence first, like `deepfever
extract`); see `hf_deepfever.video.trace_files` for the rest. Files are written under a temporary name and renamed
when complete.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from .shared_arguments import (
    add_device_argument,
    add_min_face_size_argument,
    add_trust_remote_code_argument,
    command_parser,
)


def add_parser(subparsers: Any) -> None:
    summary = "Trace of a face video every 40 ms (DeepFEVER-AV: valence/arousal; image model: expressions too), CSV and plot."
    parser = command_parser(subparsers, "video", summary, __doc__)
    parser.add_argument("file", help="A video file (mp4, mkv, avi, mov ...) or, for DeepFEVER-AV, an audio-only file.")
    parser.add_argument("--model", required=True, help="A saved DeepFEVER-AV or DeepFEVER image model folder, or a Hub repo id.")
    parser.add_argument("--output", required=True, help="Output CSV of the trace.")
    parser.add_argument("--plot", default=None, help="Also draw the trace over time into this image (.png, .pdf, .svg).")
    add_device_argument(parser)
    parser.add_argument(
        "--face-detector", default="auto", metavar="NAME",
        help="auto (best installed: yunet if HF_DEEPFEVER_YUNET is set, dlib, haar; else a centre crop with a warning), "
             "haar, dlib, yunet:PATH (a YuNet .onnx file you supply) or centre (default: auto).",
    )
    add_min_face_size_argument(parser)
    parser.add_argument(
        "--chunk-seconds", type=float, default=60.0,
        help="DeepFEVER-AV: run the model on windows of this length (bounds memory on long videos; default 60).",
    )
    parser.add_argument(
        "--warmup-seconds", type=float, default=10.0,
        help="DeepFEVER-AV: context on each side of a window, run and discarded, so windows join without seams (default 10).",
    )
    add_trust_remote_code_argument(parser)
    parser.set_defaults(func=run)


def _model_kind(name: str, trust_remote_code: bool) -> str:
    """`"audio-visual"` for a DeepFEVER-AV model, else `"image"` (its config says which)."""
    from transformers import AutoConfig

    from ..models import deepfever  # noqa: F401  (registers the Auto classes)

    config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
    return "audio-visual" if getattr(config, "model_type", None) == "deepfever-av" else "image"


def _positive_seconds(value: float, option: str, allow_zero: bool = False) -> float:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{option} must be a {'non-negative' if allow_zero else 'positive'} number of seconds, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from ..core.loading import load_model_and_processor
    from ..inference.devices import validate_runtime_arguments
    from ..models.deepfever.face_detection_deepfever import DEFAULT_MIN_FACE_SIZE
    from ..video.decode import import_av
    from ..video.faces import FaceLocator
    from ..video.trace import IMAGE_MODEL_STEP_MS, predict_trace
    from ..video.trace_files import PLOT_FORMATS, write_csv, write_plot

    device = validate_runtime_arguments(args)  # a bogus or absent --device fails before any file or model is read
    source = Path(args.file)
    if not source.is_file():
        raise FileNotFoundError(f"no such video file: {source}")
    output = Path(args.output)
    if output.suffix.lower() != ".csv":
        raise ValueError(f"--output must end in .csv, got {output}")
    plot = Path(args.plot) if args.plot else None
    if plot is not None and plot.suffix.lower() not in PLOT_FORMATS:
        raise ValueError(f"--plot must end in one of {', '.join(PLOT_FORMATS)}, got {plot}")
    for target in (output, plot):
        if target is not None and not target.parent.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {target.parent}")
    _positive_seconds(args.chunk_seconds, "--chunk-seconds")
    _positive_seconds(args.warmup_seconds, "--warmup-seconds", allow_zero=True)
    import_av()  # fail before loading the model when PyAV is missing
    # The detector first: a missing extra is said before a model is loaded for nothing.
    min_face_size = DEFAULT_MIN_FACE_SIZE if args.min_face_size is None else args.min_face_size
    faces = FaceLocator(args.face_detector, min_face_size=min_face_size)

    kind = _model_kind(args.model, args.trust_remote_code)
    model, processor = load_model_and_processor(args.model, kind=kind, trust_remote_code=args.trust_remote_code)
    step_ms = processor.feature_extractor.step_ms if kind == "audio-visual" else IMAGE_MODEL_STEP_MS
    chunk_steps = max(2, int(round(args.chunk_seconds * 1000.0 / step_ms)))
    warmup_steps = int(round(args.warmup_seconds * 1000.0 / step_ms))
    trace = predict_trace(
        model, processor, source, face_locator=faces, device=device, chunk_steps=chunk_steps, warmup_steps=warmup_steps
    )
    for note in trace.notes:
        print(f"deepfever video: {source.name}: {note}", file=sys.stderr)
    write_csv(trace, output)
    if plot is not None:
        what = "valence and arousal" if trace.probabilities is None else "expression, valence and arousal"
        write_plot(trace, plot, title=f"{source.name}: {what}")
    audio = "" if trace.audio_present is None else f", audio in {int(trace.audio_present.sum())}"
    print(
        f"{len(trace.time)} steps ({trace.time[-1]:.2f} s), faces in {int(trace.face_found.sum())}{audio} "
        f"(faces by {faces.kind}) -> {output}" + (f", {plot}" if plot is not None else "")
    )
    return 0


__all__ = ["add_parser", "run"]

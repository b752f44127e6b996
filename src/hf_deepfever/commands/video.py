"""`deepfever video`: a face video -> valence and arousal every 40 ms (CSV) and a plot of both traces.

Frames and the audio track are decoded with PyAV (`pip install 'hf_deepfever[video]'`). The face in each frame
is found with OpenCV's Haar cascade when `pip install 'hf_deepfever[face]'` is installed; otherwise the centre of
the frame is used (with a warning). A file without an audio track is predicted from the face alone, one without
a video stream from the voice alone (both said on stderr). CSV columns: `time_s, valence, arousal,
face_found, audio_present` (valence first, like `deepfever extract`). Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "video",
        help="Valence/arousal traces of a face video with DeepFEVER-AV (CSV every 40 ms, optional plot).",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="A video file (mp4, mkv, avi, mov ...) or an audio-only file PyAV can read.")
    parser.add_argument("--model", required=True, help="A saved DeepFEVER-AV folder or a Hub repo id.")
    parser.add_argument("--output", required=True, help="Output CSV of the traces.")
    parser.add_argument("--plot", default=None, help="Also draw both traces over time into this image (.png, .pdf, .svg).")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, mps, ...")
    parser.add_argument(
        "--face-detector", default="auto", choices=("auto", "haar", "centre"),
        help="auto: Haar cascade if the [face] extra is installed, else centre crop (default).",
    )
    parser.add_argument(
        "--chunk-seconds", type=float, default=60.0,
        help="Run the model on chunks of this length (bounds memory on long videos; default 60).",
    )
    parser.add_argument("--trust-remote-code", action="store_true", help="Allow the model's own code from the Hub.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.loading import load_model_and_processor
    from ..inference import resolve_device
    from ..video.decode import import_av
    from ..video.trace_files import PLOT_FORMATS, write_csv, write_plot
    from ..video.faces import FaceLocator
    from ..video.trace import predict_trace

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
    if args.chunk_seconds <= 0:
        raise ValueError(f"--chunk-seconds must be > 0, got {args.chunk_seconds}")
    import_av()  # fail before loading the model when PyAV is missing

    device = resolve_device(args.device)
    model, processor = load_model_and_processor(args.model, kind="audio-visual", trust_remote_code=args.trust_remote_code)
    chunk_steps = max(2, int(round(args.chunk_seconds * 1000.0 / processor.feature_extractor.step_ms)))
    trace = predict_trace(
        model, processor, source, face_locator=FaceLocator(args.face_detector), device=device, chunk_steps=chunk_steps
    )
    for note in trace.notes:
        print(f"deepfever video: {source.name}: {note}", file=sys.stderr)
    write_csv(trace, output)
    if plot is not None:
        write_plot(trace, plot, title=f"{source.name}: valence and arousal")
    print(
        f"{len(trace.time)} steps ({trace.time[-1] if len(trace.time) else 0:.2f} s), faces in "
        f"{int(trace.face_found.sum())}, audio in {int(trace.audio_present.sum())} -> {output}"
        + (f", {plot}" if plot is not None else "")
    )
    return 0


__all__ = ["add_parser", "run"]

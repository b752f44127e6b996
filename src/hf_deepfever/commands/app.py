"""`deepfever app`: try a model in the browser (Gradio, `pip install 'hf_deepfever[app]'`), offline.

Photo tab: every face boxed, its expression probabilities and valence/arousal on the circumplex, and with
`--index` the nearest expressions among the indexed faces. Video tab: the valence/arousal traces of a video and
their CSV, with a DeepFEVER-AV model (`--model` itself, or `--av-model` beside an image model).

Serves on 127.0.0.1 (this machine only) unless `--host 0.0.0.0`; no analytics, no share link, nothing fetched.
The same page runs as a Hugging Face Space: see hf_deepfever/app/space_app.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from .shared_arguments import add_photo_detector_argument, command_parser


def add_parser(subparsers: Any) -> None:
    summary = "Serve the web app (photo: faces, expressions, valence/arousal, nearest expressions; video: traces)."
    parser = command_parser(subparsers, "app", summary, __doc__)
    parser.add_argument("--model", required=True, help="A saved DeepFEVER expression model or DeepFEVER-AV model (folder or Hub id).")
    parser.add_argument("--index", default=None, help="An index folder (deepfever index) of vectors from the same model.")
    parser.add_argument("--av-model", default=None, help="A DeepFEVER-AV model for the video tab when --model is an image model.")
    add_photo_detector_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (default 127.0.0.1: this machine only).")
    parser.add_argument("--port", type=int, default=7860, help="Port (default 7860).")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..app.blocks import build_app, launch_app

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {args.port}")
    blocks = build_app(args.model, args.index, av_model=args.av_model, detector=args.detector)
    print(f"deepfever app: serving {args.model} on http://{args.host}:{args.port} (Ctrl+C to stop)", flush=True)
    launch_app(blocks, host=args.host, port=args.port, quiet=True)
    return 0


__all__ = ["add_parser", "run"]

"""`deepfever export-onnx`: a saved DeepFEVER model -> an ONNX graph, checked against PyTorch with onnxruntime.

The graph takes normalised `pixel_values` (preprocess with the model's image processor) with any batch size
and returns `expression_vector` (+ `logits`, `valence_arousal` for a model with heads). The export fails,
and leaves no file, when onnxruntime's outputs differ from PyTorch's by more than --tolerance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .shared_arguments import add_trust_remote_code_argument, command_parser


def add_parser(subparsers: Any) -> None:
    summary = "Export a DeepFEVER model to ONNX (checked against PyTorch with onnxruntime)."
    parser = command_parser(subparsers, "export-onnx", summary, __doc__)
    parser.add_argument("--model", required=True, help="A saved DeepFEVER folder or a Hub repo id.")
    parser.add_argument("--output", required=True, help="The .onnx file to write.")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 17).")
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="Largest accepted |onnxruntime - PyTorch| (default: 1e-4)."
    )
    add_trust_remote_code_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..core.loading import load_model_and_processor
    from ..inference.onnx import DEFAULT_OPSET, export_checked_onnx

    output = Path(args.output)
    if output.suffix.lower() != ".onnx":
        raise ValueError(f"--output must end in .onnx, got {output}")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {output.parent}")
    model, _ = load_model_and_processor(args.model, kind="image", device=torch.device("cpu"), trust_remote_code=args.trust_remote_code)
    check = export_checked_onnx(model, output, opset=args.opset or DEFAULT_OPSET, tolerance=args.tolerance)
    diffs = ", ".join(f"{name} {diff:.2e}" for name, diff in check.max_abs_diff.items())
    print(f"wrote {output} (onnxruntime vs PyTorch max |diff|: {diffs})", file=sys.stderr)
    return 0

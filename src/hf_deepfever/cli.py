"""The ``deepfever`` command: one sub-command per module in ``hf_deepfever.commands``.

Each command module exposes ``add_parser(subparsers)`` (registers its arguments and sets
``func``) so that this file never grows with the commands, and heavy imports (torch, datasets)
happen only when a command actually runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .core.dependencies import MissingDependencyError

# Sub-command name -> module under hf_deepfever.commands.
COMMANDS = {
    "extract": "extract",
    "demo": "demo",
    "video": "video",
    "export-onnx": "export_onnx",
    "index": "index",
    "similar": "similar",
    "app": "app",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfever",
        description="DeepFEVER facial-expression vectors and audio-visual emotion traces.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        importlib.import_module(f"hf_deepfever.commands.{module_name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, OSError, MissingDependencyError) as error:
        # Expected user errors (bad input, a missing optional package): one clear line, no traceback.
        print(f"deepfever {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

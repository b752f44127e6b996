"""What the commands' parsers share: the sub-parser itself (the command module's docstring as its description)
and the options several commands take with one meaning and one help text."""

from __future__ import annotations

import argparse
from typing import Any


def command_parser(subparsers: Any, name: str, summary: str, description: str | None) -> argparse.ArgumentParser:
    """The sub-parser of ``deepfever NAME``: ``summary`` in ``deepfever --help``, ``description`` (the command
    module's docstring, line breaks kept) in ``deepfever NAME --help``."""
    return subparsers.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_device_argument(parser: Any) -> None:
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, mps, ...")


def add_trust_remote_code_argument(parser: Any) -> None:
    parser.add_argument("--trust-remote-code", action="store_true", help="Allow the model's own code from the Hub.")


def add_photo_detector_argument(parser: Any) -> None:
    """``--detector`` of the commands that find the faces of a photo (``extract`` and ``video`` say more)."""
    parser.add_argument("--detector", default="auto", help="Face detector: auto (default), haar, dlib, yunet:/path/model.onnx.")


def add_min_face_size_argument(parser: Any) -> None:
    parser.add_argument("--min-face-size", type=float, default=None, help="Smallest face kept, in pixels (default 40).")


__all__ = [
    "add_device_argument",
    "add_min_face_size_argument",
    "add_photo_detector_argument",
    "add_trust_remote_code_argument",
    "command_parser",
]

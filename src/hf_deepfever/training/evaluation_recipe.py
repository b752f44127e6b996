"""What the two evaluation recipes (:mod:`.evaluation`, :mod:`.linear_probe`) share: the checks of their
arguments, the accelerator and saved model they run with, and their ``main``.

Both read a saved model, merge their metrics into its ``eval_results.json`` (main process only) and print them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.eval_results import EVAL_RESULTS_NAME, format_results
from ..core.loading import load_model_and_processor
from .arguments import parse_arguments

EVALUATION_PRECISIONS = ("no", "fp16", "bf16")


def check_evaluation_arguments(args: Any) -> None:
    """``--mixed_precision`` is one Accelerate knows; ``--output_dir`` defaults to the model's own folder (a Hub
    id has none to write into, so it needs one)."""
    if args.mixed_precision not in EVALUATION_PRECISIONS:
        raise ValueError(f"--mixed_precision must be no, fp16 or bf16, got {args.mixed_precision!r}")
    if args.output_dir is None:
        if not Path(args.model_name_or_path).is_dir():
            raise ValueError("--output_dir is required when --model_name_or_path is not a local folder")
        args.output_dir = args.model_name_or_path


def load_for_evaluation(args: Any, kind: str) -> tuple[Any, Any, Any]:
    """``(accelerator, model, processor)``: the saved model ``args.model_name_or_path`` as ``kind`` and an
    accelerator with ``args.mixed_precision``."""
    from .loop import checked_accelerator, resolve_mixed_precision

    accelerator = checked_accelerator(mixed_precision=resolve_mixed_precision(args.mixed_precision))
    model, processor = load_model_and_processor(args.model_name_or_path, kind=kind)
    return accelerator, model, processor


def evaluation_main(
    argument_classes: Sequence[type],
    run: Callable[..., dict[str, Any]],
    argv: Sequence[str] | None,
    description: str,
) -> dict[str, Any]:
    """Parse ``argument_classes`` (the first holds ``output_dir``), ``run(*arguments)``, print where the results
    went and what they are (main process); returns them."""
    from accelerate import PartialState

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    arguments = parse_arguments(list(argument_classes), argv, description=description)
    results = run(*arguments)
    if PartialState().is_main_process:
        print(f"results written to {Path(arguments[0].output_dir) / EVAL_RESULTS_NAME}:\n{format_results(results)}")
    return results


__all__ = ["EVALUATION_PRECISIONS", "check_evaluation_arguments", "evaluation_main", "load_for_evaluation"]

"""The final, Hub-ready output folder of a training run.

``OUTPUT_DIR`` ends up holding what ``from_pretrained`` and a Hub repo need — ``config.json``,
``model.safetensors``, the remote-code model files, ``preprocessor_config.json`` — plus
``training_args.json`` (every argument of the run) and ``eval_results.json`` (flat metric keys, merged into
the run's own file: a NEW run has already set the previous model's results aside, see `training.loop`).
Resumable state lives apart, in ``OUTPUT_DIR/checkpoints/`` (leave it out when uploading).

Files are first written into a temporary folder next to them and moved in one by one with
``os.replace``, so a reader never sees a half-written file. Only the main process writes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..core.eval_results import EVAL_RESULTS_NAME, merge_eval_results
from ..core.vocabulary import TRAINING_ARGS_NAME



def export_model(
    accelerator: Any,
    model: Any,
    processor: Any,
    output_dir: str | os.PathLike,
    *,
    training_args: dict[str, Any],
    eval_results: dict[str, Any] | None = None,
) -> Path:
    """Save the trained model (unwrapped from DDP), its processor, the arguments and the results."""
    output_dir = Path(output_dir)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        staging = output_dir / ".export.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        accelerator.unwrap_model(model).save_pretrained(staging)
        processor.save_pretrained(staging)
        (staging / TRAINING_ARGS_NAME).write_text(json.dumps(training_args, indent=2, sort_keys=True) + "\n")
        for item in sorted(staging.iterdir()):
            os.replace(item, output_dir / item.name)
        staging.rmdir()
        if eval_results:
            merge_eval_results(output_dir / EVAL_RESULTS_NAME, eval_results)
    accelerator.wait_for_everyone()
    return output_dir


__all__ = ["TRAINING_ARGS_NAME", "export_model"]

"""Evaluate a DeepFEVER model: AffectNet 8/7-class accuracy and macro-F1, valence/arousal CCC and RMSE,
FEC triplet accuracy (overall and per type), and the RAF-DB linear probe; results are merged into
``<output_dir>/eval_results.json``.

    python training_scripts/evaluate.py --model_name_or_path runs/student \
        --affectnet_dir data/affectnet --fec_dir data/fec --rafdb_dir data/rafdb

Runs the same under ``accelerate launch`` (rows sharded, outputs gathered, the main process writes). A thin
wrapper: from an installed package, ``python -m hf_deepfever.training.evaluation ...`` is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_deepfever.training.evaluation import main as evaluate_main


def main(argv: Sequence[str] | None = None) -> dict:
    return evaluate_main(argv)


if __name__ == "__main__":
    main()

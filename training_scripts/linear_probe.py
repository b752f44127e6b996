"""RAF-DB transfer: logistic regression on the frozen expression vectors of the train split, accuracy and
macro-F1 on the test split; results are merged into ``<output_dir>/eval_results.json``.

    python training_scripts/linear_probe.py --model_name_or_path runs/student --rafdb_dir data/rafdb

Runs the same under ``accelerate launch`` (vectors computed in shards and gathered, the main process writes).
A thin wrapper: from an installed package, ``python -m hf_deepfever.training.linear_probe ...`` is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_deepfever.training.linear_probe import main as linear_probe_main


def main(argv: Sequence[str] | None = None) -> dict:
    return linear_probe_main(argv)


if __name__ == "__main__":
    main()

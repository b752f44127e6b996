"""RAF-DB transfer: a logistic regression on frozen DeepFEVER expression vectors.

The model never sees RAF-DB in training. Its expression vectors of RAF-DB's train split fit a linear
classifier (:func:`hf_deepfever.metrics.linear_probe`), which is scored on the test split: how well the
vector space separates expressions of a corpus it was not trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import linear_probe
from ..core.eval_results import DATASET_KIND_KEY, EVAL_RESULTS_NAME, dataset_kind, save_eval_results
from .evaluation_recipe import check_evaluation_arguments, evaluation_main, load_for_evaluation
from .prediction import predict_images

logger = logging.getLogger(__name__)


def rafdb_linear_probe(
    model: Any,
    processor: Any,
    rafdb_dir: str,
    *,
    aligned: bool = True,
    batch_size: int = 64,
    num_workers: int = 0,
    accelerator: Any = None,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the probe on RAF-DB train vectors and score it on test.

    Returns the flat keys ``rafdb_linear_probe_accuracy``, ``rafdb_linear_probe_macro_f1``,
    ``rafdb_train_samples``, ``rafdb_test_samples``. With an accelerator, the vectors are computed in
    shards and gathered; every process fits the same (deterministic) probe.
    """
    from ..data import load_rafdb

    splits = load_rafdb(rafdb_dir, aligned=aligned)
    vectors, labels = {}, {}
    for split in ("train", "test"):
        if len(splits[split]) == 0:
            raise ValueError(f"RAF-DB at {rafdb_dir} has no usable {split} rows: the linear probe needs both splits")
        # Aligned crops are the face already; original photographs carry no box in RAF-DB's basic list.
        vectors[split] = predict_images(
            model,
            processor,
            splits[split],
            image_column="image",
            box_column=None,
            batch_size=batch_size,
            num_workers=num_workers,
            accelerator=accelerator,
            progress_description=f"RAF-DB {split}",
        ).vectors
        labels[split] = np.asarray(splits[split]["expression"], dtype=np.int64)
    scores = linear_probe(vectors["train"], labels["train"], vectors["test"], labels["test"], C=C, max_iter=max_iter, seed=seed)
    return {
        "rafdb_linear_probe_accuracy": scores["accuracy"],
        "rafdb_linear_probe_macro_f1": scores["macro_f1"],
        "rafdb_train_samples": int(labels["train"].size),
        "rafdb_test_samples": int(labels["test"].size),
    }


def rafdb_chance_accuracy(rafdb_dir: str) -> float:
    """Accuracy of always predicting the most frequent train expression, measured on the test split."""
    from ..data import load_rafdb

    splits = load_rafdb(rafdb_dir)
    train_labels = np.asarray(splits["train"]["expression"], dtype=np.int64)
    test_labels = np.asarray(splits["test"]["expression"], dtype=np.int64)
    majority = np.bincount(train_labels).argmax()
    return float(np.mean(test_labels == majority))


@dataclass
class LinearProbeArguments:
    """Arguments of ``training_scripts/linear_probe.py``."""

    model_name_or_path: str = field(metadata={"help": "A saved DeepFEVER model (with or without heads)."})
    rafdb_dir: str = field(metadata={"help": "RAF-DB root (basic/EmoLabel/list_patition_label.txt, basic/Image/...)."})
    output_dir: str | None = field(
        default=None,
        metadata={"help": f"Where {EVAL_RESULTS_NAME} is written (merged). Default: model_name_or_path, when a folder."},
    )
    use_original_images: bool = field(
        default=False, metadata={"help": "Use basic/Image/original instead of the 100x100 aligned crops."}
    )
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Images per batch per process."})
    dataloader_num_workers: int = field(default=0, metadata={"help": "DataLoader workers decoding images."})
    mixed_precision: str = field(default="no", metadata={"help": "Accelerate mixed precision: no, fp16 or bf16."})
    C: float = field(default=1.0, metadata={"help": "Inverse L2 regularisation strength of the logistic regression."})
    max_iter: int = field(default=1000, metadata={"help": "Maximum iterations of the logistic regression solver."})
    seed: int = field(default=0, metadata={"help": "Seed of the logistic regression."})

    def __post_init__(self) -> None:
        check_evaluation_arguments(self)


def run_linear_probe(args: LinearProbeArguments) -> dict[str, Any]:
    """Load the model, run the probe and merge its results into ``eval_results.json`` (main process)."""
    accelerator, model, processor = load_for_evaluation(args, "extractor")
    results: dict[str, Any] = {DATASET_KIND_KEY: dataset_kind([args.rafdb_dir])}
    results.update(
        rafdb_linear_probe(
            model,
            processor,
            args.rafdb_dir,
            aligned=not args.use_original_images,
            batch_size=args.per_device_eval_batch_size,
            num_workers=args.dataloader_num_workers,
            accelerator=accelerator,
            C=args.C,
            max_iter=args.max_iter,
            seed=args.seed,
        )
    )
    save_eval_results(accelerator, args.output_dir, results)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``training_scripts/linear_probe.py``: parse arguments, probe, write and print the results."""
    return evaluation_main([LinearProbeArguments], run_linear_probe, argv, __doc__.split("\n\n")[0])


__all__ = ["LinearProbeArguments", "main", "rafdb_chance_accuracy", "rafdb_linear_probe", "run_linear_probe"]


if __name__ == "__main__":
    main()

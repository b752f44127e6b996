"""Evaluation of a DeepFEVER model on the protocols of the method (README.md, "How to train", step 3).

- AffectNet validation (the de-facto test set): 8-class accuracy and macro-F1 over classes 0-7; 7-class
  accuracy and macro-F1 over rows 0-6 with the contempt logit masked out; valence/arousal CCC and RMSE
  (rows without valence/arousal are ignored).
- FEC test: triplet prediction accuracy, overall and per triplet type, on the expression vectors.
- RAF-DB: the frozen-vector linear probe of :mod:`hf_deepfever.training.linear_probe`.

Results go into ``eval_results.json`` with flat keys (merged into an existing file; see
:mod:`hf_deepfever.core.eval_results`). Runs single-process or under ``accelerate launch``: rows are
sharded across processes, outputs gathered, and only the main process writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import expression_metrics, triplet_accuracy, valence_arousal_metrics
from .arguments import DataArguments
from ..core.eval_results import DATASET_KIND_KEY, EVAL_RESULTS_NAME, dataset_kind, format_results, save_eval_results
from ..core.vocabulary import TRIPLET_TYPE_NAMES
from .data import sample_rows, with_alignable_landmarks
from .evaluation_recipe import check_evaluation_arguments, evaluation_main, load_for_evaluation
from .prediction import ImagePredictions, predict_images

logger = logging.getLogger(__name__)

AFFECTNET_NUM_CLASSES = 8


def affectnet_metrics(predictions: ImagePredictions, labels: Sequence[int], valence_arousal: np.ndarray) -> dict[str, Any]:
    """Flat AffectNet keys from predictions and targets (``valence_arousal``: ``(N, 2)``, NaN = not annotated)."""
    if predictions.logits is None or predictions.valence_arousal is None:
        raise ValueError("AffectNet evaluation needs a model with expression heads (DeepFeverForExpressionRecognition)")
    if predictions.logits.shape[1] != AFFECTNET_NUM_CLASSES:
        raise ValueError(
            f"AffectNet evaluation needs {AFFECTNET_NUM_CLASSES} expression logits in AffectNet order, "
            f"the model has {predictions.logits.shape[1]}"
        )
    expression = expression_metrics(predictions.logits, np.asarray(labels), num_classes=AFFECTNET_NUM_CLASSES)
    affect = valence_arousal_metrics(predictions.valence_arousal, valence_arousal)
    return {
        "affectnet_accuracy_8": expression["accuracy_8"],
        "affectnet_macro_f1_8": expression["macro_f1_8"],
        "affectnet_accuracy_7": expression["accuracy_7"],
        "affectnet_macro_f1_7": expression["macro_f1_7"],
        "affectnet_eval_samples": expression["num_samples_8"],
        "affectnet_eval_samples_7": expression["num_samples_7"],
        **affect,
    }


def affectnet_targets(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Expression ids and ``(N, 2)`` (valence, arousal) targets of an AffectNet split."""
    labels = np.asarray(dataset["expression"], dtype=np.int64)
    valence_arousal = np.stack(
        [np.asarray(dataset["valence"], dtype=np.float32), np.asarray(dataset["arousal"], dtype=np.float32)], axis=1
    )
    return labels, valence_arousal


def evaluate_affectnet(
    model: Any, processor: Any, dataset: Any, *, batch_size: int = 64, accelerator: Any = None, num_workers: int = 0
) -> tuple[dict[str, Any], ImagePredictions]:
    """AffectNet metrics of ``model`` on ``dataset`` (a ``load_affectnet`` split), and the raw predictions."""
    # The crops training saw: aligned by AffectNet's landmarks (those with an eye line) when the processor aligns.
    faces = with_alignable_landmarks(dataset)
    predictions = predict_images(
        model,
        processor,
        faces,
        image_column="image",
        box_column="face_box",
        box_format="xywh",
        landmarks_column="landmarks" if "landmarks" in faces.column_names else None,
        batch_size=batch_size,
        num_workers=num_workers,
        accelerator=accelerator,
        progress_description="AffectNet",
    )
    labels, valence_arousal = affectnet_targets(dataset)
    return affectnet_metrics(predictions, labels, valence_arousal), predictions


def evaluate_fec(
    model: Any, processor: Any, dataset: Any, *, batch_size: int = 64, accelerator: Any = None, num_workers: int = 0
) -> dict[str, Any]:
    """FEC triplet prediction accuracy of ``model``'s expression vectors on ``dataset`` (a ``load_fec`` split)."""
    vectors = [
        predict_images(
            model,
            processor,
            dataset,
            image_column=f"image_{position}",
            box_column=f"box_{position}",
            box_format="ltrb_normalized",
            batch_size=batch_size,
            num_workers=num_workers,
            accelerator=accelerator,
            progress_description=f"FEC image {position}/3",
        ).vectors
        for position in (1, 2, 3)
    ]
    scores = triplet_accuracy(
        *vectors, np.asarray(dataset["odd_one_out"]), np.asarray(dataset["triplet_type"], dtype=np.int64)
    )
    results: dict[str, Any] = {"fec_triplet_accuracy": scores["accuracy"], "fec_eval_triplets": scores["num_triplets"]}
    for type_name in TRIPLET_TYPE_NAMES:
        results[f"fec_triplet_accuracy_{type_name}"] = scores[f"accuracy_{type_name}"]
        results[f"fec_eval_triplets_{type_name}"] = scores[f"num_{type_name}"]
    return results


@dataclass
class EvaluationArguments:
    """Arguments of ``training_scripts/evaluate.py`` besides the corpus folders (``DataArguments``)."""

    model_name_or_path: str = field(
        metadata={"help": "A saved DeepFEVER model (DeepFeverForExpressionRecognition with its image processor)."}
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": f"Where {EVAL_RESULTS_NAME} is written (merged). Default: model_name_or_path, when a folder."},
    )
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Images per batch per process."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate at most this many rows (triplets for FEC) per corpus, drawn at random."}
    )
    dataloader_num_workers: int = field(default=0, metadata={"help": "DataLoader workers decoding images."})
    mixed_precision: str = field(default="no", metadata={"help": "Accelerate mixed precision: no, fp16 or bf16."})
    seed: int = field(default=0, metadata={"help": "Seed of the max_eval_samples draw and of the linear probe."})
    probe_C: float = field(default=1.0, metadata={"help": "Inverse L2 strength of the RAF-DB logistic regression."})
    probe_max_iter: int = field(default=1000, metadata={"help": "Iterations of the RAF-DB logistic regression."})

    def __post_init__(self) -> None:
        if self.per_device_eval_batch_size <= 0:
            raise ValueError(f"--per_device_eval_batch_size must be positive, got {self.per_device_eval_batch_size}")
        check_evaluation_arguments(self)


def evaluate_model(
    model: Any,
    processor: Any,
    *,
    affectnet_dir: str | None = None,
    fec_dir: str | None = None,
    fec_images_dir: str | None = None,
    rafdb_dir: str | None = None,
    batch_size: int = 64,
    max_eval_samples: int | None = None,
    num_workers: int = 0,
    accelerator: Any = None,
    seed: int = 0,
    probe_C: float = 1.0,
    probe_max_iter: int = 1000,
) -> dict[str, Any]:
    """Every metric the given corpora allow, as flat ``eval_results.json`` keys (plus ``dataset_kind``)."""
    from ..data import load_affectnet, load_fec

    if not (affectnet_dir or fec_dir or rafdb_dir):
        raise ValueError("nothing to evaluate: give at least one of --affectnet_dir, --fec_dir, --rafdb_dir")

    results: dict[str, Any] = {DATASET_KIND_KEY: dataset_kind([affectnet_dir, fec_dir, rafdb_dir])}
    common = {"batch_size": batch_size, "accelerator": accelerator, "num_workers": num_workers}
    if affectnet_dir:
        split = sample_rows(load_affectnet(affectnet_dir, protocol=8)["validation"], max_eval_samples, seed)
        results.update(evaluate_affectnet(model, processor, split, **common)[0])
    if fec_dir:
        split = sample_rows(load_fec(fec_dir, images_dir=fec_images_dir)["test"], max_eval_samples, seed)
        results.update(evaluate_fec(model, processor, split, **common))
    if rafdb_dir:
        from .linear_probe import rafdb_linear_probe

        results.update(
            rafdb_linear_probe(model, processor, rafdb_dir, C=probe_C, max_iter=probe_max_iter, seed=seed, **common)
        )
    return results


CORPUS_FOLDERS = ("affectnet_dir", "fec_dir", "fec_images_dir", "rafdb_dir")
"""The fields of ``DataArguments`` that :func:`evaluate_model` takes under the same names."""


def evaluate_corpora(
    model: Any, processor: Any, data_args: DataArguments, args: Any, accelerator: Any, **probe: Any
) -> dict[str, Any]:
    """:func:`evaluate_model` on the corpus folders of ``data_args``, with the batch size, sample cap, workers and
    seed of ``args`` (evaluation or training arguments); ``probe``: ``probe_C`` / ``probe_max_iter``."""
    return evaluate_model(
        model,
        processor,
        **{name: getattr(data_args, name) for name in CORPUS_FOLDERS},
        batch_size=args.per_device_eval_batch_size,
        max_eval_samples=args.max_eval_samples,
        num_workers=args.dataloader_num_workers,
        accelerator=accelerator,
        seed=args.seed,
        **probe,
    )


def run_evaluation(args: EvaluationArguments, data_args: DataArguments) -> dict[str, Any]:
    """Load the model, evaluate it on the given corpora and merge the results into ``eval_results.json``."""
    accelerator, model, processor = load_for_evaluation(args, "expression")
    results = evaluate_corpora(
        model, processor, data_args, args, accelerator, probe_C=args.probe_C, probe_max_iter=args.probe_max_iter
    )
    save_eval_results(accelerator, args.output_dir, results)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``training_scripts/evaluate.py``: parse arguments, evaluate, write and print the results."""
    return evaluation_main([EvaluationArguments, DataArguments], run_evaluation, argv, __doc__.split("\n\n")[0])


__all__ = [
    "EvaluationArguments",
    "affectnet_metrics",
    "affectnet_targets",
    "evaluate_affectnet",
    "evaluate_corpora",
    "evaluate_fec",
    "evaluate_model",
    "format_results",
    "main",
    "run_evaluation",
]


if __name__ == "__main__":
    main()

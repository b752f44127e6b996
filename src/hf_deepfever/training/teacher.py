"""Train the multi-task DeepFEVER teacher on AffectNet (+ FEC triplets).

Loss per step (the training recipe, step 1: the multi-task teacher)::

    expression cross-entropy (class-imbalance handled: class weights, or a balanced sampler)
  + valence_arousal_weight * (1 - CCC) on valence/arousal (NaN targets ignored)
  + triplet_weight * FECNet triplet hinge on the expression vector (margin by triplet type)

The first two terms are the model's own loss: the run writes the class weights, the valence/arousal loss and
its weight into the model's config (``expression_class_weights``, ``valence_arousal_loss``,
``valence_arousal_loss_weight``) and computes them with the function ``model(..., labels=...,
valence_arousal=...)`` uses, so the saved model gives a ``Trainer`` user the same objective.

Each step draws one AffectNet batch and, with ``--fec_dir``, one batch of FEC triplets; both go through the
network in ONE forward pass (faces concatenated), so under DDP every parameter takes part in every step.

Usage::

    accelerate launch training_scripts/train_teacher.py --affectnet_dir AFFECTNET --fec_dir FEC \\
        --output_dir runs/teacher --mixed_precision bf16
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..models.deepfever.configuration_deepfever import VALENCE_AROUSAL_LOSSES, DeepFeverConfig
from .losses import class_weights_from_counts, supervised_loss
from .arguments import DataArguments, ModelArguments, TrainingLoopArguments, parse_arguments, to_json_dict
from .components import CorpusSplits, PeriodicEvaluator, build_model, build_processor, final_evaluation
from .data import expression_counts
from .export import export_model
from .inputs import FaceRowTransform, TripletRowTransform
from .loop import TrainingData, append_log, make_accelerator, train
from .triplets import (
    FEC_AUXILIARY,
    fec_batch_size_field,
    parse_triplet_margins,
    triplet_margins_field,
    triplet_term,
    triplets_per_batch,
    with_triplet_faces,
)

TEACHER_DEFAULTS = {"backbone": "convnext_tiny"}


@dataclass
class TeacherLossArguments:
    """The teacher's multi-task loss and how FEC triplets are mixed into the batches."""

    class_balancing: str = field(
        default="weights",
        metadata={"help": "AffectNet class imbalance: 'weights' (weighted cross-entropy), 'sampler' (balanced sampler) or 'none'."},
    )
    class_weight_power: float = field(
        default=0.5,
        metadata={"help": "Class weights / sampling weights proportional to count^-power (1: fully inverse frequency)."},
    )
    valence_arousal_weight: float = field(default=1.0, metadata={"help": "Weight of the valence/arousal loss."})
    valence_arousal_loss: str = field(
        default="ccc",
        metadata={"help": "Valence/arousal loss: 'ccc' (1 - concordance correlation, as in the paper) or 'mse'."},
    )
    triplet_weight: float = field(default=1.0, metadata={"help": "Weight of the FEC triplet hinge loss."})
    triplet_margins: str = triplet_margins_field()
    fec_batch_size: int = fec_batch_size_field()

    def __post_init__(self) -> None:
        if self.class_balancing not in ("weights", "sampler", "none"):
            raise ValueError(f"--class_balancing must be weights, sampler or none, got {self.class_balancing!r}")
        if self.valence_arousal_loss not in VALENCE_AROUSAL_LOSSES:
            raise ValueError(f"--valence_arousal_loss must be one of {', '.join(VALENCE_AROUSAL_LOSSES)}, got {self.valence_arousal_loss!r}")
        self.margins = parse_triplet_margins(self.triplet_margins)

    def triplets_per_batch(self, per_device_train_batch_size: int) -> int:
        return triplets_per_batch(self.fec_batch_size, per_device_train_batch_size)

    def configure(self, config: DeepFeverConfig, class_weights: torch.Tensor | None) -> DeepFeverConfig:
        """Write the supervised objective into the model's config (saved with the model); returns ``config``."""
        config.expression_class_weights = None if class_weights is None else [float(w) for w in class_weights]
        config.valence_arousal_loss = self.valence_arousal_loss
        config.valence_arousal_loss_weight = self.valence_arousal_weight
        return config


class TeacherTask:
    """The teacher's loss on an AffectNet batch plus (optionally) an FEC triplet batch.

    ``config`` is the model's config: it carries the supervised objective (see :meth:`TeacherLossArguments.configure`).
    """

    def __init__(self, loss_args: TeacherLossArguments, config: DeepFeverConfig, evaluator: Any) -> None:
        self.loss_args = loss_args
        self.config = config
        self.evaluator = evaluator

    def compute_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], auxiliary: dict[str, dict[str, torch.Tensor]]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        faces = batch["pixel_values"].shape[0]
        triplets = auxiliary.get(FEC_AUXILIARY)
        output = model(pixel_values=with_triplet_faces(batch["pixel_values"], triplets))
        loss, supervised = supervised_loss(
            output.logits[:faces], output.valence_arousal[:faces], batch["labels"], batch["valence_arousal"], self.config
        )
        terms = {
            "expression_ce": supervised["expression"].detach(),
            f"valence_arousal_{self.config.valence_arousal_loss}_loss": supervised["valence_arousal"].detach(),
        }
        if triplets is not None:
            triplet = triplet_term(output.pooler_output[faces:], triplets, self.loss_args.margins)
            loss = loss + self.loss_args.triplet_weight * triplet
            terms["triplet_loss"] = triplet.detach()
        return loss, terms

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.evaluator(model)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse arguments, train the teacher, save the Hub-ready folder; returns the final metrics."""
    args, data_args, model_args, loss_args = parse_arguments(
        [TrainingLoopArguments, DataArguments, ModelArguments, TeacherLossArguments],
        argv,
        description=__doc__.split("\n\n")[0],
        defaults=TEACHER_DEFAULTS,
    )
    if not data_args.affectnet_dir:
        raise ValueError("train_teacher.py needs --affectnet_dir (the teacher learns AffectNet's labels)")
    accelerator = make_accelerator(args)
    corpora = CorpusSplits(data_args)
    processor = build_processor(model_args)
    model = build_model(model_args, args)
    num_classes = model.config.num_labels

    rows = corpora.affectnet_train_rows()
    counts = expression_counts(rows, num_classes)
    weights = class_weights_from_counts(counts, power=loss_args.class_weight_power)
    class_weights = weights if loss_args.class_balancing == "weights" else None
    sampling_weights = None
    if loss_args.class_balancing == "sampler":
        labels = torch.from_numpy(rows.with_format("arrow")[:].column("labels").to_numpy().copy())
        sampling_weights = weights[labels.clamp(min=0)] * (labels >= 0)

    transform = FaceRowTransform(processor, augment=args.augment, seed=args.seed)
    auxiliary = {}
    triplets = corpora.fec_train_triplets()
    if triplets is not None and len(triplets) > 0:
        triplet_transform = TripletRowTransform(processor, augment=args.augment, seed=args.seed)
        auxiliary[FEC_AUXILIARY] = (
            triplets.with_transform(triplet_transform),
            triplet_transform,
            loss_args.triplets_per_batch(args.per_device_train_batch_size),
        )
    data = TrainingData(rows.with_transform(transform), transform, sampling_weights, auxiliary)
    evaluator = PeriodicEvaluator(corpora, processor, args, accelerator)
    task = TeacherTask(loss_args, loss_args.configure(model.config, class_weights), evaluator)
    hyperparameters = to_json_dict(args, data_args, model_args, loss_args)
    accelerator.print(
        f"teacher: {len(rows)} AffectNet faces (counts {counts.tolist()}), "
        f"{0 if triplets is None else len(triplets)} FEC triplets, backbone {model_args.backbone}"
    )
    model, outcome = train(
        accelerator, model, task, data, args, hyperparameters=hyperparameters, tracker_name="deepfever_teacher",
        evaluate_at_end=False,
    )
    results = final_evaluation(model, processor, data_args, args, accelerator)
    append_log(args.output_dir, {"step": outcome.state.global_step, **{f"final_{k}": v for k, v in results.items()}}, accelerator)
    export_model(accelerator, model, processor, args.output_dir, training_args=hyperparameters, eval_results=results)
    return results


__all__ = ["TEACHER_DEFAULTS", "TeacherLossArguments", "TeacherTask", "main"]


if __name__ == "__main__":
    main()

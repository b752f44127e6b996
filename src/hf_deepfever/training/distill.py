"""Distil a DeepFEVER teacher into a (smaller) student on AffectNet, FEC faces and unlabelled faces.

Loss per step (the training recipe, step 2: distillation)::

    kd_weight          * T^2 KL(softmax(teacher_logits / T) || softmax(student_logits / T))
  + va_distill_weight  * MSE(student valence/arousal, teacher valence/arousal)
  + geometry_weight    * relational (pairwise-distance) loss between student and teacher expression vectors
  + ground_truth_weight * (expression cross-entropy + (1 - CCC) valence/arousal), on rows that have labels
  + triplet_weight     * FECNet triplet hinge on the expression vector, on FEC training triplets (with ``--fec_dir``)

The expression/valence-arousal ground-truth term is the student model's own loss (``model(..., labels=...,
valence_arousal=...).loss``, computed by the same function with the student's config: no class weights,
``valence_arousal_loss="ccc"``, weight 1). The triplet term is the teacher's: each step draws a batch of FEC
triplets whose faces go through the student in the same forward pass as the distillation faces.

Teacher outputs are computed once, before training, on the canonical (un-augmented) crop of every face and
cached on disk (:mod:`hf_deepfever.training.teacher_cache`); the student trains on augmented crops of the
same faces. That is standard offline distillation. ``--online_teacher`` runs the teacher every step on the
student's own augmented view instead (resized / re-normalised to the teacher's processor when they differ).

Usage::

    accelerate launch training_scripts/distill.py --teacher runs/teacher --affectnet_dir AFFECTNET \\
        --fec_dir FEC --unlabelled_dir FACES --output_dir runs/student --mixed_precision bf16
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models.deepfever.configuration_deepfever import DeepFeverConfig
from .losses import distillation_kl, geometry_loss, supervised_loss, vector_regression_loss
from .arguments import DataArguments, ModelArguments, TrainingLoopArguments, parse_arguments, to_json_dict
from ..core.loading import load_model_and_processor
from .components import CorpusSplits, PeriodicEvaluator, build_model, build_processor, final_evaluation
from .export import export_model
from .inputs import FaceRowTransform
from .loop import TrainingData, append_log, make_accelerator, train
from .teacher_cache import cached_teacher_outputs, teacher_outputs
from .triplets import FEC_AUXILIARY, TripletArguments, fec_triplet_auxiliary, triplet_term, with_triplet_faces

STUDENT_DEFAULTS = {"backbone": "efficientnet_b0"}


@dataclass
class DistillationArguments:
    """Weights of the distillation terms and where the teacher's outputs come from."""

    kd_temperature: float = field(default=4.0, metadata={"help": "Softmax temperature T of the logit KL term."})
    kd_weight: float = field(default=1.0, metadata={"help": "Weight of the temperature-scaled KL on expression logits."})
    va_distill_weight: float = field(default=1.0, metadata={"help": "Weight of the regression to the teacher's valence/arousal."})
    geometry_weight: float = field(
        default=1.0, metadata={"help": "Weight of the term matching the geometry (pairwise distances) of the teacher's vectors."}
    )
    ground_truth_weight: float = field(
        default=0.5, metadata={"help": "Weight of the ground-truth losses (expression CE + valence/arousal CCC) where labels exist."}
    )
    online_teacher: bool = field(
        default=False, metadata={"help": "Run the teacher every step on the student's augmented batch instead of the cache."}
    )
    teacher_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Folder of the teacher-output cache (default: $HF_DATASETS_CACHE/hf_deepfever/teacher_outputs)."},
    )
    teacher_batch_size: int = field(default=128, metadata={"help": "Images per device per batch when filling the cache."})

    def __post_init__(self) -> None:
        if self.kd_temperature <= 0:
            raise ValueError(f"--kd_temperature must be positive, got {self.kd_temperature}")
        weights = (self.kd_weight, self.va_distill_weight, self.geometry_weight, self.ground_truth_weight)
        if min(weights) < 0:
            raise ValueError("distillation loss weights must be >= 0")


def default_teacher_cache_dir() -> str:
    import datasets

    return os.path.join(datasets.config.HF_DATASETS_CACHE, "hf_deepfever", "teacher_outputs")


class TeacherInputAdapter:
    """Student ``pixel_values`` -> the teacher's (its size and normalisation), for the online teacher."""

    def __init__(self, student_processor: Any, teacher_processor: Any) -> None:
        self.size = int(teacher_processor.size["height"])
        student_mean, student_std = (torch.tensor(v).view(1, 3, 1, 1) for v in (student_processor.image_mean, student_processor.image_std))
        teacher_mean, teacher_std = (torch.tensor(v).view(1, 3, 1, 1) for v in (teacher_processor.image_mean, teacher_processor.image_std))
        self.renormalise = not (torch.equal(student_mean, teacher_mean) and torch.equal(student_std, teacher_std))
        # x_t = (x_s * std_s + mean_s - mean_t) / std_t = x_s * scale + shift
        self.scale = student_std / teacher_std
        self.shift = (student_mean - teacher_mean) / teacher_std

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.shape[-1] != self.size:
            pixel_values = F.interpolate(pixel_values, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        if self.renormalise:
            pixel_values = pixel_values * self.scale.to(pixel_values) + self.shift.to(pixel_values)
        return pixel_values


@dataclass(eq=False)
class DistillationTask:
    """Student loss against cached (indexed by ``row_index``) or online teacher outputs.

    ``config`` is the student's config: its supervised objective is the ground-truth term (default: the config of
    the model ``compute_loss`` is given). ``triplets``: the FEC triplet hinge's weight and margins, applied when a
    step brings a triplet batch (``auxiliary["fec"]``). Give either ``cached`` teacher outputs or an online
    ``teacher`` (with its ``adapter`` and the ``accelerator`` whose autocast it runs under).
    """

    args: DistillationArguments
    evaluator: Any
    _: KW_ONLY
    config: DeepFeverConfig | None = None
    cached: dict[str, torch.Tensor] | None = None
    teacher: nn.Module | None = None
    adapter: TeacherInputAdapter | None = None
    accelerator: Any = None
    triplets: TripletArguments | None = None

    def __post_init__(self) -> None:
        if (self.cached is None) == (self.teacher is None):
            raise ValueError("give either cached teacher outputs or an online teacher")

    def targets(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.cached is not None:
            rows = batch["row_index"]
            return {name: values.index_select(0, rows) for name, values in self.cached.items()}
        with torch.no_grad(), self.accelerator.autocast():
            return teacher_outputs(self.teacher, self.adapter(batch["pixel_values"]))

    def compute_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], auxiliary: dict[str, dict[str, torch.Tensor]]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        faces = batch["pixel_values"].shape[0]
        triplets = auxiliary.get(FEC_AUXILIARY) if self.triplets is not None else None
        output = model(pixel_values=with_triplet_faces(batch["pixel_values"], triplets))
        logits, valence_arousal, vectors = output.logits[:faces], output.valence_arousal[:faces], output.pooler_output[:faces]
        teacher = self.targets(batch)
        kd, affect, geometry = self._teacher_terms(logits, valence_arousal, vectors, teacher, batch.get("usable"))
        config = self.config if self.config is not None else getattr(model, "module", model).config  # DDP wraps
        truth, _ = supervised_loss(logits, valence_arousal, batch["labels"], batch["valence_arousal"], config)
        loss = (
            self.args.kd_weight * kd
            + self.args.va_distill_weight * affect
            + self.args.geometry_weight * geometry
            + self.args.ground_truth_weight * truth
        )
        terms = {"kd": kd.detach(), "va_distill": affect.detach(), "geometry": geometry.detach(), "ground_truth": truth.detach()}
        if triplets is not None:
            triplet = triplet_term(output.pooler_output[faces:], triplets, self.triplets.margins)
            loss = loss + self.triplets.triplet_weight * triplet
            terms["triplet_loss"] = triplet.detach()
        return loss, terms

    def _teacher_terms(
        self,
        logits: torch.Tensor,
        valence_arousal: torch.Tensor,
        vectors: torch.Tensor,
        teacher: dict[str, torch.Tensor],
        usable: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """KD, valence/arousal and geometry terms over the batch's usable rows: a marker row (an image that could
        not be decoded, see :mod:`~hf_deepfever.training.inputs`) has no teacher output to match."""
        if usable is not None and not bool(usable.all()):
            if not bool(usable.any()):  # zero terms that keep the graph (every process runs the same backward)
                zero = logits.sum() * 0 + valence_arousal.sum() * 0 + vectors.sum() * 0
                return zero, zero, zero
            keep = usable.nonzero().flatten()
            logits, valence_arousal, vectors = logits[keep], valence_arousal[keep], vectors[keep]
            teacher = {name: values[keep.to(values.device)] for name, values in teacher.items()}
        return (
            distillation_kl(logits, teacher["logits"], self.args.kd_temperature),
            vector_regression_loss(valence_arousal, teacher["valence_arousal"], kind="mse"),
            geometry_loss(vectors, teacher["vectors"]),
        )

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.evaluator(model)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse arguments, distil the teacher into the student, save the Hub-ready folder; returns final metrics."""
    args, data_args, model_args, kd_args, triplet_args = parse_arguments(
        [TrainingLoopArguments, DataArguments, ModelArguments, DistillationArguments, TripletArguments],
        argv,
        description=__doc__.split("\n\n")[0],
        defaults=STUDENT_DEFAULTS,
    )
    if not model_args.teacher:
        raise ValueError("distill.py needs --teacher (a saved DeepFEVER folder or Hub id)")
    if not (data_args.affectnet_dir or data_args.fec_dir or data_args.unlabelled_dir):
        raise ValueError("distill.py needs faces: give --affectnet_dir, --fec_dir and/or --unlabelled_dir")
    accelerator = make_accelerator(args)
    teacher, teacher_processor = load_model_and_processor(model_args.teacher, kind="expression")
    teacher.requires_grad_(False).eval().to(accelerator.device)
    corpora = CorpusSplits(data_args)
    processor = build_processor(model_args)
    model = build_model(model_args, args, id2label=dict(teacher.config.id2label))

    rows = corpora.distillation_rows()
    transform = FaceRowTransform(processor, augment=args.augment, seed=args.seed)
    evaluator = PeriodicEvaluator(corpora, processor, args, accelerator)
    auxiliary = fec_triplet_auxiliary(
        corpora.fec_train_triplets(), processor, triplet_args,
        per_device_train_batch_size=args.per_device_train_batch_size, augment=args.augment, seed=args.seed,
    )
    if kd_args.online_teacher:
        task = DistillationTask(
            kd_args, evaluator, config=model.config, teacher=teacher,
            adapter=TeacherInputAdapter(processor, teacher_processor), accelerator=accelerator, triplets=triplet_args,
        )
    else:
        cached = cached_teacher_outputs(
            accelerator,
            teacher,
            teacher_processor,
            rows,
            kd_args.teacher_cache_dir or default_teacher_cache_dir(),
            batch_size=kd_args.teacher_batch_size,
            num_workers=args.dataloader_num_workers,
        )
        task = DistillationTask(
            kd_args, evaluator, config=model.config, cached={k: v.to(accelerator.device) for k, v in cached.items()},
            triplets=triplet_args,
        )
        teacher.to("cpu")  # not needed any more: free the accelerator's memory for the student
    triplet_count = len(auxiliary[FEC_AUXILIARY][0]) if auxiliary else 0
    accelerator.print(
        f"distillation: {len(rows)} faces, {triplet_count} FEC triplets (hinge weight {triplet_args.triplet_weight}), "
        f"student {model_args.backbone}, teacher {model_args.teacher}"
    )
    hyperparameters = to_json_dict(args, data_args, model_args, kd_args, triplet_args)
    model, outcome = train(
        accelerator, model, task, TrainingData(rows.with_transform(transform), transform, auxiliary=auxiliary), args,
        hyperparameters=hyperparameters, tracker_name="deepfever_distill", evaluate_at_end=False,
    )
    results = final_evaluation(model, processor, data_args, args, accelerator)
    append_log(args.output_dir, {"step": outcome.state.global_step, **{f"final_{k}": v for k, v in results.items()}}, accelerator)
    export_model(accelerator, model, processor, args.output_dir, training_args=hyperparameters, eval_results=results)
    return results


__all__ = ["DistillationArguments", "DistillationTask", "STUDENT_DEFAULTS", "TeacherInputAdapter", "main"]


if __name__ == "__main__":
    main()

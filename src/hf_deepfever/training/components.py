"""Building blocks both training scripts assemble: model, processor, training rows, evaluation hooks."""

from __future__ import annotations

from typing import Any

from ..models.deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from .arguments import DataArguments, ModelArguments, TrainingLoopArguments
from .checkpointing import resolve_checkpoint
from .data import (
    affectnet_face_rows,
    concatenate_face_rows,
    fec_face_rows,
    fec_triplet_rows,
    sample_rows,
    whole_image_rows,
)


def backbone_normalisation(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The ``(mean, std)`` timm's pretrained weights of ``backbone`` were trained with (its ``pretrained_cfg``).

    Read from timm's registry, nothing is downloaded for registered names (``efficientnet_b0``,
    ``vit_base_patch16_224.augreg_in21k``, ...); other names (``hf-hub:...``) are built without weights to read
    their config. Several timm families use 0.5 / 0.5 rather than ImageNet's statistics.
    """
    import timm

    config = timm.get_pretrained_cfg(backbone)
    statistics = None if config is None else (config.mean, config.std)
    if statistics is None or None in statistics:
        built = timm.create_model(backbone, pretrained=False).pretrained_cfg
        statistics = (built.get("mean"), built.get("std"))
    mean, std = statistics
    if mean is None or std is None:
        raise ValueError(f"timm has no pretrained mean/std for backbone {backbone!r}; pass --no_backbone_pretrained")
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def build_processor(model_args: ModelArguments) -> DeepFeverImageProcessor:
    """The one image processor of the trained model (saved next to it, used for every training crop).

    A backbone started from timm's pretrained weights is fed inputs normalised as it was pretrained (the
    backbone's timm ``pretrained_cfg`` mean/std, saved in ``preprocessor_config.json``); a backbone trained from
    scratch keeps the processor's defaults (ImageNet statistics). ``--align_faces`` becomes the processor's
    ``align_faces``: training crops and the saved model's inference crops are rotated alike.
    """
    side = model_args.image_size
    options: dict[str, Any] = {
        "size": {"height": side, "width": side},
        "crop_margin": model_args.crop_margin,
        "align_faces": model_args.align_faces,
    }
    if model_args.backbone_pretrained:
        options["image_mean"], options["image_std"] = backbone_normalisation(model_args.backbone)
    return DeepFeverImageProcessor(**options)


def build_model(
    model_args: ModelArguments, training_args: TrainingLoopArguments, *, id2label: dict[int, str] | None = None
) -> DeepFeverForExpressionRecognition:
    """A new DeepFEVER model with heads; timm's pretrained backbone weights only when starting fresh.

    A resumed run skips the download: its checkpoint overwrites every weight anyway.
    """
    extra = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}
    config = DeepFeverConfig(
        backbone=model_args.backbone,
        backbone_pretrained=model_args.backbone_pretrained,
        embedding_dim=model_args.embedding_dim,
        image_size=model_args.image_size,
        drop_path_rate=model_args.drop_path_rate,
        **extra,
    )
    model = DeepFeverForExpressionRecognition(config)
    resuming = resolve_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir) is not None
    if model_args.backbone_pretrained and not resuming:
        model.load_backbone_pretrained_weights()
    return model


class CorpusSplits:
    """The corpora a run was given, loaded once (indexes are cached as Arrow by :mod:`hf_deepfever.data`)."""

    def __init__(self, data_args: DataArguments) -> None:
        from ..data import load_affectnet, load_face_folder, load_fec

        self.args = data_args
        self.affectnet = (
            load_affectnet(data_args.affectnet_dir, protocol=data_args.affectnet_protocol)
            if data_args.affectnet_dir
            else None
        )
        self.fec = load_fec(data_args.fec_dir, images_dir=data_args.fec_images_dir) if data_args.fec_dir else None
        self.unlabelled = load_face_folder(data_args.unlabelled_dir) if data_args.unlabelled_dir else None

    def affectnet_train_rows(self):
        return affectnet_face_rows(self.affectnet["train"], self.args.max_train_samples) if self.affectnet else None

    def fec_train_triplets(self):
        return fec_triplet_rows(self.fec["train"], self.args.max_train_samples) if self.fec else None

    def distillation_rows(self):
        """Every training face: AffectNet train (labelled), the faces of FEC train triplets, unlabelled faces."""
        parts = [
            self.affectnet_train_rows(),
            fec_face_rows(self.fec["train"], self.args.max_train_samples) if self.fec else None,
            whole_image_rows(self.unlabelled, max_samples=self.args.max_train_samples) if self.unlabelled else None,
        ]
        return concatenate_face_rows(parts)


class PeriodicEvaluator:
    """Metrics on AffectNet validation and FEC test (``--max_eval_samples`` rows each) during training."""

    def __init__(self, corpora: CorpusSplits, processor: Any, args: TrainingLoopArguments, accelerator: Any) -> None:
        self.processor = processor
        self.accelerator = accelerator
        self.args = args
        self.affectnet = sample_rows(corpora.affectnet["validation"], args.max_eval_samples, args.seed) if corpora.affectnet else None
        self.fec = sample_rows(corpora.fec["test"], args.max_eval_samples, args.seed) if corpora.fec else None
        if self.affectnet is not None and len(self.affectnet) == 0:
            self.affectnet = None
        if self.fec is not None and len(self.fec) == 0:
            self.fec = None

    def __call__(self, model: Any) -> dict[str, float]:
        from .evaluation import evaluate_affectnet, evaluate_fec

        common = {
            "batch_size": self.args.per_device_eval_batch_size,
            "accelerator": self.accelerator,
            "num_workers": self.args.dataloader_num_workers,
        }
        results: dict[str, float] = {}
        if self.affectnet is not None:
            results.update(evaluate_affectnet(model, self.processor, self.affectnet, **common)[0])
        if self.fec is not None:
            results.update(evaluate_fec(model, self.processor, self.fec, **common))
        return results


def final_evaluation(
    model: Any, processor: Any, data_args: DataArguments, args: TrainingLoopArguments, accelerator: Any
) -> dict[str, Any]:
    """Every metric the corpora allow (RAF-DB linear probe included), as ``eval_results.json`` keys."""
    from .evaluation import evaluate_corpora

    if not (data_args.affectnet_dir or data_args.fec_dir or data_args.rafdb_dir):
        return {}
    return evaluate_corpora(accelerator.unwrap_model(model), processor, data_args, args, accelerator)


__all__ = [
    "CorpusSplits",
    "PeriodicEvaluator",
    "backbone_normalisation",
    "build_model",
    "build_processor",
    "final_evaluation",
]

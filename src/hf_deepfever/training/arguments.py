"""Command-line arguments of the training scripts, as dataclasses for ``transformers.HfArgumentParser``.

Field names follow ``transformers.TrainingArguments`` where one exists (``--output_dir``, ``--max_steps``,
``--per_device_train_batch_size`` ...), so users can carry their habits over. Every field has a help
string: ``python training_scripts/<script>.py --help`` is the reference.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from transformers import HfArgumentParser


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class TrainingLoopArguments:
    """The optimisation loop: batch sizes, schedule, precision, checkpoints, evaluation and logging."""

    output_dir: str = _help("Folder for the final Hub-ready model, checkpoints/, logs and eval_results.json.")
    max_steps: int = _help("Total optimizer steps; overrides --num_train_epochs when > 0.", default=-1)
    num_train_epochs: float = _help("Passes over the main training set (used when --max_steps <= 0).", default=3.0)
    per_device_train_batch_size: int = _help(
        "Training images per device per micro-batch. Global batch = this x processes x accumulation steps.",
        default=32,
    )
    per_device_eval_batch_size: int = _help("Images per device per evaluation batch.", default=64)
    learning_rate: float = _help("Peak AdamW learning rate (after warm-up).", default=2e-4)
    weight_decay: float = _help("AdamW weight decay (not applied to biases and norm layers).", default=0.05)
    max_grad_norm: float = _help("Clip the global gradient norm to this value (0 disables clipping).", default=1.0)
    lr_scheduler_type: str = _help(
        "Learning-rate schedule after warm-up: cosine, linear or constant_with_warmup.", default="cosine"
    )
    warmup_steps: int = _help("Optimizer steps of linear learning-rate warm-up.", default=500)
    seed: int = _help("Seed for weights, data order and augmentation (same seed, same run).", default=42)
    mixed_precision: str = _help(
        "no, fp16, bf16, or auto (bf16 on a CUDA GPU that supports it, otherwise no).", default="auto"
    )
    gradient_accumulation_steps: int = _help("Micro-batches accumulated per optimizer step.", default=1)
    checkpointing_steps: str = _help(
        "Save a resumable checkpoint every N optimizer steps, or 'epoch', or 'no'.", default="1000"
    )
    save_total_limit: int = _help("Keep only the newest N checkpoints (0 keeps all).", default=2)
    resume_from_checkpoint: str | None = _help(
        "Resume from 'latest' (newest complete checkpoint in OUTPUT_DIR/checkpoints) or a checkpoint folder.",
        default=None,
    )
    eval_steps: int = _help("Evaluate every N optimizer steps (0: only at the end of training).", default=1000)
    max_eval_samples: int | None = _help("Evaluate on at most this many rows of each evaluation set.", default=None)
    dataloader_num_workers: int = _help(
        "DataLoader worker processes per device (image decoding, augmentation); default min(4, cores - 1), which "
        "leaves a core to the training step.",
        default=min(4, max(1, (os.cpu_count() or 1) - 1)),
    )
    report_to: str = _help("Experiment tracker through Accelerate: tensorboard or none.", default="none")
    logging_steps: int = _help("Log losses and learning rate every N optimizer steps.", default=50)
    augment: bool = _help(
        "Augment training face crops (flip, small rotation/scale/translation, colour jitter); --no_augment disables.",
        default=True,
    )

    def __post_init__(self) -> None:
        if self.per_device_train_batch_size < 1 or self.per_device_eval_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.gradient_accumulation_steps < 1:
            raise ValueError(f"--gradient_accumulation_steps must be >= 1, got {self.gradient_accumulation_steps}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("give --max_steps > 0 or --num_train_epochs > 0")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise ValueError(f"--mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}")
        if self.report_to not in ("none", "tensorboard"):
            raise ValueError(f"--report_to must be tensorboard or none, got {self.report_to!r}")
        if self.lr_scheduler_type not in ("cosine", "linear", "constant_with_warmup"):
            raise ValueError(f"--lr_scheduler_type must be cosine, linear or constant_with_warmup, got {self.lr_scheduler_type!r}")
        if self.checkpointing_steps not in ("epoch", "no") and not (
            self.checkpointing_steps.isdigit() and int(self.checkpointing_steps) > 0
        ):
            raise ValueError(f"--checkpointing_steps must be a positive integer, 'epoch' or 'no', got {self.checkpointing_steps!r}")
        if self.logging_steps < 1:
            raise ValueError(f"--logging_steps must be >= 1, got {self.logging_steps}")


@dataclass
class DataArguments:
    """Where the corpora are (each in its publisher's layout) and how much of them to use."""

    affectnet_dir: str | None = _help("AffectNet root (Manually_Annotated_file_lists/ + Manually_Annotated_Images/).", default=None)
    affectnet_protocol: int = _help("AffectNet classes to keep: 8 (with contempt) or 7.", default=8)
    fec_dir: str | None = _help("Google FEC root (FEC_dataset/*.csv + images/); adds FEC triplets/faces.", default=None)
    fec_images_dir: str | None = _help("FEC images folder when it is not FEC_DIR/images.", default=None)
    rafdb_dir: str | None = _help(
        "RAF-DB root; when given, the final evaluation adds a linear probe of the frozen vectors (transfer).",
        default=None,
    )
    unlabelled_dir: str | None = _help("Folder of extra unlabelled face images (distillation only).", default=None)
    max_train_samples: int | None = _help("Use at most this many rows of each training corpus (debugging).", default=None)


@dataclass
class ModelArguments:
    """The DeepFEVER model that is trained (the teacher in train_teacher.py, the student in distill.py)."""

    backbone: str = _help("timm architecture of the backbone.", default="efficientnet_b0")
    backbone_pretrained: bool = _help(
        "Start the backbone from timm's pretrained (ImageNet) weights (downloads them once through timm).",
        default=True,
    )
    image_size: int = _help("Side of the square face crop in pixels.", default=224)
    embedding_dim: int = _help("Size of the L2-normalised expression vector.", default=64)
    crop_margin: float = _help("Context kept around the face box, as a fraction of its longer side.", default=0.1)
    align_faces: bool = _help(
        "Rotate each face crop so the eyes are level, for faces with landmarks (AffectNet's 68 points; detectors' "
        "5); saved as the processor's align_faces, so inference crops the same way. --no_align_faces disables.",
        default=True,
    )
    drop_path_rate: float = _help("Stochastic depth of the backbone.", default=0.0)
    teacher: str | None = _help(
        "Distillation: the teacher, a saved DeepFEVER folder or Hub id (its own processor is used for its inputs).",
        default=None,
    )


def to_json_dict(*argument_groups: Any) -> dict[str, Any]:
    """Merge argument dataclasses into one JSON-serialisable dict (written as training_args.json)."""
    merged: dict[str, Any] = {}
    for group in argument_groups:
        merged.update(asdict(group))
    return json.loads(json.dumps(merged, default=str))


def parse_arguments(
    dataclass_types: Sequence[type],
    argv: Sequence[str] | None = None,
    *,
    description: str | None = None,
    defaults: dict[str, Any] | None = None,
) -> tuple[Any, ...]:
    """Parse ``argv`` (default: ``sys.argv[1:]``) into one instance per dataclass.

    ``defaults`` overrides field defaults per script (e.g. the teacher's bigger backbone); unknown
    arguments are an error that names them.
    """
    parser = HfArgumentParser(dataclass_types, description=description)
    if defaults:
        parser.set_defaults(**defaults)
    return tuple(parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None))


def __getattr__(name: str) -> Any:
    # 0.1 called the loop's arguments TrainingArguments, which shadowed transformers' class of that name.
    if name == "TrainingArguments":
        warnings.warn(
            "hf_deepfever.training.arguments.TrainingArguments is now TrainingLoopArguments", DeprecationWarning, stacklevel=2
        )
        return TrainingLoopArguments
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DataArguments", "ModelArguments", "TrainingLoopArguments", "parse_arguments", "to_json_dict"]

"""DeepFEVER configuration.

This file travels to the Hub as remote code: it imports only ``transformers``.
"""

from __future__ import annotations

import sys
from typing import Any

from transformers import PreTrainedConfig

# AffectNet's own order: label id i in AffectNet's CSVs is AFFECTNET_EXPRESSIONS[i].
AFFECTNET_EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")

# Order of the last dimension of `valence_arousal` (the package's `core.vocabulary.VALENCE_AROUSAL`).
VALENCE_AROUSAL = ("valence", "arousal")

VALENCE_AROUSAL_LOSSES = ("ccc", "mse")


def _pipelines_not_served_here(custom_pipelines: dict[str, Any]) -> dict[str, Any]:
    """The ``custom_pipelines`` entries this process does not already provide.

    With hf_deepfever installed, the package registers its pipelines itself and transformers would otherwise
    demand ``trust_remote_code`` for the declared copy; remote-code users (no package) keep the entries.
    """
    registry = getattr(sys.modules.get("transformers.pipelines"), "PIPELINE_REGISTRY", None)
    if registry is None:
        return dict(custom_pipelines)
    kept = {}
    for task, info in custom_pipelines.items():
        served = registry.supported_tasks.get(task, {}).get("impl")
        declared = str(info.get("impl", "")).rsplit(".", 1)[-1] if isinstance(info, dict) else None
        if served is None or getattr(served, "__name__", None) != declared:
            kept[task] = info
    return kept


class DeepFeverConfig(PreTrainedConfig):
    r"""
    Configuration of a DeepFEVER expression-vector extractor and its expression / valence-arousal heads.

    Args:
        backbone (`str`, *optional*, defaults to `"efficientnet_b0"`):
            Any `timm` architecture name. The backbone is created with `num_classes=0` (pooled features).
        backbone_pretrained (`bool`, *optional*, defaults to `False`):
            Whether a training run that starts a NEW model initialises the backbone from timm's pretrained weights
            (see [`DeepFeverPreTrainedModel.load_backbone_pretrained_weights`]). Never used by `from_pretrained`,
            which always loads the saved weights and downloads nothing else.
        backbone_kwargs (`dict`, *optional*):
            Extra keyword arguments for `timm.create_model` (e.g. `{"in_chans": 3}`).
        embedding_dim (`int`, *optional*, defaults to 64):
            Size of the L2-normalised expression vector.
        image_size (`int`, *optional*, defaults to 224):
            Side of the square face crop the backbone expects.
        drop_rate (`float`, *optional*, defaults to 0.0):
            Dropout before the backbone's pooled output (timm's `drop_rate`).
        drop_path_rate (`float`, *optional*, defaults to 0.0):
            Stochastic depth of the backbone (timm's `drop_path_rate`).
        projection_dropout (`float`, *optional*, defaults to 0.1):
            Dropout between the pooled features and the projection to the expression vector.
        head_hidden_dim (`int`, *optional*, defaults to 128):
            Width of the small MLPs that map the expression vector to logits and to valence/arousal.
        head_dropout (`float`, *optional*, defaults to 0.1):
            Dropout inside the heads.
        valence_arousal_loss (`str`, *optional*, defaults to `"ccc"`):
            Valence/arousal term of the loss [`DeepFeverForExpressionRecognition`] returns: `"ccc"`, 1 - Lin's
            concordance correlation per dimension averaged over the two (what the training recipes optimise, as in
            the paper; a batch statistic: a dimension with fewer than two targets in the batch contributes 0), or
            `"mse"`, the mean squared error over the finite targets.
        valence_arousal_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the valence/arousal term in that loss.
        expression_class_weights (`list[float]`, *optional*):
            One weight per expression for the cross-entropy (the recipes' inverse-frequency weights for AffectNet's
            imbalance); `None` weighs every class alike. Used by single-label classification and, per class, by
            multi-label classification; not allowed with `problem_type="regression"`.
        id2label / label2id (`dict`, *optional*):
            Expression names; default: AffectNet's 8 expressions in AffectNet order.
        num_labels (`int`, *optional*):
            Number of expressions when `id2label` is not given: 8 gives AffectNet's names, any other number the
            generic `LABEL_0` ... names (as for every transformers config).
        problem_type (`str`, *optional*):
            transformers' loss convention for `labels`: `"single_label_classification"` (expression ids;
            class-weighted cross-entropy), `"multi_label_classification"` (multi-hot float targets;
            binary cross-entropy with logits) or `"regression"` (float targets; mean squared error on the logits).
            `None` infers it from `labels` like transformers does (one label: regression; integer labels: single-label;
            otherwise multi-label). The valence/arousal term is added in every case.

    The loss [`DeepFeverForExpressionRecognition`] returns for `labels` and `valence_arousal` targets is the one the
    training recipes optimise: expression term + `valence_arousal_loss_weight` x valence/arousal term.
    """

    model_type = "deepfever"

    def __init__(
        self,
        backbone: str = "efficientnet_b0",
        backbone_pretrained: bool = False,
        backbone_kwargs: dict[str, Any] | None = None,
        embedding_dim: int = 64,
        image_size: int = 224,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        projection_dropout: float = 0.1,
        head_hidden_dim: int = 128,
        head_dropout: float = 0.1,
        valence_arousal_loss: str = "ccc",
        valence_arousal_loss_weight: float = 1.0,
        expression_class_weights: list[float] | None = None,
        id2label: dict[int, str] | None = None,
        label2id: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8 pixels, got {image_size}")
        if valence_arousal_loss not in VALENCE_AROUSAL_LOSSES:
            raise ValueError(f"valence_arousal_loss must be one of {VALENCE_AROUSAL_LOSSES}, got {valence_arousal_loss!r}")
        num_labels = kwargs.get("num_labels")
        if id2label is None and num_labels in (None, len(AFFECTNET_EXPRESSIONS)):
            id2label = dict(enumerate(AFFECTNET_EXPRESSIONS))
        if id2label is not None:
            # JSON turns int keys into strings: normalise so both directions stay consistent.
            id2label = {int(index): str(name) for index, name in id2label.items()}
            if label2id is None:
                label2id = {name: index for index, name in id2label.items()}
        # Otherwise transformers names `num_labels` generic labels (LABEL_0 ...), as for any config.
        if expression_class_weights is not None:
            expression_class_weights = [float(weight) for weight in expression_class_weights]
            expected = len(id2label) if id2label is not None else num_labels
            if len(expression_class_weights) != expected or min(expression_class_weights) < 0:
                raise ValueError(
                    f"expression_class_weights must hold {expected} non-negative weights (one per expression), "
                    f"got {expression_class_weights}"
                )

        self.backbone = backbone
        self.backbone_pretrained = backbone_pretrained
        self.backbone_kwargs = dict(backbone_kwargs or {})
        self.embedding_dim = embedding_dim
        self.image_size = image_size
        self.drop_rate = drop_rate
        self.drop_path_rate = drop_path_rate
        self.projection_dropout = projection_dropout
        self.head_hidden_dim = head_hidden_dim
        self.head_dropout = head_dropout
        self.valence_arousal_loss = valence_arousal_loss
        self.valence_arousal_loss_weight = valence_arousal_loss_weight
        self.expression_class_weights = expression_class_weights
        if kwargs.get("custom_pipelines"):
            kept = _pipelines_not_served_here(kwargs.pop("custom_pipelines"))
            if kept:
                kwargs["custom_pipelines"] = kept
        super().__init__(id2label=id2label, label2id=label2id, **kwargs)


__all__ = ["AFFECTNET_EXPRESSIONS", "VALENCE_AROUSAL", "VALENCE_AROUSAL_LOSSES", "DeepFeverConfig"]

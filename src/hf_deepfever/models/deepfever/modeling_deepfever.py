"""DeepFEVER: a timm backbone that turns a face crop into a compact, L2-normalised expression vector,
plus heads for AffectNet's 8 expressions and valence/arousal.

This file travels to the Hub as remote code: it imports only torch, timm, transformers and its own
configuration (relative import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import timm
import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

from .configuration_deepfever import DeepFeverConfig

# Written into config.auto_map on save so that one saved folder serves every Auto class via remote code.
_AUTO_MAP = {
    "AutoConfig": "configuration_deepfever.DeepFeverConfig",
    "AutoModel": "modeling_deepfever.DeepFeverModel",
    "AutoModelForImageClassification": "modeling_deepfever.DeepFeverForExpressionRecognition",
}


@dataclass
class DeepFeverExpressionOutput(ModelOutput):
    """
    Output of [`DeepFeverForExpressionRecognition`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Cross-entropy on the expressions plus the weighted valence/arousal regression loss, over the targets given.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Expression logits (AffectNet order by default).
        valence_arousal (`torch.FloatTensor` of shape `(batch_size, 2)`):
            Valence and arousal in [-1, 1].
        pooler_output (`torch.FloatTensor` of shape `(batch_size, embedding_dim)`):
            The L2-normalised expression vector (same as [`DeepFeverModel`]'s `pooler_output`).
        last_hidden_state (`torch.FloatTensor`):
            The backbone's final feature map.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    valence_arousal: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


def _check_pixel_values(pixel_values: Any, image_size: int) -> None:
    """Turn the usual input mistakes into errors that say what to do instead."""
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(
            f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}; "
            "use DeepFeverImageProcessor(images, return_tensors='pt')"
        )
    if not pixel_values.is_floating_point():
        raise TypeError(
            f"pixel_values must be a floating-point tensor (normalised pixels), got dtype {pixel_values.dtype}; "
            "run the image processor first"
        )
    if pixel_values.ndim != 4 or pixel_values.shape[1] != 3:
        raise ValueError(
            "pixel_values must have shape (batch, 3, height, width), got "
            f"{tuple(pixel_values.shape)} (expected height = width = {image_size})"
        )
    if pixel_values.shape[0] == 0:
        raise ValueError("pixel_values holds an empty batch")


class DeepFeverProjection(nn.Module):
    """Pooled backbone features -> L2-normalised expression vector."""

    def __init__(self, in_features: int, embedding_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, embedding_dim)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(self.dropout(pooled)), dim=-1)


class DeepFeverHeads(nn.Module):
    """Expression logits and valence/arousal, both computed from the expression vector."""

    def __init__(self, config: DeepFeverConfig) -> None:
        super().__init__()
        hidden, dropout = config.head_hidden_dim, config.head_dropout
        self.expression = _mlp(config.embedding_dim, hidden, config.num_labels, dropout)
        self.valence_arousal = _mlp(config.embedding_dim, hidden, 2, dropout)

    def forward(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.expression(vector), torch.tanh(self.valence_arousal(vector))


class DeepFeverPreTrainedModel(PreTrainedModel):
    config_class = DeepFeverConfig
    base_model_prefix = "deepfever"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True

    def _init_weights(self, module: nn.Module) -> None:
        # Only our own layers: the default would re-initialise every conv/norm of the timm backbone,
        # wiping timm's init and any pretrained backbone weights.
        if isinstance(module, (DeepFeverProjection, DeepFeverHeads)):
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.trunc_normal_(layer.weight, std=0.02)
                    nn.init.zeros_(layer.bias)
        elif hasattr(module, "init_non_persistent_buffers"):
            # timm models with computed buffers (e.g. relative-position tables) are not in the checkpoint.
            module.init_non_persistent_buffers()

    def _set_gradient_checkpointing(self, enable: bool = True, gradient_checkpointing_func: Any = None, **_: Any):
        # timm knows where its blocks are; delegate instead of wrapping modules ourselves.
        self.base_model.backbone.set_grad_checkpointing(enable)

    def load_backbone_pretrained_weights(self) -> None:
        """Copy timm's pretrained weights for `config.backbone` into the backbone (downloads through timm).

        Training scripts call this when starting a new model with `config.backbone_pretrained=True`;
        `from_pretrained` never does.
        """
        pretrained = timm.create_model(self.config.backbone, pretrained=True, num_classes=0, **self.config.backbone_kwargs)
        self.base_model.backbone.load_state_dict(pretrained.state_dict())

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> None:
        # One folder, every Auto class: AutoModel and AutoModelForImageClassification both resolve via remote code.
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **_AUTO_MAP}
        super().save_pretrained(save_directory, *args, **kwargs)


class DeepFeverModel(DeepFeverPreTrainedModel):
    """The expression-vector extractor: `pooler_output` is the L2-normalised expression vector."""

    # Loading a checkpoint saved with heads into the bare extractor simply leaves the heads out.
    _keys_to_ignore_on_load_unexpected = [r"^heads\."]

    def __init__(self, config: DeepFeverConfig) -> None:
        super().__init__(config)
        # Never pretrained here: from_pretrained must not download anything (see load_backbone_pretrained_weights).
        self.backbone = timm.create_model(
            config.backbone,
            pretrained=False,
            num_classes=0,
            drop_rate=config.drop_rate,
            drop_path_rate=config.drop_path_rate,
            **config.backbone_kwargs,
        )
        pooled_dim = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.projection = DeepFeverProjection(pooled_dim, config.embedding_dim, config.projection_dropout)
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, return_dict: bool | None = None, **kwargs: Any
    ) -> BaseModelOutputWithPooling | tuple[torch.Tensor, ...]:
        _check_pixel_values(pixel_values, self.config.image_size)
        pixel_values = pixel_values.to(dtype=self.dtype)
        feature_map = self.backbone.forward_features(pixel_values)
        pooled = self.backbone.forward_head(feature_map, pre_logits=True)
        vector = self.projection(pooled)
        if return_dict is False:
            return (feature_map, vector)
        return BaseModelOutputWithPooling(last_hidden_state=feature_map, pooler_output=vector)


def concordance_correlation(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lin's concordance correlation coefficient per last-dimension column, and the rows it was computed over.

    ``CCC = 2·cov(p, t) / (var(p) + var(t) + (mean(p) - mean(t))² + eps)`` with population (1/N) moments.
    ``pred``, ``target``: ``(..., D)`` (a 1-D input is one column); a row counts in a column when its target
    is finite and, if given, ``mask`` (``(...)``, True = real) is True. Invalid rows never enter the
    arithmetic, so NaN labels or padding cannot leak into values or gradients. Computed in float64 for
    float64 inputs, else float32.

    Returns ``(ccc, count)``, both ``(D,)``: ``ccc`` is NaN in a column with fewer than two valid rows, and
    1 where the denominator is zero (both series constant and equal: they agree exactly).
    """
    dtype = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    columns = pred.shape[-1] if pred.dim() > 1 else 1
    pred = pred.to(dtype).reshape(-1, columns)
    target = target.to(device=pred.device, dtype=dtype).reshape(-1, columns)
    valid = torch.isfinite(target)
    if mask is not None:
        if mask.numel() != pred.shape[0]:
            raise ValueError(f"mask has {mask.numel()} entries for {pred.shape[0]} rows")
        valid = valid & mask.reshape(-1, 1).to(device=pred.device, dtype=torch.bool)
    weight = valid.to(dtype)
    count = weight.sum(0)
    safe_count = count.clamp(min=1.0)
    pred = torch.where(valid, pred, torch.zeros_like(pred))
    target = torch.where(valid, target, torch.zeros_like(target))
    pred_mean = pred.sum(0) / safe_count
    target_mean = target.sum(0) / safe_count
    pred_centred = (pred - pred_mean) * weight
    target_centred = (target - target_mean) * weight
    covariance = (pred_centred * target_centred).sum(0) / safe_count
    denominator = (pred_centred.pow(2).sum(0) + target_centred.pow(2).sum(0)) / safe_count
    denominator = denominator + (pred_mean - target_mean).pow(2) + eps
    ccc = torch.where(denominator > 0, 2 * covariance / denominator.clamp(min=torch.finfo(dtype).tiny), torch.ones_like(covariance))
    return torch.where(count >= 2, ccc, torch.full_like(ccc, float("nan"))), count


def ccc_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-8, reduction: str = "mean"
) -> torch.Tensor:
    """``1 - CCC`` per column (see :func:`concordance_correlation`), for training.

    ``reduction="mean"``: the mean over the columns with at least two valid targets, a float32 scalar; 0 (still
    connected to the graph, with a zero gradient) when no column has. ``"none"``: the ``(D,)`` values, 0 where
    a column has too few targets. Never NaN, whatever the targets.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
    ccc, count = concordance_correlation(pred, target, mask, eps)
    usable = count >= 2
    per_column = torch.where(usable, 1.0 - ccc, torch.zeros_like(ccc)).float()
    if reduction == "none":
        return per_column
    return per_column.sum() / usable.sum().clamp(min=1).to(per_column.dtype)


def expression_recognition_loss(
    logits: torch.Tensor,
    valence_arousal: torch.Tensor,
    labels: torch.Tensor | None,
    valence_arousal_targets: torch.Tensor | None,
    valence_arousal_weight: float = 1.0,
) -> torch.Tensor:
    """Cross-entropy over valid labels (>= 0) + weighted MSE over finite valence/arousal targets.

    A kind of target absent from the whole batch contributes exactly zero (with a defined gradient).
    """
    loss = logits.new_zeros((), dtype=torch.float32)
    if labels is not None:
        labels = labels.to(logits.device).long()
        valid = labels >= 0
        if valid.any():
            loss = loss + F.cross_entropy(logits[valid].float(), labels[valid])
    if valence_arousal_targets is not None:
        targets = valence_arousal_targets.to(valence_arousal.device, torch.float32)
        valid = torch.isfinite(targets)
        if valid.any():
            loss = loss + valence_arousal_weight * F.mse_loss(valence_arousal.float()[valid], targets[valid])
    return loss


class DeepFeverForExpressionRecognition(DeepFeverPreTrainedModel):
    """DeepFEVER with its heads: 8 AffectNet expression logits and valence/arousal in [-1, 1]."""

    def __init__(self, config: DeepFeverConfig) -> None:
        super().__init__(config)
        self.deepfever = DeepFeverModel(config)
        self.heads = DeepFeverHeads(config)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        valence_arousal: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> DeepFeverExpressionOutput | tuple[torch.Tensor, ...]:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Expression ids; negative values (e.g. -100) mark rows without an expression label.
        valence_arousal (`torch.FloatTensor` of shape `(batch_size, 2)`, *optional*):
            Valence/arousal targets; NaN marks a missing value.
        """
        base = self.deepfever(pixel_values)
        logits, predicted_va = self.heads(base.pooler_output)
        loss = None
        if labels is not None or valence_arousal is not None:
            if valence_arousal is not None and tuple(valence_arousal.shape) != tuple(predicted_va.shape):
                raise ValueError(
                    f"valence_arousal targets must have shape {tuple(predicted_va.shape)}, got {tuple(valence_arousal.shape)}"
                )
            loss = expression_recognition_loss(
                logits, predicted_va, labels, valence_arousal, self.config.valence_arousal_loss_weight
            )
        output = DeepFeverExpressionOutput(
            loss=loss,
            logits=logits,
            valence_arousal=predicted_va,
            pooler_output=base.pooler_output,
            last_hidden_state=base.last_hidden_state,
        )
        return output if return_dict is not False else output.to_tuple()


DeepFeverConfig.register_for_auto_class()
DeepFeverModel.register_for_auto_class("AutoModel")
DeepFeverForExpressionRecognition.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "DeepFeverExpressionOutput",
    "ccc_loss",
    "concordance_correlation",
    "DeepFeverForExpressionRecognition",
    "DeepFeverModel",
    "DeepFeverPreTrainedModel",
    "expression_recognition_loss",
]

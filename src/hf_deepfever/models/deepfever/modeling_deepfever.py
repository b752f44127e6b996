"""DeepFEVER: a timm backbone that turns a face crop into a compact, L2-normalised expression vector,
plus heads for AffectNet's 8 expressions and valence/arousal.

This file travels to the Hub as remote code: it imports only torch, timm, transformers and its own
configuration (relative import).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import timm
import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

from .configuration_deepfever import VALENCE_AROUSAL, DeepFeverConfig

# Written into config.auto_map on save so that one saved folder serves every Auto class via remote code.
_AUTO_MAP = {
    "AutoConfig": "configuration_deepfever.DeepFeverConfig",
    "AutoModel": "modeling_deepfever.DeepFeverModel",
    "AutoModelForImageClassification": "modeling_deepfever.DeepFeverForExpressionRecognition",
}

PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


@dataclass
class DeepFeverExpressionOutput(ModelOutput):
    """
    Output of [`DeepFeverForExpressionRecognition`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            The recipes' objective over the targets given: the expression term (class-weighted cross-entropy by
            default, see `problem_type`) plus `valence_arousal_loss_weight` times the valence/arousal term
            (`valence_arousal_loss`: 1 - CCC by default). See [`expression_recognition_loss`].
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Expression logits (AffectNet order by default).
        valence_arousal (`torch.FloatTensor` of shape `(batch_size, 2)`):
            `[..., 0]` valence, `[..., 1]` arousal, in [-1, 1].
        pooler_output (`torch.FloatTensor` of shape `(batch_size, embedding_dim)`):
            The L2-normalised expression vector (same as [`DeepFeverModel`]'s `pooler_output`).
        last_hidden_state (`torch.FloatTensor`):
            The backbone's final feature map.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned with `output_hidden_states`):
            The backbone's feature map after each stage (see [`DeepFeverModel`]).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    valence_arousal: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


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


def _reject_attentions(output_attentions: Any) -> None:
    if output_attentions:
        raise ValueError("DeepFEVER has no attention maps to return: call it without output_attentions")


@cache
def _checkpointing_class(stage_class: type[nn.Module]) -> type[nn.Module]:
    """`stage_class` made a `GradientCheckpointingLayer`: same module, same weights, checkpointable forward."""
    return type(
        stage_class.__name__,
        (stage_class, GradientCheckpointingLayer),
        {"__module__": __name__, "__qualname__": f"checkpointing.{stage_class.__qualname__}", "__reduce_ex__": _reduce_stage},
    )


def _rebuild_stage(stage_class: type[nn.Module]) -> nn.Module:
    checkpointing = _checkpointing_class(stage_class)
    return checkpointing.__new__(checkpointing)


def _reduce_stage(stage: nn.Module, protocol: int) -> tuple:
    # Pickled (and deep-copied) through the timm class it wraps, which is importable by name.
    return _rebuild_stage, (type(stage).__mro__[1],), stage.__getstate__()


def make_stages_checkpointable(backbone: nn.Module) -> list[str]:
    """Turn the backbone's stages (timm's `feature_info` modules that hold weights) into gradient-checkpointing
    layers, in place; returns their names.

    Each stage keeps its class's behaviour, its parameters and its state-dict keys; it also becomes a
    [`~transformers.modeling_layers.GradientCheckpointingLayer`], so transformers' `activation_checkpointing_enable`
    (and the deprecated `gradient_checkpointing_enable`) switches it on with the function and options the user
    asked for, and `is_activation_checkpointing` reports it.
    """
    names: list[str] = []
    for info in getattr(backbone, "feature_info", None) or []:
        name = info.get("module") if isinstance(info, dict) else None
        if not name or any(name == kept or name.startswith(f"{kept}.") or kept.startswith(f"{name}.") for kept in names):
            continue  # a stage inside (or around) one already chosen: checkpoint each part of the graph once
        try:
            stage = backbone.get_submodule(name)
        except AttributeError:
            continue
        if isinstance(stage, GradientCheckpointingLayer) or next(stage.parameters(), None) is None:
            continue
        # Not a wrapper module: that would change every state-dict key below it (saved checkpoints, timm's
        # pretrained weights). A subclass of the stage's own class keeps them.
        stage.__class__ = _checkpointing_class(type(stage))
        names.append(name)
    return names


def _create_backbone(config: DeepFeverConfig) -> nn.Module:
    # Never pretrained here: from_pretrained must not download anything (see load_backbone_pretrained_weights).
    return timm.create_model(
        config.backbone,
        pretrained=False,
        num_classes=0,
        drop_rate=config.drop_rate,
        drop_path_rate=config.drop_path_rate,
        **config.backbone_kwargs,
    )


class DeepFeverProjection(nn.Module):
    """Pooled backbone features -> L2-normalised expression vector."""

    def __init__(self, in_features: int, embedding_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, embedding_dim)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(self.dropout(pooled)), dim=-1)


class DeepFeverHeads(nn.Module):
    """Expression logits and (valence, arousal), both computed from the expression vector."""

    def __init__(self, config: DeepFeverConfig) -> None:
        super().__init__()
        hidden, dropout = config.head_hidden_dim, config.head_dropout
        self.expression = _mlp(config.embedding_dim, hidden, config.num_labels, dropout)
        self.valence_arousal = _mlp(config.embedding_dim, hidden, len(VALENCE_AROUSAL), dropout)

    def forward(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.expression(vector), torch.tanh(self.valence_arousal(vector))


class ReleasesTimmReferences:
    """Mixin of both families' `PreTrainedModel`: initialising weights builds reference timm backbones (see
    `DeepFeverPreTrainedModel._init_weights`), dropped once every module is initialised, even when it fails."""

    @torch.no_grad()
    def initialize_weights(self) -> None:
        try:
            super().initialize_weights()  # type: ignore[misc]
        finally:
            release_timm_references(self)  # type: ignore[arg-type]


class DeepFeverPreTrainedModel(ReleasesTimmReferences, PreTrainedModel):
    config_class = DeepFeverConfig
    base_model_prefix = "deepfever"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    # The loss is a mean over the batch's own targets; Trainer must not pass `num_items_in_batch`.
    accepts_loss_kwargs = False

    def _init_weights(self, module: nn.Module) -> None:
        """Initialise `module`'s own parameters and buffers (transformers skips those a checkpoint loaded).

        Backbone modules get exactly what timm would give them in a freshly created backbone (timm's own,
        architecture-specific init and buffers, see `DeepFeverModel._timm_reference`), so a new model keeps timm's
        init and a checkpoint that lacks some backbone keys gets sound values for them. Our linear layers get
        PyTorch's default init (`reset_parameters`, through transformers' guarded init functions).
        """
        reference_name = self._backbone_module_names().get(id(module)) if isinstance(self, DeepFeverModel) else None
        if reference_name is not None:
            reference = self._timm_reference()
            prefix = f"{reference_name}." if reference_name else ""
            for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
                if tensor is not None:
                    init.copy_(tensor, reference[prefix + name])
        elif isinstance(module, nn.Linear):
            module.reset_parameters()  # torch.nn.init calls: loaded tensors are skipped under transformers' guard

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
        if "heads" in self._modules:  # only a model with expression heads serves pipeline("face-expression")
            # Declared for remote-code users; this relative import also makes save_pretrained copy the pipeline's
            # file and the files it imports (face_detection_deepfever.py, image_processing_deepfever.py).
            from .pipeline_face_expression import FACE_EXPRESSION_TASK, face_expression_pipeline_entry

            declared = dict(getattr(self.config, "custom_pipelines", None) or {})
            declared[FACE_EXPRESSION_TASK] = face_expression_pipeline_entry()
            self.config.custom_pipelines = declared
        super().save_pretrained(save_directory, *args, **kwargs)


def release_timm_references(model: nn.Module) -> None:
    """Drop the reference backbones `_init_weights` built for every `DeepFeverModel` inside `model`."""
    for module in model.modules():
        if isinstance(module, DeepFeverModel):
            module.__dict__.pop("_timm_reference_state", None)
            module.__dict__.pop("_backbone_names", None)


class DeepFeverModel(DeepFeverPreTrainedModel):
    """The expression-vector extractor: `pooler_output` is the L2-normalised expression vector.

    With `output_hidden_states`, `hidden_states` holds the backbone's feature map after each of its stages (timm's
    `forward_intermediates`, the stages `backbone.feature_info` lists); a list of indices selects some of them
    (e.g. `[-2, -1]`).
    """

    # Loading a checkpoint saved with heads into the bare extractor simply leaves the heads out.
    _keys_to_ignore_on_load_unexpected = [r"^heads\."]

    def __init__(self, config: DeepFeverConfig) -> None:
        super().__init__(config)
        self.backbone = _create_backbone(config)
        self.checkpointing_stages = make_stages_checkpointable(self.backbone)
        self.supports_gradient_checkpointing = bool(self.checkpointing_stages)
        pooled_dim = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.projection = DeepFeverProjection(pooled_dim, config.embedding_dim, config.projection_dropout)
        self.post_init()

    def _backbone_module_names(self) -> dict[int, str]:
        names = self.__dict__.get("_backbone_names")
        if names is None:
            names = {id(module): name for name, module in self.backbone.named_modules()}
            self.__dict__["_backbone_names"] = names
        return names

    def _timm_reference(self) -> dict[str, torch.Tensor]:
        """Parameters and buffers of a freshly created backbone of this config (built once per init pass)."""
        state = self.__dict__.get("_timm_reference_state")
        if state is None:
            with torch.device("cpu"):
                reference = _create_backbone(self.config)
            state = {**dict(reference.named_parameters()), **dict(reference.named_buffers())}
            self.__dict__["_timm_reference_state"] = state
        return state

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | list[int] | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPooling | tuple[torch.Tensor, ...]:
        r"""
        output_hidden_states (`bool` or `list[int]`, *optional*):
            Return the backbone's feature map after each stage (`True`) or after the stages at these indices.
            Defaults to `config.output_hidden_states`.
        """
        _check_pixel_values(pixel_values, self.config.image_size)
        _reject_attentions(output_attentions)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return_dict = self.config.return_dict if return_dict is None else return_dict
        pixel_values = pixel_values.to(dtype=self.dtype)
        hidden_states = None
        if output_hidden_states is not False and output_hidden_states is not None:
            if not hasattr(self.backbone, "forward_intermediates"):
                raise ValueError(f"timm's {self.config.backbone} has no forward_intermediates: it cannot return hidden states")
            indices = None if output_hidden_states is True else list(output_hidden_states)
            feature_map, intermediates = self.backbone.forward_intermediates(pixel_values, indices=indices)
            hidden_states = tuple(intermediates)
        else:
            feature_map = self.backbone.forward_features(pixel_values)
        pooled = self.backbone.forward_head(feature_map, pre_logits=True)
        vector = self.projection(pooled)
        output = BaseModelOutputWithPooling(last_hidden_state=feature_map, pooler_output=vector, hidden_states=hidden_states)
        return output if return_dict else output.to_tuple()


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


def expression_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy on expression logits ``(N, C)`` over the rows with a label, optionally class-weighted.

    ``loss = Σ_i w[y_i]·(-log softmax(logits_i)[y_i]) / Σ_i w[y_i]`` over rows with ``y_i >= 0`` (a negative label,
    e.g. -100, marks a row without one; PyTorch's weighted mean); 0 with a zero gradient when no row has a label.
    Labels must lie below ``C``. Computed in float32.
    """
    labels = labels.reshape(-1).to(device=logits.device).long()
    valid = labels >= 0
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels))
    weights = None if class_weights is None else class_weights.to(device=logits.device, dtype=torch.float32)
    per_row = F.cross_entropy(logits.float(), safe_labels, weight=weights, reduction="none") * valid
    row_weights = valid.float() if weights is None else weights[safe_labels] * valid
    return per_row.sum() / row_weights.sum().clamp(min=torch.finfo(torch.float32).tiny)


def valence_arousal_loss(predicted: torch.Tensor, targets: torch.Tensor, kind: str = "ccc") -> torch.Tensor:
    """The valence/arousal term: ``"ccc"``, :func:`ccc_loss` (1 - CCC per dimension, averaged), or ``"mse"``, the
    mean squared error over the finite targets. NaN targets are ignored; 0 (with a zero gradient) without any."""
    if predicted.shape != targets.shape:
        raise ValueError(f"valence_arousal targets must have shape {tuple(predicted.shape)}, got {tuple(targets.shape)}")
    targets = targets.to(device=predicted.device, dtype=torch.float32)
    if kind == "ccc":
        return ccc_loss(predicted.float(), targets)
    if kind == "mse":
        valid = torch.isfinite(targets)
        error = torch.where(valid, predicted.float() - torch.where(valid, targets, torch.zeros_like(targets)), 0.0)
        return error.pow(2).sum() / valid.sum().clamp(min=1)
    raise ValueError(f"valence_arousal_loss must be 'ccc' or 'mse', got {kind!r}")


def resolve_problem_type(config: DeepFeverConfig, labels: torch.Tensor) -> str:
    """`config.problem_type`, or what transformers infers from the labels when it is unset (without writing it back)."""
    problem_type = config.problem_type
    if problem_type is None:
        if config.num_labels == 1:
            problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int, torch.int16, torch.int8, torch.uint8):
            problem_type = "single_label_classification"
        else:
            problem_type = "multi_label_classification"
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"problem_type must be one of {PROBLEM_TYPES} or None, got {problem_type!r}")
    return problem_type


def expression_loss(logits: torch.Tensor, labels: torch.Tensor, config: DeepFeverConfig) -> torch.Tensor:
    """The expression term for `config.problem_type` (see [`DeepFeverConfig`]), in float32."""
    problem_type = resolve_problem_type(config, labels)
    labels = labels.to(logits.device)
    weights = config.expression_class_weights
    if weights is not None:
        if len(weights) != logits.shape[-1]:
            raise ValueError(f"config.expression_class_weights holds {len(weights)} weights for {logits.shape[-1]} labels")
        weights = torch.tensor(weights, dtype=torch.float32, device=logits.device)
    if problem_type == "single_label_classification":
        return expression_cross_entropy(logits, labels, weights)
    if problem_type == "multi_label_classification":
        if labels.shape != logits.shape:
            raise ValueError(f"multi-label targets must have the logits' shape {tuple(logits.shape)}, got {tuple(labels.shape)}")
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), weight=weights)
    if weights is not None:
        raise ValueError("expression_class_weights do not apply to problem_type='regression'")
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.float().reshape(-1), labels.float().reshape(-1))
    if labels.shape != logits.shape:
        raise ValueError(f"regression targets must have the logits' shape {tuple(logits.shape)}, got {tuple(labels.shape)}")
    return F.mse_loss(logits.float(), labels.float())


def expression_recognition_loss(
    logits: torch.Tensor,
    valence_arousal: torch.Tensor,
    labels: torch.Tensor | None,
    valence_arousal_targets: torch.Tensor | None,
    config: DeepFeverConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss [`DeepFeverForExpressionRecognition`] returns, which is also the training recipes' supervised loss.

    ``loss = expression term + config.valence_arousal_loss_weight * valence/arousal term``, each over the targets
    given (a missing kind contributes nothing; see [`expression_loss`], [`valence_arousal_loss`]).
    Returns ``(loss, terms)`` with ``terms["expression"]`` / ``terms["valence_arousal"]`` for the kinds given.
    """
    terms: dict[str, torch.Tensor] = {}
    loss = logits.new_zeros((), dtype=torch.float32)
    if labels is not None:
        terms["expression"] = expression_loss(logits, labels, config)
        loss = loss + terms["expression"]
    if valence_arousal_targets is not None:
        terms["valence_arousal"] = valence_arousal_loss(valence_arousal, valence_arousal_targets, config.valence_arousal_loss)
        loss = loss + config.valence_arousal_loss_weight * terms["valence_arousal"]
    return loss, terms


class DeepFeverForExpressionRecognition(DeepFeverPreTrainedModel):
    """DeepFEVER with its heads: expression logits (AffectNet's 8 by default) and (valence, arousal) in [-1, 1]."""

    def __init__(self, config: DeepFeverConfig) -> None:
        super().__init__(config)
        self.deepfever = DeepFeverModel(config)
        self.supports_gradient_checkpointing = self.deepfever.supports_gradient_checkpointing
        self.heads = DeepFeverHeads(config)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        valence_arousal: torch.Tensor | None = None,
        output_hidden_states: bool | list[int] | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs: Any,
    ) -> DeepFeverExpressionOutput | tuple[torch.Tensor, ...]:
        r"""
        labels (`torch.Tensor`, *optional*):
            Expression targets, read by `config.problem_type`: by default expression ids `(batch_size,)`, a negative
            value (e.g. -100) marking a row without an expression label.
        valence_arousal (`torch.FloatTensor` of shape `(batch_size, 2)`, *optional*):
            (valence, arousal) targets; NaN marks a missing value.
        output_hidden_states (`bool` or `list[int]`, *optional*):
            Return the backbone's feature map after each stage (see [`DeepFeverModel`]).
        """
        _reject_attentions(output_attentions)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        base = self.deepfever(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits, predicted_va = self.heads(base.pooler_output)
        loss = None
        if labels is not None or valence_arousal is not None:
            loss, _ = expression_recognition_loss(logits, predicted_va, labels, valence_arousal, self.config)
        output = DeepFeverExpressionOutput(
            loss=loss,
            logits=logits,
            valence_arousal=predicted_va,
            pooler_output=base.pooler_output,
            last_hidden_state=base.last_hidden_state,
            hidden_states=base.hidden_states,
        )
        return output if return_dict else output.to_tuple()


DeepFeverConfig.register_for_auto_class()
DeepFeverModel.register_for_auto_class("AutoModel")
DeepFeverForExpressionRecognition.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "DeepFeverExpressionOutput",
    "DeepFeverForExpressionRecognition",
    "DeepFeverModel",
    "DeepFeverPreTrainedModel",
    "ccc_loss",
    "concordance_correlation",
    "expression_cross_entropy",
    "expression_loss",
    "expression_recognition_loss",
    "make_stages_checkpointable",
    "valence_arousal_loss",
]

"""The one way a saved DeepFEVER or DeepFEVER-AV model is loaded with the processor it was trained with.

Every front end (``deepfever extract`` / ``video`` / ``export-onnx``, evaluation, the linear probe, the
distillation teacher, the demo) calls :func:`load_model_and_processor`, so a folder or Hub id behaves the
same everywhere: the same class choice, the same processor, the same errors.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

MODEL_KINDS = ("image", "expression", "extractor", "audio-visual")
"""``image``: a DeepFEVER image model as saved (with its heads when it has them); ``expression``: DeepFEVER with
its heads; ``extractor``: the bare vector extractor (works for any DeepFEVER folder); ``audio-visual``:
DeepFEVER-AV."""

_VISUAL_TYPE, _AV_TYPE = "deepfever", "deepfever-av"


def default_image_processor(image_size: int, **kwargs: Any):
    """The processor a DeepFEVER model of ``image_size`` gets when its folder has none."""
    from ..models.deepfever import DeepFeverImageProcessor

    return DeepFeverImageProcessor(size={"height": image_size, "width": image_size}, **kwargs)


def _resolve_kind(config: Any, kind: str, name: str) -> str:
    model_type = getattr(config, "model_type", None)
    if model_type not in (_VISUAL_TYPE, _AV_TYPE):
        raise ValueError(f"{name} holds a {model_type!r} model, not a DeepFEVER ({_VISUAL_TYPE!r} or {_AV_TYPE!r}) one")
    if (kind == "audio-visual") != (model_type == _AV_TYPE):
        wanted = "a DeepFEVER-AV model (train_av.py)" if kind == "audio-visual" else "a DeepFEVER image model"
        raise ValueError(f"{name} is a {model_type!r} model; this needs {wanted}")
    if kind == "image":
        with_heads = "DeepFeverForExpressionRecognition" in (getattr(config, "architectures", None) or [])
        return "expression" if with_heads else "extractor"
    return kind


def load_model_and_processor(
    name_or_path: str | os.PathLike[str],
    *,
    kind: str = "image",
    device: Any = None,
    dtype: Any = None,
    channels_last: bool = False,
    trust_remote_code: bool = False,
    **hub_kwargs: Any,
) -> tuple[Any, Any]:
    """Load a model (in eval mode) and its processor from a folder or Hub id.

    Args:
        kind: one of :data:`MODEL_KINDS`. A mismatch (e.g. ``"audio-visual"`` for an image model) is a
            ``ValueError`` that says what the folder holds.
        device, dtype: where and in which precision the weights go (default: CPU, as saved).
        channels_last: store convolution weights NHWC (faster for CNN backbones on most hardware).
        trust_remote_code: allow the folder's own model files when this package's classes are not used.

    Returns:
        ``(model, processor)``: a ``DeepFeverImageProcessor`` for image models (the default one at the
        model's ``image_size``, with a warning, when the folder has none) or a ``DeepFeverAVProcessor``.
    """
    from ..models import deepfever  # noqa: F401  (registers the Auto classes)
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification, AutoProcessor

    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
    name = os.fspath(name_or_path)
    options = {"trust_remote_code": trust_remote_code, **hub_kwargs}
    config = AutoConfig.from_pretrained(name, **options)
    kind = _resolve_kind(config, kind, name)
    model_class = AutoModelForImageClassification if kind == "expression" else AutoModel
    load_options = dict(options)
    if dtype is not None:
        load_options["dtype"] = dtype
    if kind == "extractor" and type(config).__name__ == "DeepFeverConfig":
        from ..models.deepfever import DeepFeverModel

        model = DeepFeverModel.from_pretrained(name, **load_options)  # drops the heads of a checkpoint that has them
    else:
        model = model_class.from_pretrained(name, **load_options)
    model = model.eval()
    if device is not None:
        model = model.to(device)
    if channels_last:
        import torch

        model = model.to(memory_format=torch.channels_last)

    if kind == "audio-visual":
        return model, AutoProcessor.from_pretrained(name, **options)
    try:
        processor = AutoImageProcessor.from_pretrained(name, **options)
    except OSError:
        side = model.config.image_size
        logger.warning("%s has no image processor config; using the default one at %dx%d", name, side, side)
        processor = default_image_processor(side)
    return model, processor


__all__ = ["MODEL_KINDS", "default_image_processor", "load_model_and_processor"]

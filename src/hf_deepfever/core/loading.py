"""The one way a saved DeepFEVER or DeepFEVER-AV model is loaded with the processor it was trained with.

Every front end (``deepfever extract`` / ``video`` / ``export-onnx``, evaluation, the linear probe, the
distillation teacher, the demo) calls :func:`load_model_and_processor`, so a folder or Hub id behaves the
same everywhere: the same class choice, the same processor, the same errors.

Weights are safetensors only: a folder holding only pickle-format weights is refused (a pickle can run code
when loaded) and a corrupt or truncated safetensors file is named, both before transformers reads anything.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .files import JSON_MAX_BYTES, read_regular_text

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight files in a pickle-based format: never loaded, never published."""
WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"

MODEL_KINDS = ("image", "expression", "extractor", "audio-visual")
"""``image``: a DeepFEVER image model as saved (with its heads when it has them); ``expression``: DeepFEVER with
its heads; ``extractor``: the bare vector extractor (works for any DeepFEVER folder); ``audio-visual``:
DeepFEVER-AV."""

_VISUAL_TYPE, _AV_TYPE = "deepfever", "deepfever-av"


def default_image_processor(image_size: int, **kwargs: Any):
    """The processor a DeepFEVER model of ``image_size`` gets when its folder has none."""
    from ..models.deepfever import DeepFeverImageProcessor

    return DeepFeverImageProcessor(size={"height": image_size, "width": image_size}, **kwargs)


def _load_weights(name: str, kind: str, config: Any, model_class: Any, load_options: dict[str, Any]) -> Any:
    """``from_pretrained``, with the errors of unreadable weights (a Hub download, say) naming the model."""
    import pickle

    from safetensors import SafetensorError

    try:
        if kind == "extractor" and type(config).__name__ == "DeepFeverConfig":
            from ..models.deepfever import DeepFeverModel

            return DeepFeverModel.from_pretrained(name, **load_options)  # drops the heads of a checkpoint with them
        return model_class.from_pretrained(name, **load_options)
    except (SafetensorError, pickle.UnpicklingError) as error:
        raise ValueError(f"{name}: cannot read its weights ({type(error).__name__}: {error})") from None


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


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files a saved model folder's weights are in (one file, or the shards of its index)."""
    index = folder / WEIGHTS_INDEX_NAME
    if index.is_file():
        try:
            weight_map = json.loads(read_regular_text(index, max_bytes=JSON_MAX_BYTES))["weight_map"]
            shards = sorted(set(weight_map.values()))
            if not all(isinstance(shard, str) for shard in shards):
                raise TypeError("shard names must be strings")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{index} is not a valid safetensors index ({error})") from None
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        if missing:
            raise FileNotFoundError(f"{index} names shards that are missing: {', '.join(missing)}")
        return [folder / shard for shard in shards]
    if (folder / WEIGHTS_NAME).is_file():
        return [folder / WEIGHTS_NAME]
    pickles = sorted(path.name for path in folder.iterdir() if path.name.lower().endswith(PICKLE_SUFFIXES))
    if pickles:
        raise ValueError(
            f"{folder} holds only pickle-format weights ({', '.join(pickles)}): refusing to load them, since a "
            "pickle can run code when loaded. Load them once in a trusted environment and save the model again "
            "with save_pretrained (safetensors)."
        )
    raise FileNotFoundError(f"{folder} has no {WEIGHTS_NAME} (nor {WEIGHTS_INDEX_NAME}): not a saved model folder")


def check_local_weights(folder: str | os.PathLike[str]) -> list[Path]:
    """Check, without loading a tensor, that a local model folder's weights are whole safetensors files; returns
    them. Each file's header is parsed and must cover the file exactly (a truncated copy does not).

    Raises:
        ValueError: pickle-only weights, an unreadable index, or a corrupt or truncated file (named).
        FileNotFoundError: no weights, or shards the index names are missing.
    """
    from safetensors import SafetensorError, safe_open

    files = _weight_files(Path(folder))
    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as handle:
                handle.keys()
        except (SafetensorError, OSError) as error:
            raise ValueError(
                f"{path} is not a readable safetensors file ({error}): it is corrupt or truncated (an interrupted "
                "download or copy?); fetch or save it again"
            ) from None
    return files


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

    Raises:
        ValueError: the folder holds another kind of model, pickle-only weights, or corrupt or truncated
            safetensors (each named); see :func:`check_local_weights`.

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
    local = Path(name, hub_kwargs.get("subfolder") or "")
    if local.is_dir():
        check_local_weights(local)
    config = AutoConfig.from_pretrained(name, **options)
    kind = _resolve_kind(config, kind, name)
    model_class = AutoModelForImageClassification if kind == "expression" else AutoModel
    load_options = {"use_safetensors": True, **options}  # never fall back to pickles from the Hub either
    if dtype is not None:
        load_options["dtype"] = dtype
    model = _load_weights(name, kind, config, model_class, load_options)
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


__all__ = [
    "MODEL_KINDS",
    "PICKLE_SUFFIXES",
    "check_local_weights",
    "default_image_processor",
    "load_model_and_processor",
]

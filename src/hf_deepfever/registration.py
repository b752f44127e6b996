"""Registers hf_deepfever's classes with transformers' Auto classes (done once, on package import)."""

from __future__ import annotations

import importlib

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoProcessor,
)

_registered = False


def _register_visual() -> None:
    from .configuration_deepfever import DeepFeverConfig
    from .image_processing_deepfever import DeepFeverImageProcessor, DeepFeverImageProcessorPil
    from .modeling_deepfever import DeepFeverForExpressionRecognition, DeepFeverModel

    AutoConfig.register(DeepFeverConfig.model_type, DeepFeverConfig, exist_ok=True)
    AutoModel.register(DeepFeverConfig, DeepFeverModel, exist_ok=True)
    AutoModelForImageClassification.register(DeepFeverConfig, DeepFeverForExpressionRecognition, exist_ok=True)
    AutoImageProcessor.register(
        DeepFeverConfig,
        image_processor_classes={"torchvision": DeepFeverImageProcessor, "pil": DeepFeverImageProcessorPil},
        exist_ok=True,
    )


def _register_audio_visual() -> None:
    # The audio-visual family lives in its own modules; absent modules simply mean it is not built yet.
    try:
        configuration = importlib.import_module(".configuration_deepfever_av", __package__)
        modeling = importlib.import_module(".modeling_deepfever_av", __package__)
        feature_extraction = importlib.import_module(".feature_extraction_deepfever", __package__)
        processing = importlib.import_module(".processing_deepfever", __package__)
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(f"{__package__}."):
            raise
        return
    config_class = configuration.DeepFeverAVConfig
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, modeling.DeepFeverAVModel, exist_ok=True)
    AutoFeatureExtractor.register(config_class, feature_extraction.DeepFeverAudioFeatureExtractor, exist_ok=True)
    AutoProcessor.register(config_class, processing.DeepFeverAVProcessor, exist_ok=True)


def register_auto_classes() -> None:
    """Make every hf_deepfever class reachable through the Auto classes. Safe to call more than once."""
    global _registered
    if _registered:
        return
    _register_visual()
    _register_audio_visual()
    _registered = True

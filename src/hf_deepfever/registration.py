"""Registers hf_deepfever's classes with transformers' Auto classes.

Called at the end of ``hf_deepfever.models.deepfever``'s import, which happens as soon as transformers is
imported in a process that imported hf_deepfever (see ``hf_deepfever._compat``). Safe to call again.
"""

from __future__ import annotations

import importlib

_registered = False


def register_auto_classes() -> None:
    """Make every hf_deepfever class reachable through the Auto classes."""
    global _registered
    if _registered:
        return
    from transformers import (
        AutoConfig,
        AutoFeatureExtractor,
        AutoImageProcessor,
        AutoModel,
        AutoModelForImageClassification,
        AutoProcessor,
    )

    # By module name: this runs at the end of that package's own import, before it is bound as an attribute.
    family = importlib.import_module(f"{__package__}.models.deepfever")

    visual, audio_visual = family.DeepFeverConfig, family.DeepFeverAVConfig
    AutoConfig.register(visual.model_type, visual, exist_ok=True)
    AutoModel.register(visual, family.DeepFeverModel, exist_ok=True)
    AutoModelForImageClassification.register(visual, family.DeepFeverForExpressionRecognition, exist_ok=True)
    AutoImageProcessor.register(
        visual,
        image_processor_classes={"torchvision": family.DeepFeverImageProcessor, "pil": family.DeepFeverImageProcessorPil},
        exist_ok=True,
    )
    AutoConfig.register(audio_visual.model_type, audio_visual, exist_ok=True)
    AutoModel.register(audio_visual, family.DeepFeverAVModel, exist_ok=True)
    AutoFeatureExtractor.register(audio_visual, family.DeepFeverAudioFeatureExtractor, exist_ok=True)
    AutoProcessor.register(audio_visual, family.DeepFeverAVProcessor, exist_ok=True)
    # pipeline("face-expression") (by module name, like `family` above).
    importlib.import_module(f"{__package__}.models.deepfever.pipeline_face_expression").register_face_expression_pipeline()
    _registered = True


__all__ = ["register_auto_classes"]

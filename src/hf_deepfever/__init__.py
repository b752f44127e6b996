"""hf_deepfever: DeepFEVER facial-expression vectors and the DeepFEVER-AV audio-visual emotion model,
on Hugging Face conventions.

Importing the package registers every model, processor and feature extractor with the Auto classes, so
`AutoModel.from_pretrained(...)` and `pipeline(...)` need no `trust_remote_code` while it is installed.
"""

from __future__ import annotations

from .configuration_deepfever import AFFECTNET_EXPRESSIONS, DeepFeverConfig
from .image_processing_deepfever import DeepFeverImageProcessor, DeepFeverImageProcessorPil
from .modeling_deepfever import (
    DeepFeverExpressionOutput,
    DeepFeverForExpressionRecognition,
    DeepFeverModel,
    DeepFeverPreTrainedModel,
)
from .registration import register_auto_classes

__version__ = "0.1.0"

register_auto_classes()

__all__ = [
    "AFFECTNET_EXPRESSIONS",
    "DeepFeverConfig",
    "DeepFeverExpressionOutput",
    "DeepFeverForExpressionRecognition",
    "DeepFeverImageProcessor",
    "DeepFeverImageProcessorPil",
    "DeepFeverModel",
    "DeepFeverPreTrainedModel",
    "__version__",
]

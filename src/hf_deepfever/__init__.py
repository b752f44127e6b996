"""hf_deepfever: DeepFEVER facial-expression vectors and the DeepFEVER-AV audio-visual emotion model,
on Hugging Face conventions.

The package is lazy, as transformers is: ``import hf_deepfever`` imports neither torch nor transformers;
each public name below is imported when first used. The model classes are registered with transformers'
Auto classes as soon as transformers is imported (before or after this package), so
``AutoModel.from_pretrained(...)`` and ``pipeline(...)`` need no ``trust_remote_code`` while it is installed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import _compat
from .core.lazy_exports import lazy_exports

__version__ = "0.2.0"

# Module that defines them (relative to this package) -> public names.
_names, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".core.vocabulary": ("AFFECTNET_EXPRESSIONS", "VALENCE_AROUSAL"),
        ".models.deepfever": (
            "DeepFeverConfig",
            "DeepFeverModel",
            "DeepFeverPreTrainedModel",
            "DeepFeverForExpressionRecognition",
            "DeepFeverExpressionOutput",
            "DeepFeverImageProcessor",
            "DeepFeverImageProcessorPil",
            "DeepFeverAVConfig",
            "DeepFeverAVModel",
            "DeepFeverAVPreTrainedModel",
            "DeepFeverAVOutput",
            "DeepFeverAudioFeatureExtractor",
            "DeepFeverAVProcessor",
        ),
        ".core.loading": ("load_model_and_processor",),
        ".models.deepfever.face_detection_deepfever": ("detect_faces", "load_face_detector", "DetectedFace", "FaceDetector"),
        ".models.deepfever.pipeline_face_expression": ("FaceExpressionPipeline",),
        ".search": ("ExpressionIndex", "read_vectors", "model_fingerprint"),
        ".registration": ("register_auto_classes",),
    },
)
__all__ = sorted([*_names, "__version__"])


_compat.install_module_aliases(__name__)
_compat.register_when_transformers_is_imported(f"{__name__}.models.deepfever")

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .core.loading import load_model_and_processor
    from .core.vocabulary import AFFECTNET_EXPRESSIONS, VALENCE_AROUSAL
    from .models.deepfever.face_detection_deepfever import DetectedFace, FaceDetector, detect_faces, load_face_detector
    from .models.deepfever.pipeline_face_expression import FaceExpressionPipeline
    from .models.deepfever import (
        DeepFeverAudioFeatureExtractor,
        DeepFeverAVConfig,
        DeepFeverAVModel,
        DeepFeverAVOutput,
        DeepFeverAVPreTrainedModel,
        DeepFeverAVProcessor,
        DeepFeverConfig,
        DeepFeverExpressionOutput,
        DeepFeverForExpressionRecognition,
        DeepFeverImageProcessor,
        DeepFeverImageProcessorPil,
        DeepFeverModel,
        DeepFeverPreTrainedModel,
    )
    from .registration import register_auto_classes
    from .search import ExpressionIndex, model_fingerprint, read_vectors

del sys

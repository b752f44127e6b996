"""DeepFEVER and DeepFEVER-AV: configurations, models, image processor, audio feature extractor, processor.

One folder holds both families because DeepFEVER-AV is built from DeepFEVER's own classes (its visual
stream is a ``DeepFeverModel``, its processor wraps the ``DeepFeverImageProcessor``) and remote code can
only carry same-folder imports: a saved DeepFEVER-AV folder must contain the visual files too.

Importing this package registers its classes with transformers' Auto classes. The module files import
only third-party packages and each other; this ``__init__`` is the package's glue and never travels.
"""

from .configuration_deepfever import AFFECTNET_EXPRESSIONS, DeepFeverConfig
from .configuration_deepfever_av import DeepFeverAVConfig
from .feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from .image_processing_deepfever import DeepFeverImageProcessor, DeepFeverImageProcessorPil
from .modeling_deepfever import (
    DeepFeverExpressionOutput,
    DeepFeverForExpressionRecognition,
    DeepFeverModel,
    DeepFeverPreTrainedModel,
)
from .modeling_deepfever_av import DeepFeverAVModel, DeepFeverAVOutput, DeepFeverAVPreTrainedModel
from .processing_deepfever_av import DeepFeverAVProcessor
from ...registration import register_auto_classes  # noqa: E402  (glue of the package, not a remote-code file)

register_auto_classes()

__all__ = [
    "AFFECTNET_EXPRESSIONS",
    "DeepFeverAVConfig",
    "DeepFeverAVModel",
    "DeepFeverAVOutput",
    "DeepFeverAVPreTrainedModel",
    "DeepFeverAVProcessor",
    "DeepFeverAudioFeatureExtractor",
    "DeepFeverConfig",
    "DeepFeverExpressionOutput",
    "DeepFeverForExpressionRecognition",
    "DeepFeverImageProcessor",
    "DeepFeverImageProcessorPil",
    "DeepFeverModel",
    "DeepFeverPreTrainedModel",
]

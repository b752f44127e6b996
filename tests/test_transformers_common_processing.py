"""transformers' own common tests on DeepFEVER's preprocessing: both image-processor backends
(``ImageProcessingTestMixin``) and DeepFEVER-AV's audio feature extractor (``SequenceFeatureExtractionTestMixin``).

Adapted the way in-tree models use them (e.g. ``tests/models/timm_wrapper/test_image_processing_timm_wrapper.py`` and
``tests/models/whisper/test_feature_extraction_whisper.py``): a small tester with tiny inputs, and the processor
classes named explicitly (the mixin otherwise finds them from the folder name of an in-tree model). The mixins
come from the installed release's source distribution (:mod:`transformers_mixins`).
"""

from __future__ import annotations

import random
import unittest

import numpy as np

from transformers_mixins import load_mixins_or_skip

from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.models.deepfever.image_processing_deepfever import DeepFeverImageProcessor, DeepFeverImageProcessorPil

_mixins = load_mixins_or_skip()
ImageProcessingTester = _mixins.image_processing.ImageProcessingTester
ImageProcessingTestMixin = _mixins.image_processing.ImageProcessingTestMixin
SequenceFeatureExtractionTestMixin = _mixins.sequence_feature_extraction.SequenceFeatureExtractionTestMixin


class DeepFeverImageProcessingTester(ImageProcessingTester):
    def __init__(self, parent, **kwargs) -> None:
        kwargs.setdefault("size", {"height": 18, "width": 18})
        super().__init__(parent, batch_size=4, min_resolution=20, max_resolution=48, **kwargs)

    def _get_image_processing_classes(self) -> dict[str, type]:
        # An in-tree model's classes are found from its test folder's name; ours are named here.
        return {"torchvision": DeepFeverImageProcessor, "pil": DeepFeverImageProcessorPil}


class DeepFeverImageProcessingTest(ImageProcessingTestMixin, unittest.TestCase):
    image_processor_tester_class = DeepFeverImageProcessingTester


class DeepFeverAudioFeatureExtractionTester:
    """Raw feature sequences for the mixin's `pad` tests, as in-tree audio tests provide them."""

    def __init__(self, parent, batch_size: int = 5, min_seq_length: int = 40, max_seq_length: int = 201) -> None:
        # max_seq_length just above min + (batch_size - 1) * diff, so the unequal lengths below make batch_size rows.
        self.parent = parent
        self.batch_size = batch_size
        self.min_seq_length = min_seq_length
        self.max_seq_length = max_seq_length
        self.seq_length_diff = (max_seq_length - min_seq_length) // (batch_size - 1)
        self.feature_size = 16
        self.sampling_rate = 16000
        self.padding_value = 0.0
        self.rng = random.Random(0)

    def prepare_feat_extract_dict(self) -> dict:
        return {
            "feature_size": self.feature_size,
            "sampling_rate": self.sampling_rate,
            "padding_value": self.padding_value,
            "context_ms": 200.0,
            "return_attention_mask": True,
        }

    def _floats(self, rows: int) -> list[list[float]]:
        return [[self.rng.random() for _ in range(self.feature_size)] for _ in range(rows)]

    def prepare_inputs_for_common(self, equal_length: bool = False, numpify: bool = False):
        if equal_length:
            inputs = [self._floats(self.max_seq_length) for _ in range(self.batch_size)]
        else:
            lengths = range(self.min_seq_length, self.max_seq_length, self.seq_length_diff)
            inputs = [self._floats(length) for length in lengths]
        return [np.asarray(x) for x in inputs] if numpify else inputs


class DeepFeverAudioFeatureExtractionTest(SequenceFeatureExtractionTestMixin, unittest.TestCase):
    feature_extraction_class = DeepFeverAudioFeatureExtractor

    def setUp(self) -> None:
        self.feat_extract_tester = DeepFeverAudioFeatureExtractionTester(self)

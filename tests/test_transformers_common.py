"""transformers' own common tests (``ModelTesterMixin``, ``ConfigTester``) on both DeepFEVER families.

Adapted the way transformers' in-tree ``tests/models/timm_wrapper/`` uses them for a timm model: a small model
tester, the classes registered as if in-tree (so the mixin sees ``DeepFeverModel`` / ``DeepFeverAVModel`` as base
models and ``DeepFeverForExpressionRecognition`` as an image classifier), and a skip with its reason for each test
that cannot apply to this kind of model. The mixins come from the installed release's source distribution
(:mod:`transformers_mixins`).
"""

from __future__ import annotations

import copy
import inspect
import tempfile
import unittest
from unittest import mock

import torch
from transformers.models.auto import modeling_auto

from transformers_mixins import load_mixins_or_skip

from hf_deepfever.models.deepfever.configuration_deepfever import DeepFeverConfig
from hf_deepfever.models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from hf_deepfever.models.deepfever.modeling_deepfever import DeepFeverForExpressionRecognition, DeepFeverModel
from hf_deepfever.models.deepfever.modeling_deepfever_av import DeepFeverAVModel

_mixins = load_mixins_or_skip()
ModelTesterMixin = _mixins.modeling.ModelTesterMixin
floats_tensor = _mixins.modeling.floats_tensor
ConfigTester = _mixins.configuration.ConfigTester

# What an in-tree model would list in transformers' Auto mappings (registered classes are not in these names).
_AS_IF_IN_TREE = (
    (modeling_auto.MODEL_MAPPING_NAMES, {"deepfever": "DeepFeverModel", "deepfever-av": "DeepFeverAVModel"}),
    (modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES, {"deepfever": "DeepFeverForExpressionRecognition"}),
)


class _InTreeNames:
    """Registers the classes in the Auto mapping names for the duration of each test."""

    def setUp(self) -> None:
        super().setUp()
        for names, extra in _AS_IF_IN_TREE:
            patcher = mock.patch.dict(names, extra)
            patcher.start()
            self.addCleanup(patcher.stop)


def _vision_config(**overrides) -> DeepFeverConfig:
    settings = dict(backbone="test_resnet", image_size=32, embedding_dim=8, head_hidden_dim=8)
    return DeepFeverConfig(**{**settings, **overrides})


class DeepFeverModelTester:
    def __init__(self, parent, batch_size: int = 2, image_size: int = 32, is_training: bool = True) -> None:
        self.parent = parent
        self.batch_size = batch_size
        self.image_size = image_size
        self.num_channels = 3
        self.is_training = is_training

    def get_config(self) -> DeepFeverConfig:
        return _vision_config(image_size=self.image_size)

    def prepare_config_and_inputs_for_common(self):
        pixel_values = floats_tensor([self.batch_size, self.num_channels, self.image_size, self.image_size])
        return self.get_config(), {"pixel_values": pixel_values}


class DeepFeverModelTest(_InTreeNames, ModelTesterMixin, unittest.TestCase):
    all_model_classes = (DeepFeverModel, DeepFeverForExpressionRecognition)
    has_attentions = False  # a CNN backbone (timm); no attention maps to return
    test_resize_embeddings = False  # no token embeddings
    test_can_init_all_missing_weights_before_2023 = True  # always run it: missing keys must get a real init

    def setUp(self) -> None:
        super().setUp()
        self.model_tester = DeepFeverModelTester(self)
        self.config_tester = ConfigTester(self, config_class=DeepFeverConfig, has_text_modality=False, common_properties=[])

    def test_config(self):
        self.config_tester.run_common_tests()

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is DeepFeverForExpressionRecognition:
            # The model's full targets: expression labels (added by the mixin) and (valence, arousal), so that
            # every head trains.
            batch = self.model_tester.batch_size
            inputs["valence_arousal"] = torch.linspace(-0.9, 0.9, batch * 2).reshape(batch, 2)
        return inputs

    def test_hidden_states_output(self):
        # Feature maps of a CNN (as for timm_wrapper): one per stage that timm's feature_info lists.
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        side = self.model_tester.image_size
        for model_class in self.all_model_classes:
            model = model_class(copy.deepcopy(config)).eval()
            stages = model.base_model.backbone.feature_info
            expected = [[side // info["reduction"]] * 2 for info in stages]
            with torch.no_grad():
                outputs = model(**inputs_dict, output_hidden_states=True)
                self.assertListEqual([list(h.shape[2:]) for h in outputs.hidden_states], expected)
                self.assertListEqual([h.shape[1] for h in outputs.hidden_states], [info["num_chs"] for info in stages])
                self.assertIsNone(model(**inputs_dict).hidden_states)
                selected = model(**inputs_dict, output_hidden_states=[-2, -1]).hidden_states
                self.assertListEqual([list(h.shape[2:]) for h in selected], expected[-2:])
                torch.testing.assert_close(outputs.last_hidden_state, model(**inputs_dict).last_hidden_state)
            config_on = copy.deepcopy(config)
            config_on.output_hidden_states = True
            with torch.no_grad():
                self.assertEqual(len(model_class(config_on).eval()(**inputs_dict).hidden_states), len(stages))

    def test_can_load_ignoring_mismatched_shapes(self):
        # The mixin's version looks for the classifier among the top-level children; ours is heads.expression[-1].
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        config.num_labels = 3
        model = DeepFeverForExpressionRecognition(config)
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            with self.assertRaises(RuntimeError):
                DeepFeverForExpressionRecognition.from_pretrained(folder, num_labels=42)
            resized = DeepFeverForExpressionRecognition.from_pretrained(folder, num_labels=42, ignore_mismatched_sizes=True)
        self.assertEqual(resized.config.num_labels, 42)
        old, new = dict(model.named_parameters()), dict(resized.named_parameters())
        self.assertEqual(set(old), set(new))
        for name, value in new.items():
            if name.startswith("heads.expression.3."):  # re-initialised: PyTorch's default Linear init
                self.assertEqual(value.shape[0], 42)
                bound = resized.heads.expression[3].in_features ** -0.5
                self.assertLessEqual(value.abs().max().item(), bound, name)
                self.assertLessEqual(abs(value.mean().item()), 0.1, name)
            else:
                torch.testing.assert_close(value, old[name], msg=name)

    @unittest.skip(reason="An image model: no inputs_embeds")
    def test_inputs_embeds(self):
        pass

    @unittest.skip(reason="An image model: no token embeddings to get or set")
    def test_model_get_set_embeddings(self):
        pass

    def test_torch_export(self):
        # Stands in for the exporter suite the source distribution lacks (see transformers_mixins).
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        batch = torch.export.Dim("batch", min=1, max=64)
        for model_class in self.all_model_classes:
            model = model_class(copy.deepcopy(config)).eval()
            with torch.no_grad():
                graph = torch.export.export(model, (), kwargs=inputs_dict, dynamic_shapes={"pixel_values": {0: batch}}).module()
                single = {"pixel_values": inputs_dict["pixel_values"][:1]}
                for inputs in (inputs_dict, single):
                    expected, got = model(**inputs).to_tuple(), graph(**inputs).to_tuple()
                    for want, have in zip(expected, got, strict=True):
                        torch.testing.assert_close(have, want)

    def test_forward_signature(self):
        for model_class in self.all_model_classes:
            arguments = list(inspect.signature(model_class.forward).parameters)
            self.assertListEqual(arguments[1:2], ["pixel_values"])


class DeepFeverAVModelTester:
    def __init__(self, parent, batch_size: int = 2, steps: int = 5, is_training: bool = True) -> None:
        self.parent = parent
        self.batch_size = batch_size
        self.steps = steps
        self.num_mel_bins, self.context_frames, self.image_size = 8, 8, 32
        self.is_training = is_training

    def get_config(self) -> DeepFeverAVConfig:
        return DeepFeverAVConfig(
            vision_config=_vision_config(image_size=self.image_size).to_dict(),
            num_mel_bins=self.num_mel_bins, audio_context_frames=self.context_frames, audio_channels=[4, 8],
            audio_embedding_dim=8, visual_projection_dim=8, fusion_dim=8, hidden_size=8, num_layers=2,
        )

    def prepare_config_and_inputs_for_common(self):
        batch, steps = self.batch_size, self.steps
        inputs = {
            "input_features": floats_tensor([batch, steps, self.num_mel_bins, self.context_frames]),
            "pixel_values": floats_tensor([batch, steps, 3, self.image_size, self.image_size]),
            "attention_mask": torch.ones(batch, steps, dtype=torch.long),
        }
        return self.get_config(), inputs


class DeepFeverAVModelTest(_InTreeNames, ModelTesterMixin, unittest.TestCase):
    all_model_classes = (DeepFeverAVModel,)
    has_attentions = False  # convolutions and a recurrent network; no attention maps
    test_resize_embeddings = False  # no token embeddings
    test_can_init_all_missing_weights_before_2023 = True

    def setUp(self) -> None:
        super().setUp()
        self.model_tester = DeepFeverAVModelTester(self)
        self.config_tester = ConfigTester(self, config_class=DeepFeverAVConfig, has_text_modality=False, common_properties=[])

    def test_config(self):
        self.config_tester.run_common_tests()

    def test_torch_export(self):
        # Stands in for the exporter suite the source distribution lacks; test_av_model.py exports padded inputs.
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        model = DeepFeverAVModel(config).eval()
        with torch.no_grad():
            graph = torch.export.export(model, (), kwargs=inputs_dict).module()
            torch.testing.assert_close(graph(**inputs_dict).valence_arousal, model(**inputs_dict).valence_arousal)

    def test_hidden_states_output(self):
        # The per-step vectors of each stage (not transformer layers): visual stream, audio stream, fused steps,
        # recurrent output.
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        batch, steps = self.model_tester.batch_size, self.model_tester.steps
        widths = [config.visual_projection_dim, config.audio_embedding_dim, config.fusion_dim, 2 * config.hidden_size]
        model = DeepFeverAVModel(copy.deepcopy(config)).eval()
        with torch.no_grad():
            outputs = model(**inputs_dict, output_hidden_states=True)
            self.assertListEqual([tuple(h.shape) for h in outputs.hidden_states], [(batch, steps, w) for w in widths])
            self.assertIs(outputs.hidden_states[-1], outputs.last_hidden_state)
            self.assertIsNone(model(**inputs_dict).hidden_states)
        config.output_hidden_states = True
        with torch.no_grad():
            self.assertEqual(len(DeepFeverAVModel(config).eval()(**inputs_dict).hidden_states), 4)

    @unittest.skip(reason="An audio-visual model over feature windows: no inputs_embeds")
    def test_inputs_embeds(self):
        pass

    @unittest.skip(reason="An audio-visual model over feature windows: no token embeddings to get or set")
    def test_model_get_set_embeddings(self):
        pass

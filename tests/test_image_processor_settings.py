"""Processor settings are validated when built, when loaded (`from_pretrained` / `from_dict`) and on every call,
with a message naming the key: a bad preprocessor_config.json never gives NaN vectors or a huge allocation."""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
from transformers import AutoImageProcessor

from hf_deepfever import DeepFeverImageProcessor, DeepFeverImageProcessorPil

BACKENDS = [DeepFeverImageProcessor, DeepFeverImageProcessorPil]

BAD_SETTINGS = [
    ({"image_std": [0.0, 0.0, 0.0]}, "image_std must be positive"),  # was: NaN vectors labelled "neutral"
    ({"image_std": [0.2, float("nan"), 0.2]}, "image_std must be finite"),
    ({"image_std": [0.2, 0.2]}, "image_std must be 1 or 3 numbers"),
    ({"image_mean": [float("inf"), 0.4, 0.4]}, "image_mean must be finite"),
    ({"image_mean": "gray"}, "image_mean must be 1 or 3 numbers"),
    ({"size": {"height": 100_000, "width": 100_000}}, "size must be between 1 and 4096"),  # was: 30 GB
    ({"size": {"height": 0, "width": 0}}, "size must be between 1 and 4096"),
    ({"size": {"height": 64, "width": 32}}, "size must have height == width"),
    ({"size": {"shortest_edge": 64}}, "size must be {'height': S, 'width': S}"),
    ({"crop_margin": 1e6}, "crop_margin must be between 0 and 2"),  # was: petabytes
    ({"crop_margin": -0.1}, "crop_margin must be between 0 and 2"),  # was: a 1-pixel crop
    ({"crop_margin": float("nan")}, "crop_margin must be a finite number"),
    ({"rescale_factor": 0.0}, "rescale_factor must be a finite positive number"),
    ({"resample": 99}, "resample must be a PIL resampling filter"),
    ({"align_faces": "yes"}, "align_faces must be true or false"),
    ({"do_normalize": "no"}, "do_normalize must be true or false"),
    ({"do_center_crop": True}, "do_center_crop is not supported"),
    ({"do_pad": True}, "do_pad is not supported"),
]


@pytest.mark.parametrize("processor_class", BACKENDS)
@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS)
def test_bad_settings_are_refused_on_construction(processor_class, settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("{", r"\{")):
        processor_class(**settings)


@pytest.mark.parametrize(("settings", "message"), BAD_SETTINGS)
def test_bad_settings_are_refused_on_load(tmp_path, settings, message):
    DeepFeverImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    config_path = tmp_path / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config.update(settings)
    config_path.write_text(json.dumps(config))
    pattern = message.replace("(", r"\(").replace("{", r"\{")
    for backend in ("torchvision", "pil"):
        with pytest.raises(ValueError, match=pattern):
            AutoImageProcessor.from_pretrained(tmp_path, backend=backend)
    with pytest.raises(ValueError, match=pattern):
        DeepFeverImageProcessorPil.from_dict({**config})


@pytest.mark.parametrize("processor_class", BACKENDS)
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"crop_margin": -1.0}, "crop_margin must be between 0 and 2"),
        ({"crop_margin": 5.0}, "crop_margin must be between 0 and 2"),
        ({"size": {"height": 8192, "width": 8192}}, "size must be between 1 and 4096"),
        ({"image_std": [0.5, 0.5, 0.0]}, "image_std must be positive"),
        ({"do_center_crop": True}, "do_center_crop is not supported"),
    ],
)
def test_bad_settings_are_refused_per_call(processor_class, settings, message):
    image = PIL.Image.new("RGB", (20, 20))
    with pytest.raises(ValueError, match=message):
        processor_class()(image, **settings)


def test_attributes_edited_after_construction_are_checked_on_call():
    processor = DeepFeverImageProcessor()
    processor.image_std = (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="image_std must be positive"):
        processor(PIL.Image.new("RGB", (20, 20)))


def test_backend_specific_filters(tmp_path):
    DeepFeverImageProcessorPil(resample=PIL.Image.Resampling.BOX).save_pretrained(tmp_path)
    assert AutoImageProcessor.from_pretrained(tmp_path, backend="pil").resample == PIL.Image.Resampling.BOX
    with pytest.raises(ValueError, match="resample BOX is not available with the torchvision backend.*backend='pil'"):
        AutoImageProcessor.from_pretrained(tmp_path, backend="torchvision")


def test_good_settings_round_trip(tmp_path):
    settings = {
        "size": {"height": 48, "width": 48},
        "crop_margin": 0.25,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "resample": int(PIL.Image.Resampling.BICUBIC),
        "align_faces": False,
    }
    DeepFeverImageProcessor(**settings).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert {key: saved[key] for key in settings} == settings
    for backend in ("torchvision", "pil"):
        loaded = AutoImageProcessor.from_pretrained(tmp_path, backend=backend)
        assert loaded.align_faces is False and loaded.resample == PIL.Image.Resampling.BICUBIC
        pixels = loaded(np.zeros((30, 40, 3), np.uint8), return_tensors="pt")["pixel_values"]
        assert pixels.shape == (1, 3, 48, 48) and pixels.unique().tolist() == [-1.0]

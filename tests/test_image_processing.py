"""DeepFeverImageProcessor (torchvision) and DeepFeverImageProcessorPil: conversion, crops, agreement, errors."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import AutoImageProcessor

from hf_deepfever import DeepFeverImageProcessor, DeepFeverImageProcessorPil
from hf_deepfever.models.deepfever.image_processing_deepfever import square_crop_region, to_rgb_tensor

SIZE = {"height": 64, "width": 64}
BACKENDS = [DeepFeverImageProcessor, DeepFeverImageProcessorPil]


def _pixels(processor_class, images, **kwargs):
    return processor_class(size=SIZE)(images, return_tensors="pt", **kwargs)["pixel_values"]


def _unnormalise(pixels: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(DeepFeverImageProcessor.image_mean)[:, None, None]
    std = torch.tensor(DeepFeverImageProcessor.image_std)[:, None, None]
    return (pixels * std + mean) * 255


def _modes(base: PIL.Image.Image) -> dict[str, PIL.Image.Image]:
    sixteen = PIL.Image.fromarray((np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
    return {
        "RGB": base,
        "L": base.convert("L"),
        "1": base.convert("1"),
        "P": base.convert("P"),
        "RGBA": base.convert("RGBA"),
        "LA": base.convert("LA"),
        "CMYK": base.convert("CMYK"),
        "YCbCr": base.convert("YCbCr"),
        "I;16": sixteen,
        "I": base.convert("I"),
        "F": base.convert("F"),
    }


@pytest.mark.parametrize("processor_class", BACKENDS)
def test_every_pil_mode_becomes_rgb(processor_class, random_face_image):
    for mode, image in _modes(random_face_image).items():
        pixels = _pixels(processor_class, image)
        assert pixels.shape == (1, 3, 64, 64), mode
        assert torch.isfinite(pixels).all(), mode


def test_sixteen_bit_images_are_scaled_not_clipped(random_face_image):
    gray = random_face_image.convert("L")
    sixteen = PIL.Image.fromarray((np.asarray(gray, dtype=np.uint16) * 257).astype(np.uint16))
    assert torch.equal(to_rgb_tensor(sixteen), to_rgb_tensor(gray))


def test_transparent_pixels_become_white():
    image = PIL.Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb_tensor(image).unique().tolist() == [255]


@pytest.mark.parametrize("processor_class", BACKENDS)
def test_backends_accept_numpy_tensors_and_lists(processor_class, random_face_image):
    array = np.asarray(random_face_image)
    reference = _pixels(processor_class, random_face_image)
    for image in (array, array.transpose(2, 0, 1), torch.from_numpy(array.copy()).permute(2, 0, 1),
                  array.astype(np.float32) / 255.0):
        assert torch.allclose(_pixels(processor_class, image), reference, atol=1e-4)
    batch = _pixels(processor_class, [random_face_image, array, random_face_image.convert("L")])
    assert batch.shape == (3, 3, 64, 64)
    assert torch.allclose(batch[0], batch[1], atol=1e-4)


def test_backends_agree(random_face_image):
    boxes = [(10, 5, 40, 50), None, (-10, -10, 60, 40)]
    images = [random_face_image, random_face_image.convert("L"), random_face_image]
    torchvision = _pixels(DeepFeverImageProcessor, images, face_boxes=boxes)
    pil = _pixels(DeepFeverImageProcessorPil, images, face_boxes=boxes)
    assert (torchvision - pil).abs().mean() < 1e-2
    assert (torchvision - pil).abs().max() < 0.1


def test_face_box_crop_is_square_with_margin():
    # A white face box on black: with margin 0.25 on a 40x40 box the crop is 60 px; the box fills 40/60 of it.
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    image[50:90, 100:140] = 255
    processor = DeepFeverImageProcessor(size={"height": 60, "width": 60}, crop_margin=0.25)
    crop = _unnormalise(processor(image, face_boxes=[(100, 50, 40, 40)], return_tensors="pt")["pixel_values"][0])
    white = (crop.mean(0) > 128).float()
    assert white.sum() == pytest.approx(40 * 40, rel=0.02)
    assert white[10:50, 10:50].mean() == 1.0


def test_no_box_pads_to_square_instead_of_stretching():
    wide = np.full((50, 100, 3), 255, dtype=np.uint8)
    for processor_class in BACKENDS:
        crop = _unnormalise(_pixels(processor_class, wide)[0])
        rows_white = (crop.mean(dim=(0, 2)) > 128).float()
        # The image covers the middle half of the rows; black padding above and below.
        assert rows_white[20:44].mean() == 1.0
        assert rows_white[:14].sum() == 0 and rows_white[50:].sum() == 0


def test_box_partly_outside_image_is_clipped():
    left, top, side = square_crop_region((-20, -20, 60, 60), width=100, height=100, margin=0.0)
    assert (left, top, side) == (0, 0, 40)
    left, top, side = square_crop_region((80, 90, 50, 50), width=100, height=100, margin=0.0)
    assert side == 20 and left == 80 and top == 85


@pytest.mark.parametrize("box", [(10, 10, 0, 20), (10, 10, 20, -5)])
def test_degenerate_box_names_the_box(random_face_image, box):
    for processor_class in BACKENDS:
        with pytest.raises(ValueError, match=r"face box \(10, 10, .*degenerate"):
            _pixels(processor_class, random_face_image, face_boxes=[box])


@pytest.mark.parametrize(
    ("boxes", "match"),
    [([(500, 500, 10, 10)], "entirely outside"), ([(1, 2, 3)], "four numbers"), ([None, None], "2 face boxes for 1")],
)
def test_other_bad_boxes(random_face_image, boxes, match):
    with pytest.raises(ValueError, match=match):
        _pixels(DeepFeverImageProcessor, random_face_image, face_boxes=boxes)


def test_one_pixel_image_is_upsampled_to_a_uniform_crop():
    pixel = PIL.Image.new("RGB", (1, 1), (200, 100, 50))
    for processor_class in BACKENDS:
        out = _unnormalise(_pixels(processor_class, pixel)[0])
        assert out.shape == (3, 64, 64)
        assert torch.allclose(out[:, 32, 32], torch.tensor([200.0, 100.0, 50.0]), atol=1.0)


@pytest.mark.parametrize("bad", [np.zeros((5, 6, 7), np.uint8), np.zeros((2, 4, 4, 3, 1), np.uint8)])
def test_bad_array_shapes(bad):
    with pytest.raises(ValueError):
        _pixels(DeepFeverImageProcessor, bad)


def test_non_square_size_is_refused(random_face_image):
    with pytest.raises(ValueError, match="square"):
        DeepFeverImageProcessor(size={"height": 64, "width": 32})(random_face_image)


def test_save_and_auto_load_both_backends(tmp_path, random_face_image):
    DeepFeverImageProcessor(size=SIZE, crop_margin=0.3).save_pretrained(tmp_path)
    fast = AutoImageProcessor.from_pretrained(tmp_path)
    pil = AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    assert type(fast) is DeepFeverImageProcessor and type(pil) is DeepFeverImageProcessorPil
    assert fast.crop_margin == pil.crop_margin == 0.3
    assert (fast(random_face_image, return_tensors="pt")["pixel_values"]
            - pil(random_face_image, return_tensors="pt")["pixel_values"]).abs().mean() < 1e-2

"""DeepFeverImageProcessor (torchvision) and DeepFeverImageProcessorPil: conversion, crops, agreement, errors."""

from __future__ import annotations

from pathlib import Path

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


# ---------------------------------------------------------------------------------------------------------------
# Crops follow the padded-square definition without allocating the padded square.
# ---------------------------------------------------------------------------------------------------------------


def _padded_square_reference(processor_class, image, box, margin: float, side: int) -> torch.Tensor:
    """What the crop is defined as: the whole square padded black, then resized (bilinear, by the backend's
    library), in 0-255. This is how crops were computed before, at max(w, h)^2 memory."""
    pixels = to_rgb_tensor(image)
    _, height, width = pixels.shape
    left, top, square = square_crop_region(box, width, height, margin)
    padded = torch.zeros((3, square, square), dtype=torch.uint8)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + square, width), min(top + square, height)
    padded[:, y0 - top : y1 - top, x0 - left : x1 - left] = pixels[:, y0:y1, x0:x1]
    if processor_class is DeepFeverImageProcessor:
        from torchvision.transforms.v2 import functional as tvF

        return tvF.resize(padded, [side, side], interpolation=tvF.InterpolationMode.BILINEAR, antialias=True).float()
    resized = PIL.Image.fromarray(padded.numpy().transpose(1, 2, 0)).resize((side, side), PIL.Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(resized).transpose(2, 0, 1).astype(np.float32))


def _crop(processor_class, image, box=None, side=64, **kwargs) -> torch.Tensor:
    processor = processor_class(size=side, do_rescale=False, do_normalize=False, **kwargs)
    return processor(image, face_boxes=[box], return_tensors="pt")["pixel_values"][0]


@pytest.fixture(scope="module")
def portrait():
    import matplotlib

    return PIL.Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


@pytest.mark.parametrize("processor_class", BACKENDS)
@pytest.mark.parametrize(
    ("crop", "box", "side"),
    [
        (None, None, 64),  # portrait 512x600, no box: padded left and right, downscaled 9x
        ((0, 0, 512, 300), None, 224),  # landscape, padded above and below
        ((0, 0, 200, 600), None, 64),  # tall and narrow
        (None, (-50, -40, 200, 220), 64),  # box reaching over the top-left corner
        (None, (400, 500, 200, 200), 224),  # over the bottom-right corner, mild downscale
        (None, (100, 80, 300, 350), 64),  # box inside: the square needs no padding
    ],
)
def test_crop_equals_the_padded_square_within_resampling_noise(portrait, processor_class, crop, box, side):
    image = portrait.crop(crop) if crop else portrait
    reference = _padded_square_reference(processor_class, image, box, 0.1, side)
    crop_pixels = _crop(processor_class, image, box, side)
    difference = (crop_pixels - reference).abs()
    assert difference.mean() < 1.2  # of 255: sub-pixel phase of the resampling only
    left, top, square = square_crop_region(box, *image.size, 0.1)
    if left >= 0 and top >= 0 and left + square <= image.width and top + square <= image.height:
        assert difference.max() == 0  # nothing to pad: the very same resize


@pytest.mark.parametrize("processor_class", BACKENDS)
def test_a_sliver_thinner_than_an_output_pixel_is_averaged_with_the_padding(processor_class):
    # 5,000 x 1 at value 200: one output row of 200 / 22.3 = 9, what averaging the padded square gives (the
    # memory bound for such images is tested in test_image_memory.py).
    line = PIL.Image.fromarray(np.full((1, 5_000, 3), 200, np.uint8))
    crop = _crop(processor_class, line, side=224)
    assert torch.nonzero(crop.amax(dim=(0, 2))).flatten().tolist() == [112]
    assert crop[:, 112].unique().tolist() == [9.0]
    reference = _padded_square_reference(processor_class, line, None, 0.1, 224)
    assert float(crop.sum()) == pytest.approx(float(reference.sum()), rel=0.05)  # the reference: over two rows


# ---------------------------------------------------------------------------------------------------------------
# Every declared option does what it says.
# ---------------------------------------------------------------------------------------------------------------


def _pil_resize(image: PIL.Image.Image, side: int, resample: int) -> torch.Tensor:
    resized = image.resize((side, side), PIL.Image.Resampling(resample))
    return torch.from_numpy(np.asarray(resized).transpose(2, 0, 1).astype(np.float32))


@pytest.mark.parametrize("resample", [0, 2, 3, 1])  # NEAREST, BILINEAR, BICUBIC, LANCZOS
@pytest.mark.parametrize("processor_class", BACKENDS)
def test_resample_is_honoured(portrait, processor_class, resample):
    square = portrait.crop((0, 0, 512, 512))  # already square: the crop is a plain resize
    crop = _crop(processor_class, square, side=48, resample=resample)
    expected = _pil_resize(square, 48, resample)
    others = [_pil_resize(square, 48, other) for other in (0, 2, 3, 1) if other != resample]
    error = (crop - expected).abs().mean()
    assert error < 2.5  # torchvision's kernels are not PIL's, but each is closest to its own filter
    assert all(error < (crop - other).abs().mean() for other in others)


def test_pil_only_filters_work_in_the_pil_backend_and_are_refused_by_torchvision(portrait):
    square = portrait.crop((0, 0, 512, 512))
    for resample in (PIL.Image.Resampling.BOX, PIL.Image.Resampling.HAMMING):
        crop = _crop(DeepFeverImageProcessorPil, square, side=48, resample=resample)
        assert torch.equal(crop, _pil_resize(square, 48, resample))
        with pytest.raises(ValueError, match=f"resample {resample.name} is not available with the torchvision"):
            DeepFeverImageProcessor(resample=resample)


@pytest.mark.parametrize("processor_class", BACKENDS)
def test_do_resize_false_keeps_the_crop_at_its_own_size(processor_class, random_face_image):
    pixels = processor_class(do_resize=False, do_rescale=False, do_normalize=False)(
        random_face_image, face_boxes=[(10, 5, 30, 40)], crop_margin=0.0, return_tensors="pt"
    )["pixel_values"]
    assert pixels.shape == (1, 3, 40, 40)
    assert torch.equal(pixels[0, :, :, 5:35], to_rgb_tensor(random_face_image)[:, 5:45, 10:40].float())
    with pytest.raises(ValueError, match="do_resize=False"):
        processor_class(do_resize=False)(PIL.Image.new("RGB", (5000, 10)))


@pytest.mark.parametrize("processor_class", BACKENDS)
def test_rescale_and_normalise_options(processor_class, random_face_image):
    raw = processor_class(size=SIZE, do_rescale=False, do_normalize=False)(random_face_image, return_tensors="pt")
    rescaling = processor_class(size=SIZE, do_normalize=False, rescale_factor=0.5)
    rescaled = rescaling(random_face_image, return_tensors="pt")
    torch.testing.assert_close(rescaled["pixel_values"], raw["pixel_values"] * 0.5)
    normalised = processor_class(size=SIZE, image_mean=[0.5], image_std=[0.25])(random_face_image, return_tensors="pt")
    torch.testing.assert_close(normalised["pixel_values"], (raw["pixel_values"] / 255 - 0.5) / 0.25)


@pytest.mark.parametrize("processor_class", BACKENDS)
def test_do_convert_rgb_false_keeps_the_images_own_channels(processor_class):
    rgba = np.random.default_rng(1).integers(0, 256, (40, 40, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: converted to RGB it is white
    options = {"do_rescale": False, "do_normalize": False, "return_tensors": "pt"}
    kept = processor_class(size=40)(rgba, do_convert_rgb=False, **options)["pixel_values"]
    assert kept.shape == (1, 4, 40, 40) and torch.equal(kept[0], torch.from_numpy(rgba).permute(2, 0, 1).float())
    converted = processor_class(size=40)(rgba, **options)["pixel_values"]
    assert converted.shape == (1, 3, 40, 40) and converted.unique().tolist() == [255.0]
    gray = processor_class(size=40)(PIL.Image.fromarray(rgba[..., 0]), do_convert_rgb=False, **options)
    assert gray["pixel_values"].shape == (1, 1, 40, 40)
    with pytest.raises(ValueError, match="image_mean has 3 values for images of 4 channels"):
        processor_class(size=40)(rgba, do_convert_rgb=False, return_tensors="pt")


# ---------------------------------------------------------------------------------------------------------------
# Bit depth: by the type's range, never by the content.
# ---------------------------------------------------------------------------------------------------------------


def test_sixteen_bit_is_scaled_by_its_range_not_its_maximum():
    dark = np.array([[0, 128, 129, 255, 256, 65535]], dtype=np.uint16)  # a 16-bit image whose max could be 255
    expected = [0, 0, 1, 1, 1, 255]
    assert to_rgb_tensor(dark)[0, 0].tolist() == expected
    assert to_rgb_tensor(dark[:, :4])[0, 0].tolist() == expected[:4]  # max 255: still 16-bit, not 8-bit
    assert to_rgb_tensor(PIL.Image.fromarray(dark[:, :4]))[0, 0].tolist() == expected[:4]  # PIL mode I;16
    assert to_rgb_tensor(torch.from_numpy(dark.astype(np.int32)))[0, 0].tolist() == expected  # int32: 16-bit samples
    assert to_rgb_tensor(PIL.Image.fromarray(dark.astype(np.int32)))[0, 0].tolist() == expected  # PIL mode "I"
    big_endian = np.array([[65535, 257]], dtype=">u2")
    assert to_rgb_tensor(big_endian)[0, 0].tolist() == [255, 1]


def test_floats_are_the_zero_to_one_range_whatever_their_content():
    values = np.array([[0.0, 0.5, 1.0, 2.0, 255.0, -1.0, np.nan]], dtype=np.float32)
    expected = [0, 128, 255, 255, 255, 0, 0]
    assert to_rgb_tensor(values)[0, 0].tolist() == expected
    assert to_rgb_tensor(values[:, 3:5])[0, 0].tolist() == [255, 255]  # 0-255 content: clipped, not rescaled
    assert to_rgb_tensor(torch.from_numpy(values).to(torch.float16))[0, 0].tolist() == expected
    assert to_rgb_tensor(PIL.Image.fromarray(values))[0, 0].tolist() == expected  # PIL mode "F"


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64, np.uint32])
def test_integer_types_without_a_known_range_are_refused(dtype):
    with pytest.raises(ValueError, match=f"unsupported image dtype {np.dtype(dtype)}"):
        to_rgb_tensor(np.zeros((4, 4, 3), dtype=dtype))


def test_a_folder_saved_from_the_pil_backend_loads_both_backends_as_remote_code(tmp_path):
    import json

    DeepFeverImageProcessorPil(size=SIZE).save_pretrained(tmp_path)
    assert (tmp_path / "image_processing_deepfever.py").is_file()
    auto_map = json.loads((tmp_path / "preprocessor_config.json").read_text())["auto_map"]["AutoImageProcessor"]
    assert auto_map == {
        "torchvision": "image_processing_deepfever.DeepFeverImageProcessor",
        "pil": "image_processing_deepfever.DeepFeverImageProcessorPil",
    }
    assert type(AutoImageProcessor.from_pretrained(tmp_path)) is DeepFeverImageProcessor

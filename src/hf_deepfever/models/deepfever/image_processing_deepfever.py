"""DeepFEVER image processor: any image -> RGB -> square face crop (box + margin, padded, never stretched)
-> resize -> normalise.

Two backends share every decision made here (RGB conversion, crop geometry): `DeepFeverImageProcessor`
(torchvision, the default: batched, stays on the input's device) and `DeepFeverImageProcessorPil` (PIL/NumPy).
They agree to about 1e-2 after normalisation; the only difference is each library's resampling kernel.

This file travels to the Hub as remote code: it imports only numpy, PIL, torch, torchvision and transformers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from torchvision.transforms.v2 import functional as tvF
from transformers.image_processing_backends import PilBackend, TorchvisionBackend
from transformers.image_processing_base import BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.processing_utils import ImagesKwargs

FaceBox = Sequence[float]  # (x, y, w, h) in pixels, (x, y) the top-left corner, as AffectNet gives it


class DeepFeverImageProcessorKwargs(ImagesKwargs, total=False):
    r"""
    face_boxes (`list[tuple[float, float, float, float] | None]`, *optional*):
        One face box per image, `(x, y, w, h)` in pixels; `None` (for the batch or one image) uses the whole image.
        Boxes reaching outside the image are clipped to it; a box with `w <= 0` or `h <= 0` is a `ValueError`.
    crop_margin (`float`, *optional*, defaults to `0.1`):
        Context kept around the face box on every side, as a fraction of the box's longer side.
    """

    face_boxes: list[FaceBox | None] | None
    crop_margin: float


# ---------------------------------------------------------------------------------------------------------------
# Input -> RGB uint8 tensor (3, H, W). One path for PIL, numpy and torch inputs so both backends see the same pixels.
# ---------------------------------------------------------------------------------------------------------------

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_EXIF_ORIENTATION_TAG = 0x0112


def apply_exif_orientation(image: PIL.Image.Image) -> PIL.Image.Image:
    """The image as a person sees it: rotated/flipped by its EXIF orientation tag, which is then removed.

    Phone portraits are often stored sideways with a tag saying how to turn them; boxes, landmarks and
    crops of user photos refer to the upright image. An image without the tag is returned as it is (the
    same object); an unreadable EXIF block is ignored with a warning and the image is used as stored.
    Corpus readers whose published boxes refer to the stored pixels do not call this.
    """
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception as error:  # corrupt EXIF data: PIL raises a variety of errors
        warnings.warn(f"ignoring an unreadable EXIF block ({error}); using the image as stored", stacklevel=2)
        return image
    if orientation in (None, 1):
        return image
    try:
        return PIL.ImageOps.exif_transpose(image)
    except Exception as error:
        warnings.warn(f"ignoring EXIF orientation {orientation!r} ({error}); using the image as stored", stacklevel=2)
        return image


def _flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """Composite an (H, W, 4) uint8 image onto white, the usual reading of transparent pixels."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def _pil_to_rgb_array(image: PIL.Image.Image) -> np.ndarray:
    """PIL image of any mode (1, L, P, RGBA, LA, CMYK, YCbCr, I;16, I, F, ...) -> (H, W, 3) uint8."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif mode != "F" and values.size and values.max() > 255:
            values = values / 257.0  # 16-bit range -> 8-bit range
        gray = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        return _flatten_alpha(np.asarray(image.convert("RGBA")))
    return np.asarray(image.convert("RGB"))


def _array_to_uint8(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dtype == torch.uint8:
        return tensor
    if tensor.dtype == torch.bool:
        return tensor.to(torch.uint8) * 255
    if tensor.is_floating_point():
        finite = torch.nan_to_num(tensor.float())
        # Floats in [0, 1] are the torchvision convention; anything larger is taken as 0-255 already.
        scale = 255.0 if finite.numel() == 0 or float(finite.max()) <= 1.0 else 1.0
        return (finite * scale).clamp(0, 255).round().to(torch.uint8)
    wide = tensor.to(torch.int64)
    if wide.numel() and int(wide.max()) > 255:  # 16-bit data
        wide = torch.div(wide, 257, rounding_mode="floor")
    return wide.clamp(0, 255).to(torch.uint8)


def to_rgb_tensor(image: Any) -> torch.Tensor:
    """Any supported image -> `torch.uint8` tensor of shape (3, H, W), on the input's device.

    Accepts PIL images of any mode, numpy arrays and torch tensors shaped (H, W), (H, W, C) or (C, H, W) with
    C in {1, 3, 4}, of dtype uint8, uint16/int (16-bit), bool or float (in [0, 1] or [0, 255]).
    """
    if isinstance(image, PIL.Image.Image):
        return torch.from_numpy(np.array(_pil_to_rgb_array(image), copy=True)).permute(2, 0, 1)
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint16:
            image = image.astype(np.int32)  # torch has no uint16 arithmetic on every version
        image = np.ascontiguousarray(image)
        tensor = torch.from_numpy(image if image.flags.writeable else image.copy())
    elif isinstance(image, torch.Tensor):
        tensor = image
    else:
        raise TypeError(f"unsupported image type {type(image).__name__}: expected a PIL image, numpy array or tensor")

    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise ValueError(f"an image must have 2 or 3 dimensions, got shape {tuple(tensor.shape)}")
    if tensor.shape[0] not in (1, 3, 4) and tensor.shape[-1] in (1, 3, 4):
        tensor = tensor.permute(2, 0, 1)  # channels-last -> channels-first
    channels, height, width = tensor.shape
    if channels not in (1, 3, 4):
        raise ValueError(f"an image must have 1, 3 or 4 channels, got shape {tuple(image.shape)}")
    if height == 0 or width == 0:
        raise ValueError(f"an image must not be empty, got shape {tuple(image.shape)}")
    tensor = _array_to_uint8(tensor)
    if channels == 1:
        return tensor.expand(3, height, width)
    if channels == 4:
        alpha = tensor[3:4].float() / 255.0
        return (tensor[:3].float() * alpha + 255.0 * (1.0 - alpha)).round().to(torch.uint8)
    return tensor


# ---------------------------------------------------------------------------------------------------------------
# Crop geometry, shared by both backends.
# ---------------------------------------------------------------------------------------------------------------


def square_crop_region(face_box: FaceBox | None, width: int, height: int, margin: float) -> tuple[int, int, int]:
    """The square `(left, top, side)` to cut out (may reach outside the image: that part is padded black).

    Without a box, the whole image is padded to a square around its centre. With a box, the box is first
    clipped to the image, then grown by `margin` times its longer side on every side and made square around
    its centre, so faces are never stretched.
    """
    if face_box is None:
        side = max(width, height)
        return (width - side) // 2, (height - side) // 2, side
    try:
        x, y, w, h = (float(value) for value in face_box)
    except (TypeError, ValueError):
        raise ValueError(f"face box {face_box!r} must be four numbers (x, y, w, h)") from None
    if not all(math.isfinite(value) for value in (x, y, w, h)):
        raise ValueError(f"face box {tuple(face_box)} holds a non-finite value")
    if w <= 0 or h <= 0:
        raise ValueError(f"face box {tuple(face_box)} is degenerate: width and height must be > 0")
    left, top = max(x, 0.0), max(y, 0.0)
    right, bottom = min(x + w, float(width)), min(y + h, float(height))
    if right <= left or bottom <= top:
        raise ValueError(f"face box {tuple(face_box)} lies entirely outside the {width}x{height} image")
    side = max(right - left, bottom - top) * (1.0 + 2.0 * margin)
    centre_x, centre_y = (left + right) / 2.0, (top + bottom) / 2.0
    side_px = max(1, round(side))
    return round(centre_x - side_px / 2.0), round(centre_y - side_px / 2.0), side_px


def _per_image_boxes(face_boxes: Any, count: int) -> list[FaceBox | None]:
    if face_boxes is None:
        return [None] * count
    if isinstance(face_boxes, (np.ndarray, torch.Tensor)):
        face_boxes = face_boxes.tolist()
    face_boxes = list(face_boxes)
    if count == 1 and len(face_boxes) == 4 and all(isinstance(v, (int, float)) for v in face_boxes):
        face_boxes = [face_boxes]  # one image, one box given flat
    if len(face_boxes) != count:
        raise ValueError(f"got {len(face_boxes)} face boxes for {count} images: pass one box (or None) per image")
    return face_boxes


def _normalisation(image_mean: Any, image_std: Any, rescale_factor: float, do_rescale: bool, do_normalize: bool):
    """Per-channel (scale, shift) so that output = pixel * scale + shift, fusing rescale and normalise."""
    scale = np.full(3, rescale_factor if do_rescale else 1.0, dtype=np.float64)
    shift = np.zeros(3, dtype=np.float64)
    if do_normalize:
        mean = np.broadcast_to(np.asarray(image_mean, dtype=np.float64), (3,))
        std = np.broadcast_to(np.asarray(image_std, dtype=np.float64), (3,))
        scale, shift = scale / std, -mean / std
    return scale.astype(np.float32), shift.astype(np.float32)


class _DeepFeverDefaults:
    """What both backends share: defaults (ImageNet statistics, what timm backbones are trained with) and the
    crop -> resize -> normalise loop. Each backend supplies only `_crop`, `_resize_square` and `_normalise`."""

    valid_kwargs = DeepFeverImageProcessorKwargs
    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 224, "width": 224}
    crop_margin = 0.1
    face_boxes = None
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        auto_map = output.get("auto_map") or {}
        if "AutoImageProcessor" in auto_map:
            # Per-backend form: remote-code users can pick either backend, and transformers does not guess a
            # non-existent video processor from it (which made pipelines prompt for remote code needlessly).
            auto_map["AutoImageProcessor"] = {
                "torchvision": "image_processing_deepfever.DeepFeverImageProcessor",
                "pil": "image_processing_deepfever.DeepFeverImageProcessorPil",
            }
        return output

    def _preprocess(
        self,
        images: list[Any],
        do_resize: bool,
        size: Any,
        do_rescale: bool,
        rescale_factor: float,
        do_normalize: bool,
        image_mean: Any,
        image_std: Any,
        face_boxes: Any = None,
        crop_margin: float = 0.1,
        return_tensors: Any = None,
        **kwargs: Any,
    ) -> BatchFeature:
        if size.height != size.width:
            raise ValueError(f"DeepFEVER crops are square: size must have height == width, got {dict(size)}")
        side = int(size.height)
        crops = []
        for image, box in zip(images, _per_image_boxes(face_boxes, len(images))):
            height, width = image.shape[-2:]
            left, top, crop_side = square_crop_region(box, width, height, crop_margin)
            crop = self._crop(image, left, top, crop_side)
            if do_resize and crop_side != side:
                crop = self._resize_square(crop, side)
            crops.append(crop)
        scale, shift = _normalisation(image_mean, image_std, rescale_factor, do_rescale, do_normalize)
        pixel_values = self._normalise(crops, scale, shift) if crops else []
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors)


class DeepFeverImageProcessor(_DeepFeverDefaults, TorchvisionBackend):
    r"""
    Constructs a DeepFEVER image processor (torchvision backend, the default).

    Converts any input to RGB, crops the face box (if given) with a margin, pads to a square instead of
    stretching, resizes to `size`, rescales and normalises with ImageNet statistics. Inputs stay on their
    device (pass CUDA tensors to preprocess on the GPU).

    Example:

    ```python
    >>> processor = DeepFeverImageProcessor(size={"height": 224, "width": 224})
    >>> batch = processor(images, face_boxes=[(x, y, w, h), None], return_tensors="pt")
    >>> batch["pixel_values"].shape
    torch.Size([2, 3, 224, 224])
    ```
    """

    def process_image(self, image: Any, device: Any = None, **kwargs: Any) -> torch.Tensor:
        tensor = to_rgb_tensor(image)
        return tensor.to(device) if device is not None else tensor

    def _crop(self, image: torch.Tensor, left: int, top: int, side: int) -> torch.Tensor:
        return tvF.crop(image, top, left, side, side)  # zero-pads what lies outside the image

    def _resize_square(self, crop: torch.Tensor, side: int) -> torch.Tensor:
        return tvF.resize(crop, [side, side], interpolation=tvF.InterpolationMode.BILINEAR, antialias=True)

    def _normalise(self, crops: list[torch.Tensor], scale: np.ndarray, shift: np.ndarray) -> Any:
        device = crops[0].device
        scale_t = torch.from_numpy(scale).to(device)[:, None, None]
        shift_t = torch.from_numpy(shift).to(device)[:, None, None]
        if len({crop.shape for crop in crops}) == 1:
            return torch.stack(crops).float() * scale_t + shift_t
        return [crop.float() * scale_t + shift_t for crop in crops]  # only without resizing


class DeepFeverImageProcessorPil(_DeepFeverDefaults, PilBackend):
    r"""
    The PIL/NumPy twin of [`DeepFeverImageProcessor`]: same conversion, crop geometry and normalisation,
    PIL's bilinear (antialiased) resampling. Load it with `AutoImageProcessor.from_pretrained(..., backend="pil")`.
    """

    def process_image(self, image: Any, **kwargs: Any) -> np.ndarray:
        return to_rgb_tensor(image).cpu().numpy()

    def _crop(self, image: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
        _, height, width = image.shape
        crop = np.zeros((3, side, side), dtype=np.uint8)  # black outside the image, as tvF.crop pads
        src_left, src_top = max(left, 0), max(top, 0)
        src_right, src_bottom = min(left + side, width), min(top + side, height)
        if src_right > src_left and src_bottom > src_top:
            crop[:, src_top - top : src_bottom - top, src_left - left : src_right - left] = image[
                :, src_top:src_bottom, src_left:src_right
            ]
        return crop

    def _resize_square(self, crop: np.ndarray, side: int) -> np.ndarray:
        resized = PIL.Image.fromarray(crop.transpose(1, 2, 0)).resize((side, side), PIL.Image.Resampling.BILINEAR)
        return np.asarray(resized).transpose(2, 0, 1)

    def _normalise(self, crops: list[np.ndarray], scale: np.ndarray, shift: np.ndarray) -> list[np.ndarray]:
        return [crop.astype(np.float32) * scale[:, None, None] + shift[:, None, None] for crop in crops]


DeepFeverImageProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = [
    "apply_exif_orientation",
    "DeepFeverImageProcessor",
    "DeepFeverImageProcessorKwargs",
    "DeepFeverImageProcessorPil",
    "square_crop_region",
    "to_rgb_tensor",
]

"""Real photographs for the face-detection and face-pipeline tests, built from matplotlib's Grace Hopper portrait.

Every variant is made from the one real photo in matplotlib's wheel (a dependency): copies stored rotated with an
EXIF orientation tag, a grayscale copy, a downscaled copy, a two-person composite, a face cut by the border, a copy
with a corrupt EXIF block, and images without a face. The reference points were measured by hand on the original
(512x600) photo, zoomed 3x with a 20 px grid.

scikit-image's wheel (the dev extra) adds `astronaut.png`, a one-person photo with a suit badge dlib used to take
for a face (`skimage_photo`: a skip without scikit-image, a failure under CI).
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import matplotlib
import numpy as np
import PIL.Image
import pytest

SAMPLE_DATA = Path(matplotlib.get_data_path()) / "sample_data"
GRACE_HOPPER = SAMPLE_DATA / "grace_hopper.jpg"
GIFT_PNG = SAMPLE_DATA / "Minduka_Present_Blue_Pack.png"  # a drawn gift box (RGBA): no face

# Measured by hand on the original: cheek to cheek (x 163-358), eyebrows to chin (y 160-330).
HAND_FACE_BOX = (163.0, 160.0, 195.0, 170.0)
# As seen in the image: left eye's pupil, right eye's pupil, nose tip, left and right mouth corner.
HAND_LANDMARKS = ((220.0, 192.0), (305.0, 187.0), (263.0, 240.0), (228.0, 277.0), (297.0, 273.0))

# astronaut.png (512x512), measured the same way (zoomed 3x, 20 px grid): cheek to cheek (x 183-273), eyebrows to
# chin (y 86-183). benchmarks/face_detection_precision.py holds the same box.
ASTRONAUT_FACE_BOX = (183.0, 86.0, 90.0, 97.0)
ASTRONAUT_BADGE = (127.0, 336.0, 90.0, 90.0)  # the suit's badge: dlib's box for it, margin 0.05

EXIF_ORIENTATION = 0x0112
# How the stored pixels are turned from the upright ones, so that the tag's rotation makes them upright again.
_STORE_ROTATED = {3: PIL.Image.Transpose.ROTATE_180, 6: PIL.Image.Transpose.ROTATE_90, 8: PIL.Image.Transpose.ROTATE_270}


def grace_hopper() -> PIL.Image.Image:
    """The upright original, RGB, 512x600."""
    with PIL.Image.open(GRACE_HOPPER) as image:
        return image.convert("RGB")


def skimage_photo(name: str) -> Path:
    """A photo shipped in scikit-image's wheel (`skimage/data/<name>`); scikit-image is in the dev extra, so under
    CI (`CI=true`) its absence is a failure, elsewhere a skip."""
    try:
        import skimage
    except ImportError as error:
        message = f"scikit-image (the dev extra) is not installed, so {name} is not here: {error}"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    path = Path(skimage.__file__).parent / "data" / name
    if not path.is_file():
        pytest.fail(f"scikit-image {skimage.__version__} has no {path}", pytrace=False)
    return path


def box_centre(box) -> tuple[float, float]:
    x, y, w, h = box
    return (x + w / 2, y + h / 2)


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = width * height
    return inter / (aw * ah + bw * bh - inter)


def contains(box, point, slack: float = 0.0) -> bool:
    x, y, w, h = box
    return x - slack <= point[0] <= x + w + slack and y - slack <= point[1] <= y + h + slack


def scaled_box(box, factor: float, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (x * factor + dx, y * factor + dy, w * factor, h * factor)


def write_exif_rotated(path: Path, orientation: int) -> Path:
    """A JPEG whose stored pixels are the portrait turned sideways/upside down, with the EXIF tag that undoes it
    (as a phone stores a portrait)."""
    exif = PIL.Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    grace_hopper().transpose(_STORE_ROTATED[orientation]).save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def write_grayscale(path: Path) -> Path:
    grace_hopper().convert("L").save(path, "JPEG", quality=95)
    return path


def downscaled(factor: float = 0.5) -> PIL.Image.Image:
    image = grace_hopper()
    return image.resize((round(image.width * factor), round(image.height * factor)), PIL.Image.Resampling.LANCZOS)


# Two people side by side: the original at the left, a half-size copy at SMALL_OFFSET on a gray canvas.
COMPOSITE_SIZE = (830, 600)
SMALL_OFFSET = (560, 160)


def two_person_composite() -> PIL.Image.Image:
    canvas = PIL.Image.new("RGB", COMPOSITE_SIZE, (128, 128, 128))
    canvas.paste(grace_hopper(), (0, 0))
    canvas.paste(downscaled(0.5), SMALL_OFFSET)
    return canvas


CUT_LEFT = 200  # columns removed from the left: the border runs through the left cheek and eye glass


def face_cut_by_border() -> PIL.Image.Image:
    image = grace_hopper()
    return image.crop((CUT_LEFT, 0, image.width, image.height))


def gradient(width: int = 400, height: int = 300) -> np.ndarray:
    """A smooth colour gradient: no face, no edges a detector could mistake for one."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 128)], axis=-1).astype(np.uint8)


def write_corrupt_exif(path: Path) -> Path:
    """The portrait as a JPEG whose EXIF block is cut off in the middle of its orientation entry."""
    buffer = io.BytesIO()
    grace_hopper().save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    # TIFF header, one IFD entry announced, the entry (tag 0x0112, type SHORT, count 1) truncated after 6 bytes.
    tiff = b"II\x2a\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHI", EXIF_ORIENTATION, 3, 1)[:6]
    payload = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:2] + segment + data[2:])  # right after the JPEG's start-of-image marker
    return path

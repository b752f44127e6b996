"""Opening image files with errors that name the file and say what is wrong.

PIL's own failures (a truncated JPEG, a text file, a header declaring billions of pixels) surface as a
variety of exception types and messages without the path; everything that reads image files (the CLI,
training, evaluation) goes through `open_image` so that each becomes one `ImageFileError(path, reason)`, and
so that EXIF orientation is handled by one rule: applied for a user's photos, neutralised for corpora.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import PIL.Image

from .files import missing_path_reason, open_regular_file
from .vocabulary import IMAGE_EXTENSIONS

_EXIF_ORIENTATION_TAG = 0x0112


class ImageFileError(ValueError):
    """An image file that cannot be used, with the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def open_image(path: str | os.PathLike[str], *, exif: bool = True) -> PIL.Image.Image:
    """Decode an image file fully (so truncation is caught here, not later) and return it in its own mode.

    Args:
        path: the file.
        exif: `True` (for a user's photos): apply the EXIF orientation, so the image is upright as a person sees
            it and boxes/landmarks found on it refer to those pixels (an unreadable EXIF block is ignored with a
            warning). `False` (for corpora whose published boxes and landmarks refer to the stored pixels:
            AffectNet, FEC, RAF-DB, face folders): keep the stored pixels and neutralise the orientation tag, so
            the image processor, which applies the tag of any PIL image it is given, does not rotate it later.

    PIL's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`, about 89 megapixels) is enforced strictly:
    an image whose header declares more pixels is refused before any pixel is decoded.
    """
    path = Path(path)
    try:
        handle = open_regular_file(path)
    except OSError as error:
        # open_regular_file's message is "<path>: <reason>" (no such file, dangling link and where it points,
        # link loop, not a regular file, ...): keep the reason whole.
        raise ImageFileError(path, str(error).removeprefix(f"{path}: ")) from None
    with handle:
        return _decode(handle, path, exif=exif)


def decode_image_bytes(data: bytes, name: str, *, exif: bool = True) -> PIL.Image.Image:
    """`open_image` for an image held in memory (e.g. the `bytes` of a datasets `Image` column); `name` is
    what errors call it."""
    return _decode(io.BytesIO(data), name, exif=exif)


def _decode(handle: BinaryIO, name: str | os.PathLike[str], *, exif: bool) -> PIL.Image.Image:
    try:
        with warnings.catch_warnings():
            # PIL only warns between 1x and 2x the limit; refuse there too instead of decoding a huge image.
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(handle) as image:
                image.load()
                decoded = _upright(image) if exif else image
                decoded = decoded.copy() if decoded is image else decoded  # detached from the file
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning) as error:
        raise ImageFileError(name, f"refused as a decompression bomb ({error})") from None
    except PIL.UnidentifiedImageError:
        raise ImageFileError(name, "not an image file that PIL can identify") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise ImageFileError(name, f"cannot decode image ({error})") from None
    # Upright or stored, what is returned carries no orientation left to apply (nor an unreadable EXIF block
    # that the processor would warn about a second time).
    return _without_orientation(decoded)


def _upright(image: PIL.Image.Image) -> PIL.Image.Image:
    # The image processor's own rule (a model file, so remote-code users get it too): one EXIF rule everywhere.
    from ..models.deepfever.image_processing_deepfever import apply_exif_orientation

    return apply_exif_orientation(image)


def _without_orientation(image: PIL.Image.Image) -> PIL.Image.Image:
    """`image` with its orientation tag set to 1 (as stored), in the cached EXIF and in `info` for copies."""
    try:
        tags = image.getexif()
        if tags.get(_EXIF_ORIENTATION_TAG, 1) not in (None, 1):
            tags[_EXIF_ORIENTATION_TAG] = 1  # 1 rather than removal: XMP copies of the tag are then not consulted
            image.info["exif"] = tags.tobytes()
    except Exception:  # an unreadable EXIF block (PIL raises many types): drop it, nothing downstream can read it
        image.info.pop("exif", None)
        image.getexif().clear()
    return image


def find_image_files(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image files; a path that cannot be used is an error.

    Files named explicitly are kept whatever their extension (a bad one then fails with its name); files
    found inside folders are kept only if their extension is an image extension. A path that does not resolve
    is a `FileNotFoundError` saying why: no such file or folder, a symbolic link loop, a dangling link.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: {missing_path_reason(path) or 'no such file or folder'}")
    return found


def decode_dataset_image(value: object, where: str, *, exif: bool) -> PIL.Image.Image:
    """One undecoded datasets ``Image`` value (``{"bytes", "path"}``) -> PIL image, through the one opener.

    ``where`` names the row in errors when the value has no path. Corpus rows pass ``exif=False`` (their boxes
    refer to the stored pixels); a user's dataset of photos passes ``exif=True``.
    """
    if not isinstance(value, dict):
        raise ImageFileError(where, f"not a datasets Image value (got {type(value).__name__})")
    if value.get("bytes") is not None:
        return decode_image_bytes(value["bytes"], value.get("path") or where, exif=exif)
    if value.get("path"):
        return open_image(value["path"], exif=exif)
    raise ImageFileError(where, "the image has neither bytes nor a path")


__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFileError",
    "decode_dataset_image",
    "decode_image_bytes",
    "find_image_files",
    "open_image",
]

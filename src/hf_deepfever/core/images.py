"""Opening image files with errors that name the file and say what is wrong.

PIL's own failures (a truncated JPEG, a text file, a header declaring billions of pixels) surface as a
variety of exception types and messages without the path; everything that reads user files goes through
`open_image` so that each becomes one `ImageFileError(path, reason)`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import PIL.Image

from .files import open_regular_file
from .vocabulary import IMAGE_EXTENSIONS


class ImageFileError(ValueError):
    """An image file that cannot be used, with the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def open_image(path: str | os.PathLike[str]) -> PIL.Image.Image:
    """Decode an image file fully (so truncation is caught here, not later) and return it in its own mode.

    PIL's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`, about 89 megapixels) is enforced strictly:
    an image whose header declares more pixels is refused before any pixel is decoded.
    """
    path = Path(path)
    try:
        handle = open_regular_file(path)
    except OSError as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else str(error).removeprefix(f"{path}: ")
        raise ImageFileError(path, reason) from None
    try:
        with handle, warnings.catch_warnings():
            # PIL only warns between 1x and 2x the limit; refuse there too instead of decoding a huge image.
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(handle) as image:
                image.load()
                return image.copy()
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning) as error:
        raise ImageFileError(path, f"refused as a decompression bomb ({error})") from None
    except PIL.UnidentifiedImageError:
        raise ImageFileError(path, "not an image file that PIL can identify") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise ImageFileError(path, f"cannot decode image ({error})") from None


def find_image_files(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image files; a missing path is an error.

    Files named explicitly are kept whatever their extension (a bad one then fails with its name); files
    found inside folders are kept only if their extension is an image extension.
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
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


__all__ = ["IMAGE_EXTENSIONS", "ImageFileError", "find_image_files", "open_image"]

"""open_image / find_image_files: every bad file gets an error that names it and says what is wrong; EXIF
orientation is applied for user photos and neutralised for corpora."""

from __future__ import annotations

import warnings

import numpy as np
import PIL.Image
import pytest

from bad_images import (
    write_decompression_bomb_png,
    write_good_jpeg,
    write_not_an_image,
    write_one_pixel_png,
    write_truncated_jpeg,
)
from hf_deepfever import DeepFeverImageProcessorPil
from hf_deepfever.core.images import ImageFileError, decode_image_bytes, find_image_files, open_image


@pytest.mark.parametrize(
    ("writer", "reason"),
    [
        (write_truncated_jpeg, "cannot decode image"),
        (write_not_an_image, "not an image file"),
        (write_decompression_bomb_png, "decompression bomb"),
    ],
)
def test_bad_files_name_the_file(tmp_path, writer, reason):
    path = writer(tmp_path / "bad.jpg")
    with pytest.raises(ImageFileError, match=reason) as info:
        open_image(path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageFileError, match="no such file"):
        open_image(tmp_path / "absent.jpg")


def test_unusable_links_keep_their_reason(tmp_path):
    loop, dangling = tmp_path / "loop.jpg", tmp_path / "dangling.jpg"
    loop.symlink_to(loop)
    dangling.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(ImageFileError, match="symbolic link loop") as info:
        open_image(loop)
    assert info.value.reason.startswith("symbolic link loop")
    with pytest.raises(ImageFileError, match="dangling symbolic link") as info:
        open_image(dangling)
    assert "gone.jpg" in info.value.reason and not info.value.reason.startswith(str(dangling))


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageFileError, match="not a regular file"):
        open_image(tmp_path)


def test_one_pixel_image_opens(tmp_path):
    assert open_image(write_one_pixel_png(tmp_path / "dot.png")).size == (1, 1)


def test_find_image_files_recurses_sorted_and_keeps_explicit_files(tmp_path):
    (tmp_path / "b").mkdir()
    write_good_jpeg(tmp_path / "b" / "2.jpg")
    write_good_jpeg(tmp_path / "a.JPG")
    (tmp_path / "notes.txt").write_text("x")
    explicit = write_not_an_image(tmp_path / "explicit.dat")
    assert find_image_files([tmp_path]) == [tmp_path / "a.JPG", tmp_path / "b" / "2.jpg"]
    assert find_image_files([explicit]) == [explicit]
    with pytest.raises(FileNotFoundError, match="absent: no such file or folder"):
        find_image_files([tmp_path / "absent"])


def test_find_image_files_says_why_a_link_is_unusable(tmp_path):
    loop, dangling = tmp_path / "loop.jpg", tmp_path / "dangling.jpg"
    loop.symlink_to(loop)
    dangling.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(FileNotFoundError, match="loop.jpg: symbolic link loop"):
        find_image_files([loop])
    with pytest.raises(FileNotFoundError, match="dangling.jpg: dangling symbolic link .*gone.jpg"):
        find_image_files([dangling])
    write_good_jpeg(tmp_path / "good.jpg")
    assert find_image_files([tmp_path]) == [tmp_path / "good.jpg"]  # unusable links inside a folder: not images


# ---------------------------------------------------------------------------------------------------------------
# EXIF orientation: applied for a user's photos (exif=True), neutralised for corpora (exif=False).
# ---------------------------------------------------------------------------------------------------------------

_ORIENTATION = 0x0112
# Stored pixels that the orientation tag turns back into the upright picture (PIL's exif_transpose inverses).
_STORE_AS = {3: PIL.Image.Transpose.ROTATE_180, 6: PIL.Image.Transpose.ROTATE_90, 8: PIL.Image.Transpose.ROTATE_270}


def write_sideways(path, upright: PIL.Image.Image, orientation: int, **save_options):
    """Save `upright` as a camera would: pixels stored turned, with the EXIF tag that turns them back."""
    exif = PIL.Image.Exif()
    exif[_ORIENTATION] = orientation
    upright.transpose(_STORE_AS[orientation]).save(path, exif=exif.tobytes(), **save_options)
    return path


@pytest.fixture
def upright():
    return PIL.Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 50, 3), dtype=np.uint8))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_user_photos_open_upright(tmp_path, upright, orientation):
    path = write_sideways(tmp_path / "photo.png", upright, orientation)
    opened = open_image(path)
    assert np.array_equal(np.asarray(opened), np.asarray(upright))
    assert opened.getexif().get(_ORIENTATION, 1) == 1  # nothing left for the processor to apply again
    processor = DeepFeverImageProcessorPil(size={"height": 32, "width": 32})
    assert np.array_equal(processor(opened)["pixel_values"][0], processor(upright)["pixel_values"][0])


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_corpus_images_keep_their_stored_pixels(tmp_path, upright, orientation):
    path = write_sideways(tmp_path / "corpus.png", upright, orientation)
    stored = np.asarray(upright.transpose(_STORE_AS[orientation]))
    opened = open_image(path, exif=False)
    assert np.array_equal(np.asarray(opened), stored)
    # The tag is neutralised, so the processor (which applies the tag of any PIL image) keeps the stored pixels,
    # also on a copy of the image.
    processor = DeepFeverImageProcessorPil(size={"height": 32, "width": 32})
    assert np.array_equal(processor(opened.copy())["pixel_values"][0], processor(stored)["pixel_values"][0])


def test_processor_applies_the_tag_of_an_image_opened_elsewhere(tmp_path, upright):
    path = write_sideways(tmp_path / "photo.png", upright, 6)
    processor = DeepFeverImageProcessorPil(size={"height": 32, "width": 32})
    with PIL.Image.open(path) as tagged:
        assert np.array_equal(processor(tagged)["pixel_values"][0], processor(upright)["pixel_values"][0])


def test_xmp_orientation_is_handled_like_the_exif_tag(tmp_path, upright):
    from PIL import PngImagePlugin

    xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    path = tmp_path / "xmp.png"
    upright.transpose(_STORE_AS[6]).save(path, pnginfo=info)
    assert np.array_equal(np.asarray(open_image(path)), np.asarray(upright))
    stored = open_image(path, exif=False)
    processor = DeepFeverImageProcessorPil(size={"height": 32, "width": 32})
    assert np.array_equal(processor(stored)["pixel_values"][0], processor(np.asarray(stored))["pixel_values"][0])


def test_corrupt_exif_block_is_ignored(tmp_path, upright):
    path = tmp_path / "corrupt.jpg"
    upright.save(path, exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f", quality=95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's own "Corrupt EXIF data" warning
        assert open_image(path).size == upright.size and open_image(path, exif=False).size == upright.size


def test_image_bytes_go_through_the_same_decoder(tmp_path, upright):
    path = write_sideways(tmp_path / "photo.png", upright, 8)
    data = path.read_bytes()
    assert np.array_equal(np.asarray(decode_image_bytes(data, "row 3")), np.asarray(upright))
    stored = decode_image_bytes(data, "row 3", exif=False)
    assert np.array_equal(np.asarray(stored), np.asarray(open_image(path, exif=False)))
    with pytest.raises(ImageFileError, match="row 3: not an image file"):
        decode_image_bytes(b"not an image", "row 3")

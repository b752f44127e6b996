"""open_image / find_image_files: every bad file gets an error that names it and says what is wrong."""

from __future__ import annotations

import pytest

from bad_images import (
    write_decompression_bomb_png,
    write_good_jpeg,
    write_not_an_image,
    write_one_pixel_png,
    write_truncated_jpeg,
)
from hf_deepfever.core.images import ImageFileError, find_image_files, open_image


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
    with pytest.raises(FileNotFoundError, match="absent"):
        find_image_files([tmp_path / "absent"])

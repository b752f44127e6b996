"""core.files on hostile paths: every error names the file and says what is wrong, nothing blocks, and a file
read whole has a size limit."""

from __future__ import annotations

import os

import pytest

from hf_deepfever.core.files import FileTooLargeError, missing_path_reason, open_regular_file, read_regular_text


def test_each_kind_of_unusable_path_is_named_and_explained(tmp_path):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop.name)
    dangling = tmp_path / "dangling.jpg"
    dangling.symlink_to("nowhere.jpg")
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    cases = {
        loop: f"{loop}: symbolic link loop",
        dangling: f"{dangling}: dangling symbolic link (to nowhere.jpg, which does not exist)",
        tmp_path / "absent.jpg": f"{tmp_path / 'absent.jpg'}: no such file",
        fifo: f"{fifo}: not a regular file (a FIFO)",
        tmp_path: f"{tmp_path}: not a regular file (a folder)",
    }
    for path, message in cases.items():
        with pytest.raises(OSError) as caught:
            open_regular_file(path)
        assert str(caught.value).startswith(message), str(caught.value)
    assert missing_path_reason(loop).startswith("symbolic link loop")
    assert missing_path_reason(tmp_path / "absent.jpg") == "no such file or folder"
    assert missing_path_reason(fifo) is None


def test_read_regular_text_refuses_files_over_its_limit_before_reading(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b"{}" + b" " * 1000)
    assert read_regular_text(path, max_bytes=2000).strip() == "{}"
    with pytest.raises(FileTooLargeError, match=r"config\.json: 1,002 bytes, more than the 100 accepted here"):
        read_regular_text(path, max_bytes=100)
    path.write_bytes(b"a\r\nb\rc\n")
    assert read_regular_text(path) == "a\nb\nc\n"  # line ends as open(path) reads them

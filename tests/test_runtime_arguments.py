"""Runtime options (--device, --num-threads, --num-workers, --batch-size) are checked before anything is loaded,
with one clear line from the CLI instead of a traceback or a silently altered value."""

from __future__ import annotations

import argparse

import pytest
import torch

from hf_deepfever.inference.devices import checked_count, checked_device, validate_runtime_arguments


def test_devices_are_checked_against_this_machine():
    assert checked_device("cpu") == torch.device("cpu")
    assert checked_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match=r"--device 'bogus' is not a device"):
        checked_device("bogus")
    with pytest.raises(ValueError, match="meta device holds no data"):
        checked_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"--device cuda: CUDA is not available .*use --device cpu"):
            checked_device("cuda")
    with pytest.raises(ValueError, match=r"--device cuda:99"):
        checked_device("cuda:99")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("num_threads", -3, r"--num-threads must be at least 1, got -3"), ("num_threads", 0, "at least 1"),
     ("num_workers", -1, r"--num-workers must be at least 0"), ("batch_size", 0, r"--batch-size must be at least 1")],
)
def test_counts_below_their_minimum_are_refused(option, value, message):
    args = argparse.Namespace(device="cpu", num_threads=None, num_workers=None, batch_size=None)
    setattr(args, option, value)
    with pytest.raises(ValueError, match=message):
        validate_runtime_arguments(args)
    assert checked_count(None, "--x", 1) is None and checked_count(4, "--x", 1) == 4
    with pytest.raises(ValueError, match="whole number"):
        checked_count(True, "--x", 0)


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--device", "bogus"], "is not a device"), (["--num-threads", "-3"], "--num-threads must be at least 1")]
    + ([] if torch.cuda.is_available() else [(["--device", "cuda"], "CUDA is not available")]),
)
def test_extract_reports_bad_runtime_options_in_one_line(tiny_model_dir, tmp_path, capsys, flags, message):
    from PIL import Image

    from hf_deepfever.cli import main

    image = tmp_path / "face.png"
    Image.new("RGB", (16, 16)).save(image)
    code = main(["extract", str(image), "--model", tiny_model_dir, "--output", str(tmp_path / "out.csv"), *flags])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and message in error[0], error
    assert not (tmp_path / "out.csv").exists()

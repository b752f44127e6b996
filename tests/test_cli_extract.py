"""`deepfever extract` on a folder with one broken file, with and without --skip-bad, CSV and parquet."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from bad_images import write_good_jpeg, write_one_pixel_png, write_truncated_jpeg
from hf_deepfever import AFFECTNET_EXPRESSIONS
from hf_deepfever.cli import main
from hf_deepfever.core.images import open_image


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "faces"
    (folder / "nested").mkdir(parents=True)
    for index in range(4):
        write_good_jpeg(folder / f"face_{index}.jpg", seed=index)
    write_one_pixel_png(folder / "nested" / "dot.png")
    write_truncated_jpeg(folder / "nested" / "truncated.jpg")
    return folder


def test_broken_file_stops_with_its_name(tiny_model_dir, image_folder, tmp_path, capsys):
    output = tmp_path / "vectors.csv"
    code = main(["extract", str(image_folder), "--model", tiny_model_dir, "--output", str(output), "--num-workers", "0"])
    assert code == 2
    assert "truncated.jpg" in capsys.readouterr().err
    assert not output.exists() and not list(tmp_path.glob(".vectors.csv*"))  # no half table left behind


def test_skip_bad_writes_parquet_rows_and_counts(tiny_model_dir, image_folder, tmp_path, capsys):
    output = tmp_path / "vectors.parquet"
    code = main(
        ["extract", str(image_folder), "--model", tiny_model_dir, "--output", str(output), "--skip-bad",
         "--batch-size", "2", "--num-workers", "1"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "skipped 1 unreadable image(s) of 6" in err and "truncated.jpg" in err
    table = pd.read_parquet(output)
    assert len(table) == 5
    assert list(table.columns) == ["path", "expression", "probability", "valence", "arousal", "vector"]
    assert set(table["expression"]) <= set(AFFECTNET_EXPRESSIONS)
    assert table["probability"].between(0, 1).all() and table[["valence", "arousal"]].abs().le(1).all().all()

    # Rows agree with the model run directly on the same file.
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
    first = table.iloc[0]
    with torch.no_grad():
        expected = model(**processor(open_image(first["path"]), return_tensors="pt"))
    assert np.allclose(np.stack(first["vector"]), expected.pooler_output[0].numpy(), atol=1e-5)
    assert first["expression"] == model.config.id2label[int(expected.logits.argmax())]


def test_csv_spreads_the_vector_over_columns(tiny_model_dir, image_folder, tmp_path):
    output = tmp_path / "vectors.csv"
    assert main(["extract", str(image_folder / "face_0.jpg"), str(image_folder / "face_1.jpg"),
                 "--model", tiny_model_dir, "--output", str(output), "--num-workers", "0"]) == 0
    table = pd.read_csv(output)
    dims = [c for c in table.columns if c.startswith("vector_")]
    assert len(table) == 2 and len(dims) == 16
    assert np.allclose(np.linalg.norm(table[dims].to_numpy(), axis=1), 1.0, atol=1e-4)


def test_bad_output_extension(tiny_model_dir, image_folder, tmp_path, capsys):
    assert main(["extract", str(image_folder), "--model", tiny_model_dir, "--output", str(tmp_path / "x.txt")]) == 2
    assert ".parquet or .csv" in capsys.readouterr().err


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "hf_deepfever.cli", "extract", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--model", "--output", "--batch-size", "--device", "--skip-bad"):
        assert option in result.stdout

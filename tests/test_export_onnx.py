"""`deepfever export-onnx`: the ONNX graph matches PyTorch (any batch size), bad arguments fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForImageClassification

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from hf_deepfever.cli import main  # noqa: E402
from hf_deepfever.inference.onnx import check_onnx, export_onnx, onnx_session  # noqa: E402


def test_cli_exports_model_with_heads_matching_pytorch(tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "model.onnx"
    assert main(["export-onnx", "--model", tiny_model_dir, "--output", str(output)]) == 0
    assert "max |diff|" in capsys.readouterr().err
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    assert model.training is False
    size = model.config.image_size
    pixels = torch.randn(5, 3, size, size, generator=torch.Generator().manual_seed(1))  # not the export's batch
    session = onnx_session(output)
    assert [o.name for o in session.get_outputs()] == ["expression_vector", "logits", "valence_arousal"]
    vector, logits, affect = session.run(None, {"pixel_values": pixels.numpy()})
    with torch.no_grad():
        expected = model(pixel_values=pixels)
    np.testing.assert_allclose(vector, expected.pooler_output.numpy(), atol=1e-4)
    np.testing.assert_allclose(logits, expected.logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(affect, expected.valence_arousal.numpy(), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-5)


def test_export_leaves_model_in_eval_mode_and_vector_only_model(tiny_model_dir, tmp_path):
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    path = export_onnx(model, tmp_path / "vector.onnx")
    assert model.training is False  # the exporter restores the wrapper's mode, not the model's: we keep eval
    check = check_onnx(model, path, batch_size=1)
    assert check.ok and set(check.max_abs_diff) == {"expression_vector"}
    assert not list(tmp_path.glob(".vector.onnx*"))  # no temporary file left behind


def test_check_detects_a_different_model(tiny_model_dir, tmp_path):
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    path = export_onnx(model, tmp_path / "vector.onnx")
    with torch.no_grad():
        model.projection.linear.weight.mul_(-1.0)  # now PyTorch and the graph disagree
    assert not check_onnx(model, path).ok


def test_cli_rejects_wrong_extension_and_missing_folder(tiny_model_dir, tmp_path, capsys):
    assert main(["export-onnx", "--model", tiny_model_dir, "--output", str(tmp_path / "model.onx")]) == 2
    assert ".onnx" in capsys.readouterr().err
    assert main(["export-onnx", "--model", tiny_model_dir, "--output", str(tmp_path / "no" / "m.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_extract_with_onnx_matches_pytorch_rows(tiny_model_dir, tmp_path):
    import pandas as pd

    from bad_images import write_good_jpeg

    folder = tmp_path / "faces"
    folder.mkdir()
    for index in range(3):
        write_good_jpeg(folder / f"face_{index}.jpg", seed=index)
    tables = {}
    for name, extra in (("torch", []), ("onnx", ["--onnx"])):
        output = tmp_path / f"{name}.parquet"
        args = ["extract", str(folder), "--model", tiny_model_dir, "--output", str(output), "--num-workers", "0"]
        assert main(args + extra) == 0
        tables[name] = pd.read_parquet(output)
    assert list(tables["onnx"]["path"]) == list(tables["torch"]["path"])
    assert list(tables["onnx"]["expression"]) == list(tables["torch"]["expression"])
    np.testing.assert_allclose(np.stack(tables["onnx"]["vector"]), np.stack(tables["torch"]["vector"]), atol=1e-4)
    np.testing.assert_allclose(tables["onnx"]["valence"], tables["torch"]["valence"], atol=1e-4)


def test_failing_check_keeps_the_previous_good_export(tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "model.onnx"
    assert main(["export-onnx", "--model", tiny_model_dir, "--output", str(output)]) == 0
    good = output.read_bytes()
    # A tolerance no float32 graph can meet: the check fails, and the file already there must survive it.
    assert main(["export-onnx", "--model", tiny_model_dir, "--output", str(output), "--tolerance", "1e-30"]) == 2
    assert "was not written" in capsys.readouterr().err
    assert output.read_bytes() == good
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]  # no temporary file left behind


@pytest.mark.parametrize("tolerance", ["-1", "0", "nan"])
def test_tolerance_must_be_positive(tiny_model_dir, tmp_path, capsys, tolerance):
    output = tmp_path / "model.onnx"
    assert main(["export-onnx", "--model", tiny_model_dir, "--output", str(output), "--tolerance", tolerance]) == 2
    assert "tolerance must be a positive number" in capsys.readouterr().err
    assert not output.exists()

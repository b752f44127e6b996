"""`deepfever extract --output DIR/`: Parquet shards and a hidden manifest that survive `kill -9` (the same
command finishes the job, every input exactly once, the vectors of an uninterrupted run), refuse another run's
folder unless --overwrite, and load with `datasets.load_dataset("parquet", data_dir=DIR)` and `read_vectors`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from bad_images import write_good_jpeg, write_truncated_jpeg
from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.cli import main
from hf_deepfever.inference.shards import MANIFEST_NAME
from hf_deepfever.search.identity import MODEL_METADATA_KEY, model_fingerprint
from hf_deepfever.search.vectors_table import read_vectors
from tolerances import REORDERED

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shard_photos")
    for index in range(40):
        write_good_jpeg(folder / f"face_{index:03d}.jpg", seed=index)
    write_truncated_jpeg(folder / "face_007b.jpg")  # unreadable: skipped with --skip-bad, in shard 2
    return folder


def _rows(folder: Path):
    table = pq.read_table(sorted(folder.glob("part-*.parquet")))
    return table.column("path").to_pylist(), np.stack(table.column("vector").to_numpy(zero_copy_only=False))


def _extract(photos, model, output, *extra) -> int:
    return main(["extract", str(photos), "--model", model, "--output", f"{output}/", "--skip-bad",
                 "--num-workers", "0", *extra])


def test_a_killed_run_resumes_to_exactly_once_rows_with_the_vectors_of_one_run(photos, tiny_model_dir, tmp_path):
    whole = tmp_path / "whole"
    assert _extract(photos, tiny_model_dir, whole, "--shard-size", "4", "--batch-size", "3") == 0
    expected_paths, expected_vectors = _rows(whole)
    assert len(expected_paths) == 40 and len(set(expected_paths)) == 40

    # The same command in a child process that pauses after each shard, killed with SIGKILL after two shards.
    killed = tmp_path / "killed"
    arguments = ["extract", str(photos), "--model", tiny_model_dir, "--output", f"{killed}/", "--skip-bad",
                 "--num-workers", "0", "--shard-size", "4", "--batch-size", "3"]
    child = (
        "import sys, time\n"
        "from hf_deepfever.inference import shards\n"
        "finish = shards.ShardWriter.finish\n"
        "def slow(self):\n"
        "    finish(self)\n"
        "    time.sleep(0.4)\n"
        "shards.ShardWriter.finish = slow\n"
        "from hf_deepfever.cli import main\n"
        f"sys.exit(main({arguments!r}))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    deadline = time.monotonic() + 120
    while len(list(killed.glob("part-*.parquet"))) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    written = sorted(path.name for path in killed.glob("part-*.parquet"))
    assert 2 <= len(written) < 10  # stopped part-way
    assert json.loads((killed / MANIFEST_NAME).read_text())["complete"] is False
    # What a half-written shard would leave: a hidden temporary file, never read as a shard.
    (killed / ".part-000009.parquet.1.deadbeef.tmp").write_bytes(b"PAR1 cut short")

    assert _extract(photos, tiny_model_dir, killed, "--shard-size", "4", "--batch-size", "3") == 0
    paths, vectors = _rows(killed)
    assert paths == expected_paths  # every input exactly once, in input order
    np.testing.assert_allclose(vectors, expected_vectors, **REORDERED)  # other batch boundaries
    assert not list(killed.glob(".*.tmp"))
    manifest = json.loads((killed / MANIFEST_NAME).read_text())
    assert manifest["complete"] and manifest["rows"] == 40 and manifest["inputs"] == 41
    assert manifest["shards"] == [f"part-{k:06d}.parquet" for k in range(11)]


def test_another_runs_folder_is_refused_unless_overwrite(photos, tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "vectors"
    assert _extract(photos, tiny_model_dir, output, "--shard-size", "16") == 0
    before = {path.name: path.stat().st_mtime_ns for path in output.iterdir()}

    assert _extract(photos, tiny_model_dir, output, "--shard-size", "8") == 2
    assert "another run's shards: another --shard-size" in capsys.readouterr().err

    other_model = tmp_path / "other_model"
    torch.manual_seed(1)
    config = DeepFeverConfig(backbone="test_resnet", image_size=64, embedding_dim=16)
    DeepFeverForExpressionRecognition(config).eval().save_pretrained(other_model)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}).save_pretrained(other_model)
    assert _extract(photos, str(other_model), output, "--shard-size", "16") == 2
    assert "a different model" in capsys.readouterr().err
    one_file = tmp_path / "one_photo"
    one_file.mkdir()
    write_good_jpeg(one_file / "a.jpg")
    assert _extract(one_file, tiny_model_dir, output, "--shard-size", "16") == 2
    assert "a different input list" in capsys.readouterr().err
    assert {path.name: path.stat().st_mtime_ns for path in output.iterdir()} == before  # nothing touched

    assert _extract(photos, str(other_model), output, "--shard-size", "16", "--overwrite") == 0
    assert read_vectors(output).model.fingerprint == model_fingerprint(other_model).fingerprint
    assert sorted(path.name for path in output.glob("part-*")) == ["part-000000.parquet", "part-000001.parquet",
                                                                  "part-000002.parquet"]

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.parquet").write_bytes(b"not ours")
    assert _extract(photos, tiny_model_dir, foreign) == 2
    assert "not from a deepfever extract run" in capsys.readouterr().err


def test_the_folder_loads_with_datasets_and_read_vectors(photos, tiny_model_dir, tmp_path, capsys):
    import datasets

    output = tmp_path / "vectors"
    assert _extract(photos, tiny_model_dir, output, "--shard-size", "8", "--batch-size", "4") == 0
    err = capsys.readouterr().err
    assert "skipped 1 unreadable image(s) of 41" in err and "6 shard(s), 40 row(s) of 41 input(s), complete" in err
    loaded = datasets.load_dataset("parquet", data_dir=str(output), split="train")
    assert loaded.num_rows == 40 and loaded.column_names == ["path", "expression", "probability", "valence",
                                                            "arousal", "vector"]
    assert len(loaded[0]["vector"]) == 16
    table = read_vectors(output)
    identity = model_fingerprint(tiny_model_dir)
    assert len(table) == 40 and table.model.fingerprint == identity.fingerprint
    metadata = pq.read_schema(output / "part-000000.parquet").metadata
    assert json.loads(metadata[MODEL_METADATA_KEY.encode()]) == identity.to_dict()

    # Resuming a complete folder does nothing.
    stamps = {path.name: path.stat().st_mtime_ns for path in output.glob("part-*")}
    assert _extract(photos, tiny_model_dir, output, "--shard-size", "8", "--batch-size", "4") == 0
    assert "nothing to do" in capsys.readouterr().err
    assert {path.name: path.stat().st_mtime_ns for path in output.glob("part-*")} == stamps


def test_a_shard_of_unreadable_inputs_only_is_marked_done_without_a_parquet_file(tiny_model_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_good_jpeg(folder / "a.jpg")
    write_truncated_jpeg(folder / "b.jpg")
    output = tmp_path / "out"
    assert _extract(folder, tiny_model_dir, output, "--shard-size", "1") == 0
    assert sorted(path.name for path in output.iterdir()) == [".manifest.json", ".part-000001.empty.json",
                                                             "part-000000.parquet"]
    assert _extract(folder, tiny_model_dir, output, "--shard-size", "1") == 0  # resumes: both chunks done


def test_dataset_rows_with_boxes_go_through_the_processor_crop(tiny_model_dir, tmp_path):
    import datasets
    import PIL.Image
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    rng = np.random.default_rng(0)
    images = [PIL.Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)) for _ in range(5)]
    boxes = [[4.0 * k, 3.0, 30.0, 28.0 + k] for k in range(5)]
    stored = tmp_path / "corpus"
    datasets.Dataset.from_dict({"image": images, "box": boxes}, features=datasets.Features(
        {"image": datasets.Image(), "box": datasets.Sequence(datasets.Value("float32"))})).save_to_disk(str(stored))
    output = tmp_path / "out"
    assert main(["extract", "--dataset", str(stored), "--box-columns", "box", "--model", tiny_model_dir,
                 "--output", f"{output}/", "--shard-size", "2", "--num-workers", "1", "--engine", "torch"]) == 0
    table = pq.read_table(sorted(output.glob("part-*.parquet"))).to_pandas()
    assert list(table["face_x"]) == [box[0] for box in boxes] and len(table) == 5
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        expected = model(**processor(images, face_boxes=boxes, return_tensors="pt")).pooler_output.numpy()
    np.testing.assert_allclose(np.stack(table["vector"]), expected, atol=1e-5)
    assert table["path"].iloc[3].endswith(":3")


@pytest.mark.parametrize("streaming", [False, True])
def test_a_dataset_in_streaming_or_not_gives_every_row_with_decoding_workers(tiny_model_dir, tmp_path, streaming):
    import datasets
    import PIL.Image

    rng = np.random.default_rng(1)
    images = [PIL.Image.fromarray(rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)) for _ in range(11)]
    stored = tmp_path / "corpus"
    datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()})).save_to_disk(
        str(stored))
    output = tmp_path / "out"
    assert main(["extract", "--dataset", str(stored), "--model", tiny_model_dir, "--output", f"{output}/",
                 "--shard-size", "3", "--batch-size", "2", "--num-workers", "2",
                 *(["--streaming"] if streaming else [])]) == 0
    paths, _ = _rows(output)
    assert [path.rsplit(":", 1)[-1] for path in paths] == [str(index) for index in range(11)]

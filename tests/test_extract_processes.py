"""Two extraction processes through `accelerate launch --multi_gpu --num_processes 2` (gloo on this CPU machine)
finish a folder a one-process run left part-way, and the folder equals a one-process run's."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bad_images import write_good_jpeg
from hf_deepfever.cli import main
from hf_deepfever.inference import job
from hf_deepfever.inference.shards import MANIFEST_NAME
from tolerances import REORDERED

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rows(folder: Path):
    table = pq.read_table(sorted(folder.glob("part-*.parquet")))
    return table.column("path").to_pylist(), np.stack(table.column("vector").to_numpy(zero_copy_only=False))


def test_two_processes_finish_a_partial_folder_as_one_process_would(tiny_model_dir, tmp_path, monkeypatch, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(26):
        write_good_jpeg(photos / f"face_{index:02d}.jpg", seed=index)
    arguments = ["extract", str(photos), "--model", tiny_model_dir, "--shard-size", "3", "--batch-size", "2",
                 "--num-workers", "0"]
    one = tmp_path / "one"
    assert main([*arguments, "--output", f"{one}/"]) == 0
    expected_paths, expected_vectors = _rows(one)

    # A one-process run that stops after two shards (as a killed one would), then two processes finish it.
    both = tmp_path / "both"
    with monkeypatch.context() as patch:
        patch.setattr(job, "extract_to_folder", functools.partial(job.extract_to_folder, stop_after_shards=2))
        assert main([*arguments, "--output", f"{both}/"]) == 2
    assert "shards are missing; run the same command again" in capsys.readouterr().err
    assert len(list(both.glob("part-*.parquet"))) == 2

    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "hf_deepfever.cli", *arguments, "--output", f"{both}/"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    # Chunks 0 and 1 were there; of the other seven, process 0 took 2, 4, 6, 8 and process 1 took 3, 5, 7.
    assert "[process 0/2] wrote 4 shard(s), 11 row(s) of 11 input(s)" in completed.stderr
    assert "[process 1/2] wrote 3 shard(s), 9 row(s) of 9 input(s)" in completed.stderr

    paths, vectors = _rows(both)
    assert paths == expected_paths
    np.testing.assert_allclose(vectors, expected_vectors, **REORDERED)  # other batches, other processes
    manifest = json.loads((both / MANIFEST_NAME).read_text())
    assert manifest["complete"] and manifest["rows"] == 26 and len(manifest["shards"]) == 9

"""Extraction into a folder keeps memory flat as the corpus grows: the Python heap's peak (tracemalloc) for 1000
inputs is that of 100, although 1000 rows of 1024-d vectors would add 4 MiB if they were kept until the end.

(The process's whole peak RSS at 1x and 10x is measured by `python -m benchmarks.extraction_memory`.)"""

from __future__ import annotations

import os
import tracemalloc

import pytest
import torch

from bad_images import write_good_jpeg
from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.inference import prepare_engine
from hf_deepfever.inference.job import extract_to_folder
from hf_deepfever.inference.processes import Processes
from hf_deepfever.inference.shards import ShardFolder
from hf_deepfever.inference.sources import FileSource
from hf_deepfever.inference.tables import RowLayout

DIM = 1024


@pytest.fixture(scope="module")
def wide_model():
    torch.manual_seed(0)
    config = DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=DIM)
    return DeepFeverForExpressionRecognition(config).eval(), DeepFeverImageProcessor(size={"height": 32, "width": 32})


def _peak_bytes(model, processor, files, output) -> int:
    engine = prepare_engine(model, processor, engine="torch", device="cpu", threads=1)
    layout = RowLayout(dim=DIM, id2label={int(k): v for k, v in model.config.id2label.items()})
    source = FileSource(files)
    folder = ShardFolder(output, {"inputs": source.identity()}, {"fingerprint": "sha256:test"})
    tracemalloc.start()
    try:
        result = extract_to_folder(engine, processor, source, folder, layout, processes=Processes(), shard_size=200,
                                   batch_size=8, workers=0, faces=None, skip_bad=False, overwrite=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.complete and result.rows_written == len(files)
    return peak


def test_peak_heap_does_not_grow_with_the_number_of_inputs(wide_model, tmp_path):
    model, processor = wide_model
    original = write_good_jpeg(tmp_path / "original.jpg")
    files = []
    for index in range(1000):  # hard links: 1000 inputs, one photo's bytes on disk
        path = tmp_path / "photos" / f"face_{index:04d}.jpg"
        path.parent.mkdir(exist_ok=True)
        os.link(original, path)
        files.append(path)
    _peak_bytes(model, processor, files[:8], tmp_path / "warm")  # first calls allocate caches once
    small = _peak_bytes(model, processor, files[:100], tmp_path / "x1")
    large = _peak_bytes(model, processor, files, tmp_path / "x10")
    kept_rows = 900 * DIM * 4  # what keeping the extra rows' vectors would cost
    print(f"peak heap: 100 inputs {small / 2**20:.2f} MiB, 1000 inputs {large / 2**20:.2f} MiB")
    assert large - small < kept_rows / 4, (small, large)

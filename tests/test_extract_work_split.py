"""How extraction shares the CPU: onnxruntime runs in every DataLoader worker (one session per worker and core),
PyTorch, streams and ``num_workers=0`` run the model in the calling process; both layouts give the same rows."""

from __future__ import annotations

import os
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from bad_images import write_good_jpeg, write_truncated_jpeg
from hf_deepfever.inference import ExtractionReport, iter_extraction, prepare_engine
from hf_deepfever.inference.extraction import _CollateAndRun
from hf_deepfever.inference.work_split import MAX_MODEL_WORKERS, calling_process_threads, split_work

CPU = torch.device("cpu")
ONNX = SimpleNamespace(runs_in_workers=True, threads=3)
TORCH = SimpleNamespace(runs_in_workers=False, threads=3)


def test_onnxruntime_on_cpu_runs_in_one_worker_per_core():
    split = split_work(ONNX, CPU, cores=2)
    assert (split.workers, split.threads, split.model_in_workers) == (2, 1, True)
    assert "each decoding and running the model on 1 thread" in split.describe()
    many = split_work(ONNX, CPU, cores=32)
    assert (many.workers, many.threads) == (MAX_MODEL_WORKERS, 32 // MAX_MODEL_WORKERS)
    assert split_work(ONNX, CPU, cores=1).workers == 1  # the single core decodes and runs the model in turn


def test_given_workers_and_threads_are_kept_and_tiny_runs_start_no_idle_worker():
    assert split_work(ONNX, CPU, cores=8, workers=3, threads=2) == split_work(ONNX, CPU, cores=8, workers=3, threads=2)
    given = split_work(ONNX, CPU, cores=8, workers=3, threads=2)
    assert (given.workers, given.threads, given.model_in_workers) == (3, 2, True)
    tiny = split_work(ONNX, CPU, cores=8, batches=2)
    assert (tiny.workers, tiny.threads) == (2, 4)


@pytest.mark.parametrize(
    ("engine", "device", "options"),
    [
        (ONNX, CPU, {"workers": 0}),  # asked for no workers
        (ONNX, CPU, {"streaming": True}),  # a stream is read by one worker, in order
        (TORCH, CPU, {}),  # the PyTorch engine runs where it was made
        (TORCH, torch.device("cuda"), {}),
    ],
)
def test_the_model_stays_in_the_calling_process(engine, device, options):
    split = split_work(engine, device, cores=4, **options)
    assert not split.model_in_workers
    assert split.workers <= (1 if options.get("streaming") else 3 if device.type == "cpu" else 8)
    assert split.workers == 0 or "workers" not in options
    assert "decoding worker" in split.describe()


def test_an_engine_made_for_the_calling_process_gets_the_cores_its_decoding_workers_leave():
    assert calling_process_threads(CPU, cores=4) == 1  # 3 decoding workers
    assert calling_process_threads(CPU, cores=4, workers=0) == 4
    assert calling_process_threads(CPU, cores=4, streaming=True) == 3  # a stream has one reader
    assert calling_process_threads(CPU, cores=4, batches=1) == 3  # no idle worker for one batch
    assert calling_process_threads(CPU, cores=4, threads=2) == 2
    assert calling_process_threads(torch.device("cuda"), cores=4) is None


pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    return model, AutoImageProcessor.from_pretrained(tiny_model_dir)


def _run(engine, processor, files, **options):
    report = ExtractionReport()
    batches = list(iter_extraction(engine, processor, files, batch_size=2, report=report, **options))
    paths = [path for batch in batches for path in batch.paths]
    return paths, np.concatenate([batch.vectors for batch in batches]), np.concatenate(
        [batch.probabilities for batch in batches]), report


def test_rows_computed_in_the_workers_equal_the_calling_process_and_pytorch(tiny, tmp_path):
    model, processor = tiny
    files = [write_good_jpeg(tmp_path / f"face_{index}.jpg", seed=index) for index in range(9)]
    engine = prepare_engine(model, processor, engine="onnx", device="cpu", cache_dir=tmp_path / "cache")
    assert engine.runs_in_workers
    in_workers = _run(engine, processor, files, num_workers=2, cores=2)
    in_main = _run(engine, processor, files, num_workers=0, cores=2)
    in_torch = _run(prepare_engine(model, processor, engine="torch", device="cpu"), processor, files, num_workers=2)
    assert "2 worker(s), each decoding and running the model on 1 thread(s)" in in_workers[3].engine
    assert "0 decoding worker(s)" in in_main[3].engine and "decoding worker(s)" in in_torch[3].engine
    assert in_workers[0] == in_main[0] == in_torch[0] == [str(path) for path in files]
    for column in (1, 2):
        assert np.abs(in_workers[column] - in_main[column]).max() < 1e-6
        assert np.abs(in_workers[column] - in_torch[column]).max() < 1e-4


def test_unreadable_files_are_skipped_and_counted_when_workers_run_the_model(tiny, tmp_path):
    model, processor = tiny
    files = [write_good_jpeg(tmp_path / f"face_{index}.jpg", seed=index) for index in range(5)]
    files.insert(2, write_truncated_jpeg(tmp_path / "cut.jpg"))
    engine = prepare_engine(model, processor, engine="onnx", device="cpu", cache_dir=tmp_path / "cache")
    paths, vectors, _, report = _run(engine, processor, files, num_workers=2, cores=2, skip_bad=True)
    assert paths == [str(path) for path in files if path.name != "cut.jpg"]
    assert [name for name, _ in report.skipped] == [str(tmp_path / "cut.jpg")]
    assert np.isfinite(vectors).all()


def test_a_worker_copy_builds_its_own_session_and_pickles_without_one(tiny, tmp_path):
    model, processor = tiny
    engine = prepare_engine(model, processor, engine="onnx", device="cpu", threads=2, cache_dir=tmp_path)
    copy = engine.in_workers(1)
    assert copy.threads == 1 and copy.runner.threads == 1 and engine.runner.threads == 2
    assert "1 thread(s)" in copy.description and "2 thread(s)" in engine.description
    pixels = processor(np.zeros((20, 20, 3), np.uint8), return_tensors="pt")["pixel_values"]
    expected = copy(pixels).pooler_output
    assert copy.runner._pid == os.getpid()
    state = pickle.loads(pickle.dumps(copy.runner))  # what a spawned worker receives: no session
    assert state._extractor is None and state.graph == engine.export.graph
    assert torch.allclose(state(pixel_values=pixels).pooler_output, expected)
    spawned = pickle.loads(pickle.dumps(_CollateAndRun(copy)))  # the whole collate function travels too
    assert torch.allclose(spawned.engine(pixels).pooler_output, expected)
    copy.runner._pid = -1  # as seen from a forked child: the parent's session is not used there
    before = copy.runner._extractor
    copy(pixels)
    assert copy.runner._extractor is not before


def test_the_pytorch_engine_cannot_be_copied_into_workers(tiny):
    model, processor = tiny
    engine = prepare_engine(model, processor, engine="torch", device="cpu")
    assert not engine.runs_in_workers
    with pytest.raises(ValueError, match="calling process only"):
        engine.in_workers(1)

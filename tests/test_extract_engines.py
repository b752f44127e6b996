"""Extraction engines: onnxruntime and PyTorch give the same rows, the checked ONNX export is cached and reused,
``auto`` picks onnxruntime on CPU, and batches planned by shard are the same whatever process runs them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from bad_images import write_good_jpeg
from hf_deepfever.inference import BatchPlan, iter_extraction, prepare_engine
from hf_deepfever.inference import onnx_cache

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    return model, AutoImageProcessor.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine_photos")
    return [write_good_jpeg(folder / f"face_{index}.jpg", seed=index) for index in range(7)]


def _rows(model, processor, files, **options):
    batches = list(iter_extraction(model, processor, files, num_workers=0, device="cpu", **options))
    return (
        [path for batch in batches for path in batch.paths],
        np.concatenate([batch.vectors for batch in batches]),
        np.concatenate([batch.probabilities for batch in batches]),
        np.concatenate([batch.valence_arousal for batch in batches]),
    )


def test_onnx_and_torch_engines_give_the_same_rows(tiny, photos, tmp_path):
    model, processor = tiny
    torch_rows = _rows(model, processor, photos, engine="torch", batch_size=3)
    onnx_rows = _rows(model, processor, photos, engine="onnx", batch_size=3, cache_dir=tmp_path)
    assert torch_rows[0] == onnx_rows[0] == [str(path) for path in photos]
    for expected, got in zip(torch_rows[1:], onnx_rows[1:]):
        assert np.abs(expected - got).max() < 1e-4


def test_auto_runs_onnxruntime_on_cpu_and_reuses_the_cached_export(tiny, tmp_path, monkeypatch):
    model, processor = tiny
    exports = []
    real_export = onnx_cache.export_checked_onnx
    monkeypatch.setattr(onnx_cache, "export_checked_onnx", lambda *a, **k: exports.append(1) or real_export(*a, **k))

    first = prepare_engine(model, processor, engine="auto", device="cpu", cache_dir=tmp_path)
    second = prepare_engine(model, processor, engine="auto", device="cpu", cache_dir=tmp_path)
    assert first.name == second.name == "onnx"
    assert first.export.exported and not second.export.exported
    assert len(exports) == 1  # the second run found the checked export
    assert "export from the cache" in second.description and first.export.key == second.export.key


def test_a_changed_model_or_a_damaged_entry_is_exported_again(tiny, tmp_path):
    model, processor = tiny
    made = onnx_cache.cached_checked_onnx(model, processor, cache_dir=tmp_path)
    made.path.write_bytes(made.path.read_bytes()[:100])  # cut short, as by a kill during a copy
    again = onnx_cache.cached_checked_onnx(model, processor, cache_dir=tmp_path)
    assert again.exported and again.graph == made.graph

    other = AutoModelForImageClassification.from_pretrained(model.name_or_path).eval()
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    assert onnx_cache.export_key(other, processor) != made.key
    processor_other = AutoImageProcessor.from_pretrained(model.name_or_path, crop_margin=0.5)
    assert onnx_cache.export_key(model, processor_other) != made.key


def test_engine_onnx_is_refused_where_it_cannot_run(tiny):
    model, processor = tiny
    with pytest.raises(ValueError, match="DeepFEVER image model"):
        prepare_engine(torch.nn.Linear(2, 2), processor, engine="onnx", device="cpu")
    with pytest.raises(ValueError, match="engine must be one of"):
        prepare_engine(model, processor, engine="tensorrt", device="cpu")


def test_planned_batches_do_not_cross_shards_and_split_by_rank():
    plan = BatchPlan(batch_size=3, chunk_size=5)
    assert list(plan.batches(12)) == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9], [10, 11]]
    shares = [BatchPlan(3, 5, rank=rank, world=2) for rank in range(2)]
    assert [list(share.batches(12)) for share in shares] == [[[0, 1, 2], [3, 4], [10, 11]], [[5, 6, 7], [8, 9]]]
    resumed = BatchPlan(3, 5, done=frozenset({0}))
    assert list(resumed.batches(12)) == [[5, 6, 7], [8, 9], [10, 11]]
    assert plan.count(12) == 5 and resumed.inputs(12) == 7

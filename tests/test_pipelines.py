"""Both pipelines with the package installed: no trust_remote_code needed, label names, the vector."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor, AutoModel, pipeline

from hf_deepfever import AFFECTNET_EXPRESSIONS


@pytest.fixture(autouse=True)
def no_prompt(monkeypatch):
    """With the package installed, nothing may ask whether to trust remote code."""
    monkeypatch.setattr(builtins, "input", lambda *a, **k: pytest.fail("prompted for remote code"))


def test_image_classification_pipeline_names_expressions(tiny_model_dir, random_face_image):
    classify = pipeline("image-classification", model=tiny_model_dir, top_k=8)
    predictions = classify([random_face_image, random_face_image.convert("L")])
    assert len(predictions) == 2
    for ranked in predictions:
        assert sorted(p["label"] for p in ranked) == sorted(AFFECTNET_EXPRESSIONS)
        assert sum(p["score"] for p in ranked) == pytest.approx(1.0, abs=1e-4)


def test_image_feature_extraction_pipeline_returns_the_vector(tiny_model_dir, random_face_image):
    extract = pipeline("image-feature-extraction", model=tiny_model_dir, pool=True)
    vector = np.asarray(extract(random_face_image))
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        expected = model(**processor(random_face_image, return_tensors="pt")).pooler_output.numpy()
    assert vector.shape == expected.shape
    assert np.allclose(vector, expected, atol=1e-5)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)

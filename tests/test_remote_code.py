"""A saved DeepFEVER folder loads model, processor and both pipelines without the package (remote code),
and offline by repo id from a Hub-layout cache."""

from __future__ import annotations

import json

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline

from hf_deepfever.hub import install_to_hub_cache
from remote_code import run_without_package


def test_remote_code_without_the_package(tiny_model_dir, tmp_path, random_face_image):
    image_path = tmp_path / "face.png"
    random_face_image.save(image_path)
    with torch.no_grad():
        model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
        processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
        expected = model(**processor(random_face_image, return_tensors="pt"))
    result = run_without_package(
        f"""
        import json, PIL.Image, torch
        from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline
        folder, image = {tiny_model_dir!r}, PIL.Image.open({str(image_path)!r})
        base = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        heads = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
        processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
        pil = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True, backend="pil")
        assert "transformers_modules" in type(heads).__module__, type(heads).__module__
        with torch.no_grad():
            inputs = processor(image, return_tensors="pt")
            out = heads(**inputs)
            vector = base(**inputs).pooler_output
        classify = pipeline("image-classification", model=folder, trust_remote_code=True)
        features = pipeline("image-feature-extraction", model=folder, trust_remote_code=True, pool=True)
        print(json.dumps({{
            "classes": [type(base).__name__, type(heads).__name__, type(processor).__name__, type(pil).__name__],
            "logits": out.logits[0].tolist(), "vector": vector[0].tolist(),
            "top": classify(image)[0]["label"], "features": features(image)[0],
        }}))
        """,
        hf_home=str(tmp_path / "hf_home"),
    )
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["classes"] == [
        "DeepFeverModel", "DeepFeverForExpressionRecognition", "DeepFeverImageProcessor", "DeepFeverImageProcessorPil"
    ]
    assert np.allclose(got["logits"], expected.logits[0].numpy(), atol=1e-5)
    assert np.allclose(got["vector"], expected.pooler_output[0].numpy(), atol=1e-5)
    assert np.allclose(got["features"], expected.pooler_output[0].numpy(), atol=1e-5)
    assert got["top"] == model.config.id2label[int(expected.logits[0].argmax())]


def test_offline_load_by_repo_id_from_hub_cache(tiny_model_dir, hf_home, random_face_image):
    install_to_hub_cache(tiny_model_dir, "org/deepfever")
    model = AutoModel.from_pretrained("org/deepfever")
    heads = AutoModelForImageClassification.from_pretrained("org/deepfever")
    assert type(model).__name__ == "DeepFeverModel" and type(heads).__name__ == "DeepFeverForExpressionRecognition"
    vector = pipeline("image-feature-extraction", model="org/deepfever", pool=True)(random_face_image)
    assert np.asarray(vector).shape == (1, model.config.embedding_dim)

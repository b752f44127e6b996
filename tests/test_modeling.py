"""DeepFeverConfig, DeepFeverModel and DeepFeverForExpressionRecognition: shapes, losses, save/load, bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

from hf_deepfever import (
    AFFECTNET_EXPRESSIONS,
    DeepFeverConfig,
    DeepFeverForExpressionRecognition,
    DeepFeverModel,
)

SIZE = 64


@pytest.fixture(scope="module")
def model(tiny_config):
    torch.manual_seed(0)
    return DeepFeverForExpressionRecognition(tiny_config).eval()


@pytest.fixture(scope="module")
def pixels():
    torch.manual_seed(1)
    return torch.randn(3, 3, SIZE, SIZE)


def test_config_defaults_follow_affectnet_order():
    config = DeepFeverConfig()
    assert config.model_type == "deepfever"
    assert config.embedding_dim == 64
    assert [config.id2label[i] for i in range(8)] == list(AFFECTNET_EXPRESSIONS)
    assert config.label2id["contempt"] == 7
    assert config.num_labels == 8


def test_config_json_round_trip_keeps_labels(tmp_path):
    config = DeepFeverConfig(backbone="resnet10t", embedding_dim=32, image_size=96)
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["backbone"] == "resnet10t" and saved["model_type"] == "deepfever"
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, DeepFeverConfig)
    assert loaded.id2label == config.id2label and loaded.label2id == config.label2id
    assert loaded.embedding_dim == 32 and loaded.image_size == 96


@pytest.mark.parametrize("kwargs", [{"embedding_dim": 0}, {"image_size": 4}])
def test_config_rejects_impossible_sizes(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DeepFeverConfig(**kwargs)


def test_outputs_shapes_norm_and_ranges(model, pixels, tiny_config):
    with torch.no_grad():
        out = model(pixel_values=pixels)
    assert out.logits.shape == (3, 8)
    assert out.valence_arousal.shape == (3, 2)
    assert out.pooler_output.shape == (3, tiny_config.embedding_dim)
    assert torch.allclose(out.pooler_output.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert out.valence_arousal.abs().max() <= 1.0
    assert out.last_hidden_state.ndim == 4 and out.last_hidden_state.shape[0] == 3
    assert out.loss is None


def test_base_model_vector_matches_expression_model(model, pixels):
    with torch.no_grad():
        assert torch.equal(model.deepfever(pixels).pooler_output, model(pixels).pooler_output)


def test_loss_ignores_missing_targets(model, pixels):
    with torch.no_grad():
        out = model(pixels)
        labels = torch.tensor([2, -100, 5])
        ce = torch.nn.functional.cross_entropy(out.logits[[0, 2]], labels[[0, 2]])
        assert torch.allclose(model(pixels, labels=labels).loss, ce, atol=1e-6)

        va = torch.tensor([[0.5, math.nan], [math.nan, math.nan], [-0.2, 0.1]])
        valid = ~torch.isnan(va)
        mse = torch.nn.functional.mse_loss(out.valence_arousal[valid], va[valid])
        assert torch.allclose(model(pixels, valence_arousal=va).loss, mse, atol=1e-6)

        # A batch with no valid target of a kind contributes exactly zero for it.
        nothing = model(pixels, labels=torch.full((3,), -100), valence_arousal=torch.full((3, 2), math.nan)).loss
        assert nothing.item() == 0.0
        assert torch.allclose(model(pixels, labels=labels, valence_arousal=torch.full((3, 2), math.nan)).loss, ce)


def test_loss_backpropagates_into_backbone(tiny_config, pixels):
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(tiny_config).train()
    loss = model(pixels, labels=torch.tensor([0, 1, 2]), valence_arousal=torch.zeros(3, 2)).loss
    loss.backward()
    grads = [p.grad for p in model.deepfever.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (torch.zeros(2, 3, SIZE, SIZE, dtype=torch.uint8), TypeError, "floating-point"),
        (torch.zeros(3, SIZE, SIZE), ValueError, r"\(batch, 3, height, width\)"),
        (torch.zeros(2, 1, SIZE, SIZE), ValueError, r"got \(2, 1, 64, 64\)"),
        (torch.zeros(0, 3, SIZE, SIZE), ValueError, "empty batch"),
        ([[0.0]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_pixel_values_get_clear_errors(model, bad, error, match):
    with pytest.raises(error, match=match):
        model(pixel_values=bad)


def test_bad_valence_arousal_shape(model, pixels):
    with pytest.raises(ValueError, match="valence_arousal targets must have shape"):
        model(pixels, valence_arousal=torch.zeros(3))


def test_save_load_round_trip_is_identical(model, pixels, tmp_path):
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "modeling_deepfever.py", "configuration_deepfever.py"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl")) for name in files)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert set(auto_map) >= {"AutoConfig", "AutoModel", "AutoModelForImageClassification"}

    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, DeepFeverForExpressionRecognition)
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(base, DeepFeverModel)
    with torch.no_grad():
        expected = model(pixels)
        assert torch.equal(reloaded(pixels).logits, expected.logits)
        assert torch.equal(reloaded(pixels).valence_arousal, expected.valence_arousal)
        assert torch.equal(base(pixels).pooler_output, expected.pooler_output)


def test_from_pretrained_never_downloads_backbone_weights(tiny_config, tmp_path, monkeypatch):
    config = DeepFeverConfig(**{**tiny_config.to_dict(), "backbone_pretrained": True})
    DeepFeverModel(config).save_pretrained(tmp_path)
    import timm

    calls = []
    original = timm.create_model
    monkeypatch.setattr(timm, "create_model", lambda *a, **k: calls.append(k.get("pretrained")) or original(*a, **k))
    AutoModel.from_pretrained(tmp_path)
    assert calls and not any(calls)


def test_bfloat16_loading(model, pixels, tmp_path):
    model.save_pretrained(tmp_path)
    half = AutoModelForImageClassification.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert next(half.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        out = half(pixels)  # float32 input is cast to the model's dtype
        reference = model(pixels)
    assert out.logits.dtype == torch.bfloat16
    assert torch.allclose(out.pooler_output.float(), reference.pooler_output, atol=0.1)


def test_activation_checkpointing_delegates_to_timm(tiny_config, pixels):
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(tiny_config).train()
    targets = {"labels": torch.tensor([0, 1, 2]), "valence_arousal": torch.zeros(3, 2)}
    torch.manual_seed(1)  # same dropout masks in both passes
    model(pixels, **targets).loss.backward()
    reference = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert model.deepfever.backbone.grad_checkpointing is True
    torch.manual_seed(1)
    model(pixels, **targets).loss.backward()
    for expected, param in zip(reference, model.parameters()):
        assert torch.allclose(param.grad, expected, atol=1e-5)

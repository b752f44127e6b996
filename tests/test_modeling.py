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
from hf_deepfever.models.deepfever.modeling_deepfever import ccc_loss, concordance_correlation

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

        # Default valence/arousal term: 1 - CCC per dimension over the finite targets (arousal has only one here,
        # too few for a CCC, so it contributes nothing).
        va = torch.tensor([[0.5, math.nan], [math.nan, math.nan], [-0.2, 0.1]])
        expected = 1 - concordance_correlation(out.valence_arousal[[0, 2], :1], va[[0, 2], :1])[0][0]
        assert torch.allclose(model(pixels, valence_arousal=va).loss, expected.float(), atol=1e-6)

        # A batch with no valid target of a kind contributes exactly zero for it.
        nothing = model(pixels, labels=torch.full((3,), -100), valence_arousal=torch.full((3, 2), math.nan)).loss
        assert nothing.item() == 0.0
        assert torch.allclose(model(pixels, labels=labels, valence_arousal=torch.full((3, 2), math.nan)).loss, ce)


def test_loss_options_of_the_config(tiny_config, pixels):
    """Class weights, the MSE valence/arousal loss and its weight: what the recipes write into the config."""
    torch.manual_seed(0)
    weights = [1.0, 3.0, 0.5, 1.0, 1.0, 1.0, 1.0, 2.0]
    config = DeepFeverConfig(
        **{**tiny_config.to_dict(), "expression_class_weights": weights, "valence_arousal_loss": "mse",
           "valence_arousal_loss_weight": 0.25}
    )
    model = DeepFeverForExpressionRecognition(config).eval()
    labels, va = torch.tensor([1, 2, 7]), torch.tensor([[0.5, math.nan], [0.1, -0.3], [-0.2, 0.1]])
    with torch.no_grad():
        out = model(pixels, labels=labels, valence_arousal=va)
    ce = torch.nn.functional.cross_entropy(out.logits, labels, weight=torch.tensor(weights))
    finite = torch.isfinite(va)
    mse = (out.valence_arousal[finite] - va[finite]).pow(2).mean()
    assert torch.allclose(out.loss, ce + 0.25 * mse, atol=1e-6)
    reloaded = DeepFeverConfig.from_dict(config.to_dict())
    assert reloaded.expression_class_weights == weights and reloaded.valence_arousal_loss == "mse"
    with pytest.raises(ValueError, match="expression_class_weights must hold 8"):
        DeepFeverConfig(expression_class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="valence_arousal_loss must be one of"):
        DeepFeverConfig(valence_arousal_loss="l1")


def test_num_labels_is_honoured():
    assert DeepFeverConfig().num_labels == 8
    five = DeepFeverConfig(num_labels=5)
    assert five.num_labels == 5 and five.id2label == {i: f"LABEL_{i}" for i in range(5)}
    assert five.label2id == {f"LABEL_{i}": i for i in range(5)}
    assert DeepFeverConfig(num_labels=8).id2label[7] == "contempt"
    named = DeepFeverConfig(id2label={0: "calm", 1: "excited"})
    assert named.num_labels == 2 and named.label2id == {"calm": 0, "excited": 1}


@pytest.mark.parametrize(
    ("problem_type", "num_labels", "make_labels", "reference"),
    [
        ("multi_label_classification", 3, lambda: torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
         torch.nn.functional.binary_cross_entropy_with_logits),
        ("regression", 1, lambda: torch.tensor([0.5, -1.0, 2.0]), lambda logits, y: torch.nn.functional.mse_loss(logits[:, 0], y)),
        ("regression", 3, lambda: torch.randn(3, 3, generator=torch.Generator().manual_seed(0)), torch.nn.functional.mse_loss),
        (None, 3, lambda: torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
         torch.nn.functional.binary_cross_entropy_with_logits),  # float labels: inferred multi-label, as in transformers
        (None, 1, lambda: torch.tensor([0.5, -1.0, 2.0]), lambda logits, y: torch.nn.functional.mse_loss(logits[:, 0], y)),
    ],
)
def test_problem_type_follows_transformers(tiny_config, pixels, problem_type, num_labels, make_labels, reference):
    config = DeepFeverConfig(**{**tiny_config.to_dict(), "id2label": None, "label2id": None, "num_labels": num_labels})
    config.problem_type = problem_type
    model = DeepFeverForExpressionRecognition(config).eval()
    labels = make_labels()
    with torch.no_grad():
        out = model(pixels, labels=labels)
        assert out.logits.shape == (3, num_labels)
        assert torch.allclose(out.loss, reference(out.logits, labels), atol=1e-6)
        va = torch.tensor([[0.1, 0.2], [0.3, -0.1], [-0.5, 0.4]])
        with_va = model(pixels, labels=labels, valence_arousal=va).loss
        assert torch.allclose(with_va, out.loss + ccc_loss(out.valence_arousal, va), atol=1e-6)
    assert config.problem_type == problem_type  # inferred, never written back


def test_problem_type_mistakes_are_errors(tiny_config, pixels):
    config = DeepFeverConfig(**{**tiny_config.to_dict(), "problem_type": "multi_label_classification"})
    model = DeepFeverForExpressionRecognition(config).eval()
    with pytest.raises(ValueError, match="multi-label targets must have the logits' shape"):
        model(pixels, labels=torch.tensor([0.0, 1.0, 2.0]))
    weighted = DeepFeverConfig(**{**tiny_config.to_dict(), "problem_type": "regression", "expression_class_weights": [1.0] * 8})
    with pytest.raises(ValueError, match="do not apply to problem_type='regression'"):
        DeepFeverForExpressionRecognition(weighted)(pixels, labels=torch.zeros(3, 8))


def test_valence_arousal_order_is_the_vocabulary(model, pixels):
    from hf_deepfever.core.vocabulary import VALENCE_AROUSAL
    from hf_deepfever.models.deepfever import configuration_deepfever

    assert configuration_deepfever.VALENCE_AROUSAL == VALENCE_AROUSAL == ("valence", "arousal")
    assert model.heads.valence_arousal[-1].out_features == len(VALENCE_AROUSAL)


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


def test_activation_checkpointing_goes_through_transformers(tiny_config, pixels):
    """gradient_checkpointing_enable's options reach the backbone's stages; is_gradient_checkpointing tells the truth."""
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(tiny_config).train()
    targets = {"labels": torch.tensor([0, 1, 2]), "valence_arousal": torch.tensor([[0.1, 0.2], [0.3, -0.1], [-0.5, 0.4]])}
    torch.manual_seed(1)  # same dropout masks in both passes
    model(pixels, **targets).loss.backward()
    reference = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    stages = [model.deepfever.backbone.get_submodule(name) for name in model.deepfever.checkpointing_stages]
    assert [type(stage).__mro__[1].__name__ for stage in stages] == ["Sequential"] * 4  # test_resnet's layer1..4
    with pytest.warns(FutureWarning):
        assert model.is_gradient_checkpointing is False
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        assert model.is_gradient_checkpointing is True
    assert all(stage.gradient_checkpointing and stage._gradient_checkpointing_func.keywords == {"use_reentrant": True}
               for stage in stages)
    assert model.deepfever.backbone.grad_checkpointing is False  # timm's own mechanism stays off
    calls = []
    function = stages[0]._gradient_checkpointing_func
    stages[0]._gradient_checkpointing_func = lambda *args: calls.append(1) or function(*args)
    torch.manual_seed(1)
    model(pixels, **targets).loss.backward()
    assert calls  # the stage ran through transformers' checkpoint function
    for expected, param in zip(reference, model.parameters()):
        assert torch.allclose(param.grad, expected, atol=1e-5)
    model.activation_checkpointing_disable()
    assert model.is_activation_checkpointing is False
    assert model.state_dict().keys() == DeepFeverForExpressionRecognition(tiny_config).state_dict().keys()


def test_hidden_states_are_the_backbone_stages(model, pixels):
    with torch.no_grad():
        out = model(pixels, output_hidden_states=True)
        plain = model(pixels)
    stages = model.deepfever.backbone.feature_info
    assert [h.shape[1] for h in out.hidden_states] == [info["num_chs"] for info in stages]
    assert [h.shape[-1] for h in out.hidden_states] == [SIZE // info["reduction"] for info in stages]
    assert plain.hidden_states is None
    assert torch.allclose(out.logits, plain.logits, atol=1e-6)
    assert torch.allclose(out.last_hidden_state, plain.last_hidden_state, atol=1e-6)


def _backbone_stats(backbone: torch.nn.Module) -> dict[str, tuple[float, float]]:
    return {name: (float(t.float().mean()), float(t.float().std())) if t.numel() > 1 else (float(t), 0.0)
            for name, t in backbone.state_dict().items()}


def test_new_model_keeps_timms_init(tiny_config):
    """A fresh model's backbone is initialised the way timm initialises it (not transformers' generic std-0.02 init)."""
    import timm

    torch.manual_seed(0)
    ours = _backbone_stats(DeepFeverModel(tiny_config).backbone)
    timms = _backbone_stats(timm.create_model(tiny_config.backbone, pretrained=False, num_classes=0))
    assert ours.keys() == timms.keys()
    for name, (mean, std) in timms.items():
        if name.endswith(("running_mean", "running_var", "num_batches_tracked")) or std == 0.0:
            assert ours[name] == (mean, std), name  # buffers and constant inits: exactly timm's
        else:
            assert abs(ours[name][1] - std) <= 0.25 * std, name  # random inits: timm's scale


def test_missing_weights_get_a_real_init_and_loaded_ones_stay(model, pixels, tmp_path):
    """A checkpoint without the projection and some backbone tensors loads with sound values for those (issue 13.6)."""
    from safetensors.torch import load_file, save_file

    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    dropped = [k for k in weights if k.startswith(("deepfever.projection.", "deepfever.backbone.layer2.", "deepfever.backbone.bn1."))]
    assert any(k.endswith("running_var") for k in dropped)
    save_file({k: v for k, v in weights.items() if k not in dropped}, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = DeepFeverForExpressionRecognition.from_pretrained(tmp_path).eval()
    state = loaded.state_dict()
    for name in dropped:
        assert torch.isfinite(state[name].float()).all(), name
        if name.endswith("running_var"):
            assert torch.equal(state[name], torch.ones_like(state[name])), name
        if name.endswith("running_mean"):
            assert torch.equal(state[name], torch.zeros_like(state[name])), name
    projection = state["deepfever.projection.linear.weight"]
    assert 0 < projection.abs().max() <= projection.shape[1] ** -0.5  # PyTorch's default Linear init
    for name, tensor in weights.items():
        if name not in dropped:
            assert torch.equal(state[name], tensor), name  # loaded tensors are never re-initialised
    with torch.no_grad():
        out = loaded(pixels)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.pooler_output).all()

"""DeepFEVER-AV model: forward/backward with masks, CCC loss, save/load, Auto classes, processor, remote code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor

from hf_deepfever import DeepFeverConfig, DeepFeverModel
from hf_deepfever.models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.models.deepfever.image_processing_deepfever import DeepFeverImageProcessor
from hf_deepfever.models.deepfever.modeling_deepfever import concordance_correlation
from hf_deepfever.models.deepfever.modeling_deepfever_av import DeepFeverAVModel
from hf_deepfever.models.deepfever.processing_deepfever_av import DeepFeverAVProcessor
from remote_code import run_without_package

from tolerances import REORDERED

MELS, CONTEXT, IMAGE = 16, 8, 32


def _config(**overrides) -> DeepFeverAVConfig:
    vision = DeepFeverConfig(backbone="test_resnet", image_size=IMAGE, embedding_dim=16)
    settings = dict(
        vision_config=vision, num_mel_bins=MELS, audio_context_frames=CONTEXT, audio_channels=[4, 8],
        audio_embedding_dim=8, visual_projection_dim=8, fusion_dim=16, hidden_size=8, num_layers=2,
    )
    return DeepFeverAVConfig(**{**settings, **overrides})


def _inputs(batch: int = 2, steps: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, steps, dtype=torch.long)
    mask[1, steps - 2:] = 0
    labels = torch.randn(batch, steps, 2, generator=generator)
    labels[0, 1, 1] = float("nan")
    return {
        "input_features": torch.randn(batch, steps, MELS, CONTEXT, generator=generator),
        "pixel_values": torch.randn(batch, steps, 3, IMAGE, IMAGE, generator=generator),
        "attention_mask": mask,
        "face_mask": torch.rand(batch, steps, generator=generator) > 0.3,
        "labels": labels,
    }


def test_ccc_matches_the_formula_and_ignores_masked_rows():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(50), rng.standard_normal(50) * 0.5 + 0.3 * rng.standard_normal(50)
    expected = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    pred = torch.tensor(np.stack([x, x], 1))
    target = torch.tensor(np.stack([y, y], 1))
    assert torch.allclose(concordance_correlation(pred, target)[0], torch.tensor([expected] * 2, dtype=torch.float64), atol=1e-5)
    # Masked rows and NaN targets: garbage there changes nothing.
    padded_pred = torch.cat([pred, torch.full((5, 2), 1e6)]).double()
    padded_target = torch.cat([target, torch.full((5, 2), float("nan"))])
    mask = torch.cat([torch.ones(50), torch.zeros(5)]).bool()
    assert torch.allclose(concordance_correlation(padded_pred, padded_target, mask)[0], torch.tensor([expected] * 2, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(concordance_correlation(target.float(), target.float())[0], torch.ones(2), atol=1e-5)


@pytest.mark.parametrize(("fusion", "rnn_type", "bidirectional"), [("concat", "gru", True), ("gated", "lstm", False)])
def test_forward_backward_with_masks(fusion, rnn_type, bidirectional):
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config(fusion=fusion, rnn_type=rnn_type, bidirectional=bidirectional)).train()
    inputs = _inputs()
    out = model(**inputs)
    assert out.valence_arousal.shape == (2, 6, 2)
    assert torch.all(out.valence_arousal[1, 4:] == 0)  # padded steps
    assert out.visual_features.shape == (2, 6, 16)
    assert torch.isfinite(out.loss) and out.loss.ndim == 0
    out.loss.backward()
    # The frozen DeepFEVER gets no gradient; the audio encoder, fusion and recurrent head do.
    assert all(p.grad is None for p in model.vision_model.parameters())
    assert not model.vision_model.training
    for module in (model.audio_encoder, model.fusion, model.rnn, model.head, model.visual_projection):
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())


def test_padding_and_missing_faces_do_not_change_real_predictions():
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config()).eval()
    inputs = _inputs()
    inputs.pop("labels")
    with torch.no_grad():
        base = model(**inputs).valence_arousal
        changed = {k: v.clone() for k, v in inputs.items()}
        changed["input_features"][1, 4:] = 1e3  # padded steps
        changed["pixel_values"][~inputs["face_mask"].bool()] = 1e3  # frames without a face
        assert torch.allclose(model(**changed).valence_arousal, base, atol=1e-5)
        # A shorter, unpadded batch of the second sequence gives the same predictions (bidirectional, packed).
        alone = {k: v[1:, :4] for k, v in inputs.items()}
        assert torch.allclose(model(**alone).valence_arousal[0], base[1, :4], atol=1e-5)


def test_precomputed_visual_features_equal_pixel_values():
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config()).eval()
    inputs = _inputs()
    with torch.no_grad():
        from_pixels = model(**inputs)
        vectors = model.compute_visual_features(inputs["pixel_values"])
        precomputed = {k: v for k, v in inputs.items() if k != "pixel_values"}
        from_vectors = model(**precomputed, visual_features=vectors)
    assert torch.allclose(from_pixels.valence_arousal, from_vectors.valence_arousal, atol=1e-5)


def test_single_stream_and_audio_mask():
    model = DeepFeverAVModel(_config()).eval()
    inputs = _inputs()
    with torch.no_grad():
        audio_only = model(input_features=inputs["input_features"], attention_mask=inputs["attention_mask"])
        video_only = model(pixel_values=inputs["pixel_values"], face_mask=inputs["face_mask"])
        no_audio = model(
            input_features=inputs["input_features"] * 0, pixel_values=inputs["pixel_values"],
            face_mask=inputs["face_mask"], audio_mask=torch.zeros(2, 6, dtype=torch.bool),
        )
        without_features = model(pixel_values=inputs["pixel_values"], face_mask=inputs["face_mask"])
    assert audio_only.valence_arousal.shape == video_only.valence_arousal.shape == (2, 6, 2)
    # An all-false audio mask is the same as giving no audio.
    torch.testing.assert_close(no_audio.valence_arousal, without_features.valence_arousal, **REORDERED)


def test_bad_inputs_get_clear_errors():
    model = DeepFeverAVModel(_config()).eval()
    inputs = _inputs()
    with pytest.raises(ValueError, match="at least one stream"):
        model()
    with pytest.raises(ValueError, match="input_features must be"):
        model(input_features=torch.randn(2, 6, MELS + 1, CONTEXT))
    with pytest.raises(ValueError, match="padding on the right"):
        model(input_features=inputs["input_features"], attention_mask=torch.tensor([[0, 1, 1, 1, 1, 1]] * 2))
    with pytest.raises(ValueError, match="either pixel_values or visual_features"):
        model(pixel_values=inputs["pixel_values"], visual_features=torch.zeros(2, 6, 16))
    with pytest.raises(ValueError, match=r"labels must start with \(batch, steps\)"):
        model(input_features=inputs["input_features"], labels=torch.zeros(2, 5, 2))
    with pytest.raises(ValueError, match="fusion"):
        _config(fusion="sum")


def test_save_load_round_trip_and_auto_classes(tmp_path):
    torch.manual_seed(0)
    vision = DeepFeverModel(_config().vision_config)
    model = DeepFeverAVModel(_config(fusion="gated"))
    model.vision_model.load_state_dict(vision.state_dict())
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "deepfever-av" and saved["vision_config"]["backbone"] == "test_resnet"
    assert saved["auto_map"]["AutoModel"] == "modeling_deepfever_av.DeepFeverAVModel"
    assert isinstance(AutoConfig.from_pretrained(tmp_path), DeepFeverAVConfig)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, DeepFeverAVModel)
    for name, tensor in vision.state_dict().items():  # the DeepFEVER weights survive (no re-initialisation)
        assert torch.equal(loaded.vision_model.state_dict()[name], tensor), name
    inputs = _inputs()
    inputs.pop("labels")
    with torch.no_grad():
        assert torch.allclose(model.eval()(**inputs).valence_arousal, loaded(**inputs).valence_arousal, atol=1e-6)


def _processor() -> DeepFeverAVProcessor:
    return DeepFeverAVProcessor(
        DeepFeverImageProcessor(size={"height": IMAGE, "width": IMAGE}),
        DeepFeverAudioFeatureExtractor(feature_size=MELS, context_ms=CONTEXT * 10),
    )


def test_processor_builds_model_inputs(tmp_path):
    processor = _processor()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(30)]
    boxes = [(5, 5, 30, 30)] * 20 + [None] * 10
    inputs = processor(audio=rng.standard_normal(16000).astype(np.float32), images=frames, face_boxes=boxes, sampling_rate=16000)
    assert inputs["input_features"].shape == (1, 26, MELS, CONTEXT)
    assert inputs["pixel_values"].shape == (1, 26, 3, IMAGE, IMAGE)  # frames cut to the audio's steps
    assert inputs["face_mask"].sum().item() == 20
    assert DeepFeverAVModel(_config())(**inputs).valence_arousal.shape == (1, 26, 2)

    processor.save_pretrained(tmp_path)
    assert (tmp_path / "processor_config.json").exists()
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(reloaded, DeepFeverAVProcessor)
    assert reloaded.feature_extractor.context_frames == CONTEXT
    assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path), DeepFeverAudioFeatureExtractor)
    video_only = reloaded(images=[frames[:5], frames[:3]])
    assert video_only["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert video_only["face_mask"].tolist() == [[True] * 5, [True] * 3 + [False] * 2]


def test_remote_code_without_the_package(tmp_path):
    folder = tmp_path / "av"
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config()).eval()
    model.save_pretrained(folder)
    _processor().save_pretrained(folder)
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(8000).astype(np.float32)
    frames = rng.integers(0, 255, (13, 40, 40, 3), dtype=np.uint8)
    np.save(tmp_path / "audio.npy", audio)
    np.save(tmp_path / "frames.npy", frames)
    with torch.no_grad():
        expected = model(**_processor()(audio=audio, images=list(frames), sampling_rate=16000)).valence_arousal[0]
    result = run_without_package(
        f"""
        import json, numpy as np, torch
        from transformers import AutoModel, AutoProcessor
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert "transformers_modules" in type(model).__module__, type(model).__module__
        audio, frames = np.load({str(tmp_path / "audio.npy")!r}), np.load({str(tmp_path / "frames.npy")!r})
        with torch.no_grad():
            out = model(**processor(audio=audio, images=list(frames), sampling_rate=16000))
        print(json.dumps({{"classes": [type(model).__name__, type(processor).__name__,
                                        type(processor.feature_extractor).__name__],
                          "prediction": out.valence_arousal[0].tolist()}}))
        """,
        hf_home=str(tmp_path / "hf_home"),
    )
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["classes"] == ["DeepFeverAVModel", "DeepFeverAVProcessor", "DeepFeverAudioFeatureExtractor"]
    assert np.allclose(got["prediction"], expected.numpy(), atol=1e-5)


def test_outputs_are_valence_then_arousal_and_old_checkpoints_read_right():
    from hf_deepfever.core.vocabulary import VALENCE_AROUSAL
    from hf_deepfever.models.deepfever import configuration_deepfever_av

    assert configuration_deepfever_av.VALENCE_AROUSAL == VALENCE_AROUSAL == ("valence", "arousal")
    assert _config().output_names == list(VALENCE_AROUSAL)
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config()).eval()
    # A checkpoint saved when the head's units were (arousal, valence): same weights, outputs swapped back.
    old = DeepFeverAVModel(_config(output_names=["arousal", "valence"])).eval()
    old.load_state_dict(model.state_dict())
    inputs = _inputs()
    labels = inputs.pop("labels")
    with torch.no_grad():
        new_out, old_out = model(**inputs), old(**inputs)
        assert torch.equal(old_out.valence_arousal, new_out.valence_arousal.flip(-1))
        head_units = model.head(new_out.last_hidden_state) * inputs["attention_mask"][..., None]
        torch.testing.assert_close(new_out.valence_arousal, head_units, **REORDERED)
        # The deprecated name still answers, in its old order, with a warning.
        with pytest.warns(FutureWarning, match="valence_arousal"):
            assert torch.equal(new_out.arousal_valence, new_out.valence_arousal.flip(-1))
        # Labels are (valence, arousal) too: the loss is the per-column 1 - CCC against them.
        mask = inputs["attention_mask"].bool()
        per_column = [1 - concordance_correlation(new_out.valence_arousal[..., c:c + 1], labels[..., c:c + 1], mask)[0][0]
                      for c in (0, 1)]
        torch.testing.assert_close(model(**inputs, labels=labels).loss, torch.stack(per_column).mean().float(), **REORDERED)
    with pytest.raises(ValueError, match="output_names"):
        _config(output_names=["arousal", "dominance"])


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_bidirectional_pass_equals_packed_sequences(rnn_type):
    """Real steps get what pack_padded_sequence gives them, without packing (so the model exports)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from hf_deepfever.models.deepfever.modeling_deepfever_av import one_layer_templates, run_recurrence

    torch.manual_seed(0)
    rnn = (torch.nn.GRU if rnn_type == "gru" else torch.nn.LSTM)(6, 5, num_layers=2, batch_first=True, bidirectional=True).eval()
    inputs, lengths = torch.randn(3, 7, 6), torch.tensor([7, 4, 1])
    packed, _ = rnn(pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=7)
    got = run_recurrence(rnn, one_layer_templates(rnn), inputs, lengths)
    real = torch.arange(7)[None] < lengths[:, None]
    torch.testing.assert_close(got[real], expected[real], **REORDERED)  # unrolled vs packed kernels


def test_training_mode_padding_does_not_reach_real_steps():
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config(dropout=0.0)).train()
    inputs = _inputs()
    inputs.pop("labels")
    base = model(**inputs).valence_arousal
    changed = {k: v.clone() for k, v in inputs.items()}
    changed["input_features"][1, 4:] = 1e3  # padded steps: kept out of the audio encoder's batch statistics
    assert torch.allclose(model(**changed).valence_arousal, base, atol=1e-5)


def test_torch_export_matches_eager():
    torch.manual_seed(0)
    model = DeepFeverAVModel(_config()).eval()
    inputs = _inputs()
    inputs.pop("labels")
    with torch.no_grad():
        exported = torch.export.export(model, (), kwargs=inputs)
        torch.testing.assert_close(exported.module()(**inputs).valence_arousal, model(**inputs).valence_arousal, **REORDERED)
        # Precomputed vectors and a dynamic batch. The recurrent network is unrolled over the steps, so a graph
        # has a fixed number of steps: a shorter recording is padded to it, which changes none of its predictions.
        vectors = {
            "input_features": inputs["input_features"], "visual_features": torch.randn(2, 6, 16),
            "attention_mask": inputs["attention_mask"], "face_mask": inputs["face_mask"],
        }
        batch = torch.export.Dim("batch", min=1, max=64)
        graph = torch.export.export(model, (), kwargs=vectors, dynamic_shapes={name: {0: batch} for name in vectors}).module()
        short = {"input_features": torch.randn(1, 3, MELS, CONTEXT), "visual_features": torch.randn(1, 3, 16),
                 "face_mask": torch.tensor([[True, False, True]])}
        padded = {name: torch.cat([value, torch.zeros_like(value[:, :1]).expand(1, 3, *value.shape[2:])], dim=1)
                  for name, value in short.items()}
        padded["attention_mask"] = torch.tensor([[1, 1, 1, 0, 0, 0]])
        got = graph(**padded).valence_arousal
        assert torch.allclose(got[:, :3], model(**short).valence_arousal, atol=1e-5)
        assert torch.all(got[:, 3:] == 0)

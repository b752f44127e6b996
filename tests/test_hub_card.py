"""Model cards: results come only from eval_results.json, synthetic results are labelled, metadata parses."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.hub import render_model_card
from hf_deepfever.hub.cards import DEFAULT_TEMPLATES, default_template

REAL_CORPUS_NAMES = ("AffectNet", "Google FEC", "RAF-DB", "RECOLA")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("card_model")
    torch.manual_seed(0)
    DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=64)).save_pretrained(model_dir)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}, crop_margin=0.25).save_pretrained(model_dir)
    return model_dir


def _with_results(model_dir: Path, results: dict | None) -> Path:
    path = model_dir / "eval_results.json"
    if results is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(results))
    return model_dir


def _parsed(card_text: str):
    """The card as the Hub reads it: metadata via ModelCard, results via the model-index parser."""
    card = ModelCard(card_text)
    model_index = card.data.to_dict().get("model-index")
    results = model_index_to_eval_results(model_index)[1] if model_index else []
    return card, results


def test_synthetic_results_are_labelled_and_never_attributed_to_real_corpora(saved_model: Path) -> None:
    measured = {
        "dataset_kind": "synthetic-demo",
        "affectnet_accuracy_8": 0.4125,
        "affectnet_macro_f1_8": 0.3333,
        "affectnet_eval_samples": 80,
        "valence_ccc": 0.25,
        "fec_triplet_accuracy": 0.7,
        "rafdb_linear_probe_accuracy": 0.55,
        "rafdb_test_samples": 40,
    }
    text = render_model_card(_with_results(saved_model, measured), repo_id="org/deepfever")
    card, results = _parsed(text)

    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "image-feature-extraction"
    assert "synthetic-demo" in card.data.tags
    assert not card.data.to_dict().get("datasets"), "demo weights must not claim the real corpora"
    # Exactly the measured metrics, with the measured values, all on the synthetic corpus.
    by_metric = {(r.dataset_config, r.metric_name): r.metric_value for r in results}
    assert by_metric == {
        ("affectnet-layout", "Accuracy (8 classes)"): 0.4125,
        ("affectnet-layout", "Macro-F1 (8 classes)"): 0.3333,
        ("affectnet-layout", "Valence CCC"): 0.25,
        ("fec-layout", "Triplet prediction accuracy"): 0.7,
        ("rafdb-layout", "Linear-probe accuracy (7 classes)"): 0.55,
    }
    for result in results:
        assert result.dataset_type == "synthetic"
        assert result.dataset_name == "hf_deepfever synthetic demo corpus"
        assert not any(name in result.dataset_name for name in REAL_CORPUS_NAMES)
    body = text.split("\n---\n", 1)[1]
    assert "**Synthetic demo results**" in body
    table_rows = [line for line in body.splitlines() if line.startswith("| hf_deepfever synthetic demo corpus")]
    assert len(table_rows) == 5
    assert any("41.25%" in row and "| 80 |" in row for row in table_rows)
    assert not any(line.startswith(("| AffectNet", "| Google FEC", "| RAF-DB")) for line in body.splitlines())


def test_real_results_and_absent_metrics_left_out(saved_model: Path) -> None:
    measured = {
        "dataset_kind": "real", "affectnet_accuracy_7": 0.61, "arousal_ccc": 0.5, "fec_triplet_accuracy_two_class": 0.8
    }
    text = render_model_card(_with_results(saved_model, measured), repo_id="org/deepfever")
    card, results = _parsed(text)
    assert card.data.license == "other" and "non-commercial" in card.data.license_name
    assert {(r.dataset_name, r.dataset_split, r.metric_name, r.metric_value) for r in results} == {
        ("AffectNet", "validation", "Accuracy (7 classes, contempt masked)", 0.61),
        ("AffectNet", "validation", "Arousal CCC", 0.5),
        ("Google FEC", "test", "Triplet prediction accuracy (two-class triplets)", 0.8),
    }
    body = text.split("\n---\n", 1)[1]
    # Absent metrics appear nowhere as results: no 8-class row, no RAF-DB row.
    assert "Accuracy (8 classes)" not in body
    assert not any(line.startswith("| RAF-DB") for line in body.splitlines())
    assert "Synthetic demo results" not in body


def test_no_results_file_means_no_model_index(saved_model: Path) -> None:
    text = render_model_card(_with_results(saved_model, None), repo_id="org/deepfever")
    card, results = _parsed(text)
    assert results == [] and "model-index" not in card.data.to_dict()
    assert "No measured results ship with this checkpoint" in text


def test_card_reflects_the_config_and_processor(saved_model: Path) -> None:
    text = render_model_card(_with_results(saved_model, None), repo_id="acme/faces")
    assert 'AutoModel.from_pretrained("acme/faces")' in text
    assert "trust_remote_code=True" in text and "accelerate launch training_scripts/" in text
    assert "`test_resnet`" in text and "64x64 px" in text and "margin of 0.25" in text
    assert "arXiv" in text and "2201.07781" in text and "2103.09154" in text
    assert "base_model" not in ModelCard(text).data.to_dict()  # backbone_pretrained is False


def test_card_shows_training_args_without_local_paths(saved_model: Path, tmp_path: Path) -> None:
    recorded = {"output_dir": str(saved_model), "affectnet_dir": str(tmp_path / "corpora" / "AffectNet"),
                "teacher": "org/deepfever-teacher", "learning_rate": 0.0003}
    (saved_model / "training_args.json").write_text(json.dumps(recorded))
    try:
        text = render_model_card(_with_results(saved_model, None), repo_id="org/deepfever")
    finally:
        (saved_model / "training_args.json").unlink()
    assert "This checkpoint's own run recorded these arguments" in text
    assert f'"output_dir": "{saved_model.name}"' in text and '"affectnet_dir": "AffectNet"' in text
    assert '"teacher": "org/deepfever-teacher"' in text and '"learning_rate": 0.0003' in text
    assert str(tmp_path) not in text and str(saved_model) not in text


def test_templates_are_package_data() -> None:
    """The default templates are read through importlib.resources from hf_deepfever.hub_cards."""
    for model_type, name in DEFAULT_TEMPLATES.items():
        template = default_template(model_type)
        assert template == resources.files("hf_deepfever.hub_cards") / name and template.is_file()
    with pytest.raises(ValueError, match="no model card template for model_type 'resnet'"):
        default_template("resnet")


def test_base_model_from_timm_when_the_backbone_started_pretrained(tmp_path: Path) -> None:
    config = DeepFeverConfig(backbone="test_resnet", image_size=64, backbone_pretrained=True)
    config.save_pretrained(tmp_path)
    data = ModelCard(render_model_card(tmp_path)).data
    assert isinstance(data.base_model, str) and data.base_model.startswith("timm/test_resnet")


def test_bad_results_are_errors_not_guesses(saved_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="affectnet_accuracy_8"):
        render_model_card(_with_results(saved_model, {"affectnet_accuracy_8": "high"}))
    with pytest.raises(ValueError, match="dataset_kind"):
        render_model_card(_with_results(saved_model, {"dataset_kind": "imagined", "valence_ccc": 0.1}))
    (saved_model / "eval_results.json").write_text("{not json")
    with pytest.raises(ValueError, match="eval_results.json"):
        render_model_card(saved_model)
    _with_results(saved_model, None)
    template = tmp_path / "bad.md"
    template.write_text("---\nlibrary_name: transformers\nmodel-index: []\n---\n# {{ model_name }}\n")
    with pytest.raises(ValueError, match="model-index"):
        render_model_card(saved_model, template)
    with pytest.raises(FileNotFoundError, match="config.json"):
        render_model_card(tmp_path)


def test_custom_template(saved_model: Path, tmp_path: Path) -> None:
    _with_results(saved_model, {"dataset_kind": "real", "affectnet_accuracy_8": 0.6})
    template = tmp_path / "mine.md"
    template.write_text(
        "---\nlibrary_name: transformers\nlicense: other\nlicense_name: mine\n---\n"
        "# {{ model_name }} on {{ config.backbone }}\n{% for r in results %}{{ r.display_value }}\n{% endfor %}"
    )
    text = render_model_card(saved_model, template, repo_id="org/custom")
    assert "# custom on test_resnet" in text and "60.00%" in text
    assert _parsed(text)[1][0].metric_value == 0.6


def test_audio_visual_card(tmp_path: Path) -> None:
    config = {
        "model_type": "deepfever-av",
        "vision_config": {"model_type": "deepfever", "backbone": "test_resnet", "embedding_dim": 16, "image_size": 32},
        "num_mel_bins": 16, "audio_context_frames": 8, "fusion": "gated", "rnn_type": "gru", "bidirectional": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "eval_results.json").write_text(
        json.dumps({"dataset_kind": "synthetic-demo", "valence_ccc": 0.3, "arousal_ccc": 0.45})
    )
    text = render_model_card(tmp_path, repo_id="org/deepfever-av")
    card, results = _parsed(text)
    assert card.data.pipeline_tag == "other" and card.data.library_name == "transformers"
    assert {(r.dataset_type, r.dataset_config, r.dataset_split, r.metric_name, r.metric_value) for r in results} == {
        ("synthetic", "recola-layout", "dev", "Valence CCC", 0.3),
        ("synthetic", "recola-layout", "dev", "Arousal CCC", 0.45),
    }
    assert "AutoProcessor.from_pretrained" in text and "deepfever video" in text and "bidirectional GRU" in text
    assert "base_model" not in card.data.to_dict()
    with_base = ModelCard(render_model_card(tmp_path, base_model="org/deepfever"))
    assert with_base.data.base_model == "org/deepfever" and "[`org/deepfever`]" in with_base.text
    with pytest.raises(ValueError):
        render_model_card(tmp_path, base_model="not a repo id")
    # The keys train_av.py writes; the training-mean baseline is shown in the table, never claimed in model-index.
    measured = {
        "dataset_kind": "real", "recola_dev_arousal_ccc": 0.7, "recola_dev_train_mean_arousal_ccc": 0.01,
        "recola_dev_steps": 7500, "recola_train_recordings": 9,
    }
    (tmp_path / "eval_results.json").write_text(json.dumps(measured))
    text = render_model_card(tmp_path)
    assert [(r.dataset_name, r.metric_name, r.metric_value) for r in _parsed(text)[1]] == [
        ("RECOLA (AVEC 2016)", "Arousal CCC", 0.7)
    ]
    rows = [line for line in text.splitlines() if line.startswith("| RECOLA (AVEC 2016) |")]
    assert len(rows) == 2 and all("| 7500 |" in row for row in rows)
    assert any("baseline predicting the training mean" in row and "0.0100" in row for row in rows)
    assert "`recola_train_recordings` = 9" in text

    # The fused model beside its single-stream references (keys of training/av_references.py), valence first;
    # only the fused model's figures are claimed in model-index.
    measured = {
        "dataset_kind": "synthetic-demo", "recola_dev_steps": 1500,
        "recola_dev_valence_ccc": 0.5, "recola_dev_arousal_ccc": 0.6, "recola_dev_mean_ccc": 0.55,
        "recola_dev_visual_only_valence_ccc": 0.4, "recola_dev_visual_only_arousal_ccc": 0.1,
        "recola_dev_visual_only_mean_ccc": 0.25,
        "recola_dev_audio_only_valence_ccc": 0.05, "recola_dev_audio_only_arousal_ccc": 0.55,
        "recola_dev_audio_only_mean_ccc": 0.3,
        "recola_dev_train_mean_valence_ccc": 0.0, "recola_dev_train_mean_arousal_ccc": 0.0,
    }
    (tmp_path / "eval_results.json").write_text(json.dumps(measured))
    text = render_model_card(tmp_path)
    assert [(r.metric_name, r.metric_value) for r in _parsed(text)[1]] == [
        ("Valence CCC", 0.5), ("Arousal CCC", 0.6), ("Mean CCC (valence, arousal)", 0.55)
    ]
    comparison = text[text.index("| Predictor | Valence CCC | Arousal CCC | Mean CCC (valence, arousal) |"):].splitlines()
    assert comparison[2:6] == [
        "| DeepFEVER-AV (face + voice) | 0.5000 | 0.6000 | 0.5500 |",
        "| Visual only (the extractor's own head) | 0.4000 | 0.1000 | 0.2500 |",
        "| Audio only | 0.0500 | 0.5500 | 0.3000 |",
        "| Training mean | 0.0000 | 0.0000 | n/a |",
    ]
    assert "Other values recorded" not in text  # every reference key is labelled, none left unrecognised
    assert "outputs.valence_arousal[0]" in text and "arousal_valence" not in text

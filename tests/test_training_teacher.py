"""The teacher recipe end to end, its argument parser, and the shared input pipeline (crops, augmentation, sampling)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hf_deepfever import DeepFeverImageProcessor
from training_corpora import write_affectnet, write_fec, write_training_corpora

TINY = ["--backbone", "test_resnet", "--no_backbone_pretrained", "--image_size", "32", "--embedding_dim", "16",
        "--dataloader_num_workers", "0", "--warmup_steps", "1", "--per_device_train_batch_size", "8",
        "--per_device_eval_batch_size", "16", "--logging_steps", "1"]

DOCUMENTED = [
    "--output_dir", "--max_steps", "--num_train_epochs", "--per_device_train_batch_size", "--per_device_eval_batch_size",
    "--learning_rate", "--weight_decay", "--warmup_steps", "--seed", "--mixed_precision", "--gradient_accumulation_steps",
    "--checkpointing_steps", "--resume_from_checkpoint", "--eval_steps", "--dataloader_num_workers", "--report_to",
    "--logging_steps", "--affectnet_dir", "--fec_dir", "--rafdb_dir", "--unlabelled_dir", "--max_train_samples",
    "--backbone", "--image_size", "--embedding_dim", "--backbone_pretrained", "--teacher",
]


@pytest.mark.parametrize("module", ["teacher", "distill"])
def test_help_documents_every_argument(module, capsys):
    import importlib

    main = importlib.import_module(f"hf_deepfever.training.{module}").main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in DOCUMENTED:
        assert name in text, name
    assert "Global batch = this x processes x accumulation steps" in text
    extra = ["--class_balancing", "--triplet_margins"] if module == "teacher" else ["--kd_temperature", "--online_teacher"]
    for name in extra:
        assert name in text


def test_every_argument_field_has_a_help_string():
    import dataclasses

    from hf_deepfever.training.arguments import DataArguments, ModelArguments, TrainingLoopArguments
    from hf_deepfever.training.distill import DistillationArguments
    from hf_deepfever.training.teacher import TeacherLossArguments

    for group in (TrainingLoopArguments, DataArguments, ModelArguments, TeacherLossArguments, DistillationArguments):
        for field in dataclasses.fields(group):
            assert len(field.metadata.get("help", "")) > 10, f"{group.__name__}.{field.name}"


def test_bad_arguments_are_rejected_with_the_option_named(tmp_path):
    from hf_deepfever.training.teacher import main

    with pytest.raises(ValueError, match="--mixed_precision"):
        main(["--output_dir", str(tmp_path), "--mixed_precision", "fp8"])
    with pytest.raises(ValueError, match="--affectnet_dir"):
        main(["--output_dir", str(tmp_path), *TINY])
    with pytest.raises(ValueError, match="--triplet_margins"):
        main(["--output_dir", str(tmp_path), "--triplet_margins", "0.1,0.2"])


def _face_rows(tmp_path):
    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import affectnet_face_rows

    write_affectnet(tmp_path / "affectnet")
    return affectnet_face_rows(load_affectnet(tmp_path / "affectnet")["train"])


def test_unaugmented_inputs_are_exactly_the_processor_output(tmp_path):
    """Training crops come from the one image processor: without augmentation they equal inference inputs."""
    from PIL import Image

    from hf_deepfever.training.inputs import FaceRowTransform

    rows = _face_rows(tmp_path)
    processor = DeepFeverImageProcessor(size={"height": 32, "width": 32})
    batch = rows.with_transform(FaceRowTransform(processor, augment=False, seed=0))[:3]
    table = rows[:3]
    expected = processor(
        [Image.open(path) for path in table["path"]], face_boxes=table["face_box"], return_tensors="pt"
    )["pixel_values"]
    torch.testing.assert_close(batch["pixel_values"], expected, atol=1e-4, rtol=1e-4)
    assert batch["labels"].tolist() == table["labels"]
    # Row 0 of class 0 has no valence annotation (-2 in the list): NaN, not a number.
    assert torch.isnan(batch["valence_arousal"][0, 0]) and not torch.isnan(batch["valence_arousal"][0, 1])


def test_augmentation_is_a_function_of_seed_epoch_and_row(tmp_path):
    from hf_deepfever.training.inputs import FaceRowTransform

    rows = _face_rows(tmp_path)
    processor = DeepFeverImageProcessor(size={"height": 32, "width": 32})
    transform = FaceRowTransform(processor, augment=True, seed=3)
    dataset = rows.with_transform(transform)
    first = dataset[[0, 1, 2]]["pixel_values"]
    again = dataset[[2, 1, 0]]["pixel_values"]  # another batch composition: same crop per row
    torch.testing.assert_close(first, again.flip(0))
    plain = rows.with_transform(FaceRowTransform(processor, augment=False, seed=3))[[0, 1, 2]]["pixel_values"]
    assert not torch.allclose(first, plain)
    transform.set_epoch(1)
    assert not torch.allclose(dataset[[0, 1, 2]]["pixel_values"], first)


def test_augmentation_geometry_is_exact_at_its_limits():
    from hf_deepfever.training.inputs import FaceAugmentation, sample_generator

    crops = torch.rand(3, 3, 16, 16)
    generators = [sample_generator(0, 0, row) for row in range(3)]
    still = dict(max_rotation_degrees=0.0, scale_range=(1.0, 1.0), max_translation=0.0, brightness=0.0, contrast=0.0, saturation=0.0)
    torch.testing.assert_close(FaceAugmentation(flip_probability=0.0, **still)(crops, generators), crops)
    torch.testing.assert_close(FaceAugmentation(flip_probability=1.0, **still)(crops, generators), crops.flip(-1))
    augmented = FaceAugmentation()(crops, generators)
    assert augmented.shape == crops.shape and 0.0 <= augmented.min() and augmented.max() <= 1.0


def test_balanced_sampler_evens_out_classes():
    from hf_deepfever.training.losses import class_weights_from_counts
    from hf_deepfever.training.sampling import EpochSampler

    labels = torch.tensor([0] * 90 + [1] * 10)
    weights = class_weights_from_counts(torch.bincount(labels), power=1.0)[labels]
    sampler = EpochSampler(len(labels), seed=0, weights=weights)
    drawn = labels[list(sampler)]
    assert 0.35 < drawn.float().mean().item() < 0.65  # ~50 % of the rare class instead of 10 %
    sampler.set_epoch(0)
    assert list(sampler) == list(sampler)  # one epoch, one order (shared by all processes)
    plain = EpochSampler(100, seed=0)
    assert sorted(plain) == list(range(100))


def test_fec_rows_convert_relative_boxes(tmp_path):
    from hf_deepfever.data import load_fec
    from hf_deepfever.training.data import fec_face_rows, fec_triplet_rows

    write_fec(tmp_path / "fec")
    fec = load_fec(tmp_path / "fec")
    triplets = fec_triplet_rows(fec["train"])
    faces = fec_face_rows(fec["train"])
    assert len(triplets) == 12
    # Each distinct (image, box) once; the boxes stay relative (converted per image at crop time).
    assert len(faces) == len(set(zip(faces["path"], map(tuple, faces["face_box_relative"]))))
    assert all(box is None for box in faces["face_box"]) and set(faces["labels"]) == {-100}


def test_teacher_trains_and_exports_a_hub_ready_folder(tmp_path):
    from transformers import AutoModelForImageClassification

    from hf_deepfever.training.teacher import main

    folders = write_training_corpora(tmp_path / "data")
    out = tmp_path / "teacher"
    results = main([
        "--output_dir", str(out), "--affectnet_dir", str(folders["affectnet"]), "--fec_dir", str(folders["fec"]),
        "--max_steps", "4", "--eval_steps", "2", "--checkpointing_steps", "2", "--class_balancing", "sampler",
        "--learning_rate", "1e-3", "--report_to", "tensorboard", *TINY,
    ])
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # the Accelerate tracker wrote its log
    for name in ("config.json", "model.safetensors", "modeling_deepfever.py", "preprocessor_config.json",
                 "training_args.json", "eval_results.json", "training_log.jsonl"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4"]
    saved = json.loads((out / "eval_results.json").read_text())
    assert saved["affectnet_eval_samples"] == 16 and saved["fec_eval_triplets"] == 6
    assert 0.0 <= saved["affectnet_accuracy_8"] <= 1.0
    assert {k: saved[k] for k in results if k in saved} == pytest.approx({k: results[k] for k in results if k in saved})
    assert json.loads((out / "training_args.json").read_text())["class_balancing"] == "sampler"

    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    train_entries = [e for e in log if "train_loss" in e]
    assert [e["step"] for e in train_entries] == [1, 2, 3, 4]
    for entry in train_entries:  # every term of the multi-task loss is live and finite
        for key in ("train_expression_ce", "train_valence_arousal_ccc_loss", "train_triplet_loss"):
            assert np.isfinite(entry[key]) and entry[key] > 0, (key, entry)
    assert any("eval_fec_triplet_accuracy" in e for e in log)

    model = AutoModelForImageClassification.from_pretrained(out)
    assert type(model).__name__ == "DeepFeverForExpressionRecognition" and model.config.image_size == 32


def _supervised_batch(batch: int = 6, side: int = 32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    valence_arousal = torch.rand(batch, 2, generator=generator) * 2 - 1
    valence_arousal[1, 0] = float("nan")
    return {
        "pixel_values": torch.randn(batch, 3, side, side, generator=generator),
        "labels": torch.tensor([0, 3, -100, 7, 1, 3])[:batch],
        "valence_arousal": valence_arousal,
    }


@pytest.mark.parametrize("valence_arousal_loss", ["ccc", "mse"])
def test_teacher_loss_is_the_models_own_loss(valence_arousal_loss):
    """What the recipe optimises equals `model(..., labels=..., valence_arousal=...).loss` with the saved config."""
    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition
    from hf_deepfever.training.losses import class_weights_from_counts, triplet_hinge_loss
    from hf_deepfever.training.teacher import TeacherLossArguments, TeacherTask

    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16)).eval()
    loss_args = TeacherLossArguments(valence_arousal_weight=0.7, valence_arousal_loss=valence_arousal_loss, triplet_weight=0.5)
    weights = class_weights_from_counts([50, 10, 5, 20, 8, 3, 9, 2], power=0.5)
    config = loss_args.configure(model.config, weights)
    assert config.expression_class_weights == pytest.approx(weights.tolist())
    assert (config.valence_arousal_loss, config.valence_arousal_loss_weight) == (valence_arousal_loss, 0.7)
    task = TeacherTask(loss_args, config, evaluator=None)
    batch = _supervised_batch()
    with torch.no_grad():
        recipe, terms = task.compute_loss(model, batch, {})
        reference = model(**batch).loss
        assert torch.allclose(recipe, reference, atol=1e-6)
        assert terms[f"valence_arousal_{valence_arousal_loss}_loss"] > 0 and terms["expression_ce"] > 0

        # With FEC triplets in the same forward pass, the supervised part is still the model's loss on the faces.
        triplets = {
            "pixel_values": torch.randn(2, 3, 3, 32, 32, generator=torch.Generator().manual_seed(1)),
            "odd_one_out": torch.tensor([0, 2]), "triplet_type": torch.tensor([1, 2]),
        }
        with_triplets, terms = task.compute_loss(model, batch, {"fec": triplets})
        vectors = model(pixel_values=triplets["pixel_values"].flatten(0, 1)).pooler_output.unflatten(0, (-1, 3))
        triplet = triplet_hinge_loss(*vectors.unbind(1), triplets["odd_one_out"], triplets["triplet_type"], margins=loss_args.margins)
        assert torch.allclose(with_triplets, reference + 0.5 * triplet, atol=1e-5)

    # The saved model carries the objective: a Trainer user of the folder gets the same loss.
    reloaded = DeepFeverConfig.from_dict(model.config.to_dict())
    assert reloaded.expression_class_weights == pytest.approx(weights.tolist())
    assert reloaded.valence_arousal_loss == valence_arousal_loss
    with pytest.raises(ValueError, match="--valence_arousal_loss"):
        TeacherLossArguments(valence_arousal_loss="huber")

"""Distillation: the teacher-output cache (computed once, keyed by image and preprocessing, equal to running
the teacher) and the distill recipe end to end with the cached and the online teacher."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from hf_deepfever import DeepFeverImageProcessor
from training_corpora import save_random_teacher, write_training_corpora

TINY = ["--backbone", "test_efficientnet", "--no_backbone_pretrained", "--image_size", "32", "--embedding_dim", "8",
        "--dataloader_num_workers", "0", "--warmup_steps", "1", "--per_device_train_batch_size", "8",
        "--per_device_eval_batch_size", "16", "--logging_steps", "1", "--eval_steps", "0"]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    folders = write_training_corpora(root / "data")
    folders["teacher"] = save_random_teacher(root / "teacher", image_size=32)
    return folders


def test_teacher_cache_is_computed_once_and_equals_the_teacher(corpora, tmp_path, monkeypatch):
    from accelerate import Accelerator

    from hf_deepfever.training import teacher_cache
    from hf_deepfever.training.arguments import DataArguments
    from hf_deepfever.training.components import CorpusSplits
    from hf_deepfever.training.inputs import FaceRowTransform
    from hf_deepfever import load_model_and_processor

    teacher, processor = load_model_and_processor(corpora["teacher"], kind="expression")
    teacher.eval()
    rows = CorpusSplits(
        DataArguments(affectnet_dir=str(corpora["affectnet"]), fec_dir=str(corpora["fec"]), unlabelled_dir=str(corpora["unlabelled"]))
    ).distillation_rows()
    assert rows["row_index"] == list(range(len(rows)))

    computed = []
    real_outputs = teacher_cache.teacher_outputs

    def counting(model, pixel_values):
        computed.append(pixel_values.shape[0])
        return real_outputs(model, pixel_values)

    monkeypatch.setattr(teacher_cache, "teacher_outputs", counting)
    accelerator = Accelerator(cpu=True)
    cache_root = tmp_path / "cache"
    first = teacher_cache.cached_teacher_outputs(accelerator, teacher, processor, rows, cache_root, batch_size=16, chunk_rows=20)
    assert sum(computed) == len(rows) and len(rows) == 32 + len(set(zip(rows["path"][32:], map(str, rows["face_box_relative"][32:]))))
    assert len(list((cache_root).glob("*/shard-*.safetensors"))) == -(-len(rows) // 20)  # one shard per chunk

    # Second call (e.g. the next run): everything comes from disk, nothing is recomputed.
    computed.clear()
    second = teacher_cache.cached_teacher_outputs(accelerator, teacher, processor, rows, cache_root, batch_size=16)
    assert computed == []
    for name in first:
        torch.testing.assert_close(second[name], first[name])

    # The cached outputs are the teacher's outputs on the canonical (un-augmented) crops.
    batch = rows.with_transform(FaceRowTransform(processor, augment=False, seed=0))[list(range(len(rows)))]
    with torch.no_grad():
        direct = real_outputs(teacher, batch["pixel_values"])
    for name in ("logits", "valence_arousal", "vectors"):
        torch.testing.assert_close(first[name], direct[name], rtol=1e-4, atol=1e-5)

    # Filling the cache leaves the global random stream alone: the training that follows draws the same numbers
    # whether the cache had to be filled or was found (the same student distilled twice scored 45.2% then 44.0%).
    torch.manual_seed(123)
    before = torch.get_rng_state()
    teacher_cache.cached_teacher_outputs(accelerator, teacher, processor, rows, tmp_path / "another_cache", batch_size=16)
    assert computed and torch.equal(torch.get_rng_state(), before)
    computed.clear()

    # Editing an image changes its key: exactly that row is recomputed.
    path = rows["path"][3]
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    computed.clear()
    teacher_cache.cached_teacher_outputs(accelerator, teacher, processor, rows, cache_root, batch_size=16)
    assert sum(computed) == 1


def test_fingerprint_follows_weights_and_preprocessing(corpora):
    from hf_deepfever import load_model_and_processor
    from hf_deepfever.training.teacher_cache import teacher_fingerprint

    teacher, processor = load_model_and_processor(corpora["teacher"], kind="expression")
    base = teacher_fingerprint(teacher, processor)
    assert teacher_fingerprint(teacher, processor) == base
    assert teacher_fingerprint(teacher, DeepFeverImageProcessor(size={"height": 32, "width": 32}, crop_margin=0.3)) != base
    assert teacher_fingerprint(teacher, processor, mixed_precision="bf16") != base
    with torch.no_grad():
        teacher.heads.expression[0].bias.add_(1e-3)
    assert teacher_fingerprint(teacher, processor) != base


def test_online_teacher_input_adapter_resizes_and_renormalises():
    from hf_deepfever.training.distill import TeacherInputAdapter

    student = DeepFeverImageProcessor(size={"height": 32, "width": 32})
    teacher = DeepFeverImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.25] * 3)
    pixels = torch.rand(2, 3, 32, 32)  # in [0, 1]
    student_input = (pixels - torch.tensor(student.image_mean).view(1, 3, 1, 1)) / torch.tensor(student.image_std).view(1, 3, 1, 1)
    adapted = TeacherInputAdapter(student, teacher)(student_input)
    expected = (torch.nn.functional.interpolate(pixels, size=(16, 16), mode="bilinear", antialias=True) - 0.5) / 0.25
    assert adapted.shape == (2, 3, 16, 16)
    torch.testing.assert_close(adapted, expected, rtol=1e-4, atol=1e-4)
    same = TeacherInputAdapter(student, student)
    assert same(student_input) is student_input  # same processor: the student's batch as is


def _log(folder):
    return [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]


def test_distill_with_cached_and_online_teacher(corpora, tmp_path, capsys):
    from transformers import AutoModel

    from hf_deepfever.training.distill import main

    common = ["--teacher", str(corpora["teacher"]), "--affectnet_dir", str(corpora["affectnet"]), "--fec_dir", str(corpora["fec"]),
              "--unlabelled_dir", str(corpora["unlabelled"]), "--teacher_cache_dir", str(tmp_path / "cache"), *TINY]
    cached_out = tmp_path / "cached"
    results = main(["--output_dir", str(cached_out), "--max_steps", "3", "--checkpointing_steps", "no", *common])
    assert "teacher cache: computing" in capsys.readouterr().out
    assert results["affectnet_eval_samples"] == 16 and 0.0 <= results["fec_triplet_accuracy"] <= 1.0
    entries = [e for e in _log(cached_out) if "train_loss" in e]
    assert [e["step"] for e in entries] == [1, 2, 3]
    for entry in entries:  # every distillation term is live, the FEC triplet hinge included (--fec_dir given)
        for key in ("train_kd", "train_va_distill", "train_geometry", "train_ground_truth", "train_triplet_loss"):
            assert np.isfinite(entry[key]) and entry[key] > 0, (key, entry)
    saved_args = json.loads((cached_out / "training_args.json").read_text())
    assert saved_args["teacher"] == str(corpora["teacher"]) and saved_args["online_teacher"] is False
    assert saved_args["triplet_weight"] == 1.0
    student = AutoModel.from_pretrained(cached_out)
    assert student.config.backbone == "test_efficientnet" and student.config.embedding_dim == 8
    shards = sorted((tmp_path / "cache").glob("*/shard-*"))

    online_out = tmp_path / "online"
    main(["--output_dir", str(online_out), "--max_steps", "2", "--checkpointing_steps", "no", "--online_teacher",
          "--triplet_weight", "0", *common])
    printed = capsys.readouterr().out
    assert "teacher cache" not in printed and "0 FEC triplets (hinge weight 0.0)" in printed
    assert sorted((tmp_path / "cache").glob("*/shard-*")) == shards
    entries = [e for e in _log(online_out) if "train_loss" in e]
    assert len(entries) == 2 and all(e["train_kd"] > 0 and e["train_geometry"] > 0 for e in entries)
    assert not any("train_triplet_loss" in e for e in entries)  # --triplet_weight 0: no triplet batch is drawn
    assert (online_out / "model.safetensors").is_file()


def test_distillation_ground_truth_term_is_the_students_own_loss():
    """The ground-truth term equals `student(..., labels=..., valence_arousal=...).loss` with the student's config."""
    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition
    from hf_deepfever.training.distill import DistillationArguments, DistillationTask

    torch.manual_seed(0)
    student = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=8)).eval()
    generator = torch.Generator().manual_seed(0)
    batch = {
        "pixel_values": torch.randn(5, 3, 32, 32, generator=generator),
        "labels": torch.tensor([1, -100, 4, 4, 0]),
        "valence_arousal": torch.tensor([[0.2, -0.1], [float("nan"), 0.3], [0.5, 0.6], [-0.4, float("nan")], [0.0, 0.1]]),
        "row_index": torch.arange(5),
    }
    cached = {"logits": torch.randn(5, 8, generator=generator), "valence_arousal": torch.rand(5, 2, generator=generator),
              "vectors": torch.randn(5, 8, generator=generator)}
    only_truth = DistillationArguments(kd_weight=0.0, va_distill_weight=0.0, geometry_weight=0.0, ground_truth_weight=1.0)
    task = DistillationTask(only_truth, evaluator=None, config=student.config, cached=cached)
    with torch.no_grad():
        loss, terms = task.compute_loss(student, batch, {})
        reference = student(pixel_values=batch["pixel_values"], labels=batch["labels"], valence_arousal=batch["valence_arousal"]).loss
    assert torch.allclose(loss, reference, atol=1e-6) and torch.allclose(terms["ground_truth"], reference, atol=1e-6)
    without_config = DistillationTask(only_truth, evaluator=None, cached=cached)  # the model's own config
    with torch.no_grad():
        assert torch.allclose(without_config.compute_loss(student, batch, {})[0], reference, atol=1e-6)


def test_distillation_triplet_term_is_the_fec_hinge_on_the_students_vectors():
    """With a triplet batch, the loss gains `triplet_weight` x FECNet's hinge on the student's vectors of the triplet
    faces; the distillation and ground-truth terms still see only the distillation faces."""
    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition
    from hf_deepfever.training.distill import DistillationArguments, DistillationTask
    from hf_deepfever.training.losses import triplet_hinge_loss
    from hf_deepfever.training.triplets import TripletArguments

    torch.manual_seed(0)
    student = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=8)).eval()
    generator = torch.Generator().manual_seed(1)
    batch = {
        "pixel_values": torch.randn(4, 3, 32, 32, generator=generator),
        "labels": torch.tensor([1, -100, 4, 0]),
        "valence_arousal": torch.rand(4, 2, generator=generator),
        "row_index": torch.arange(4),
    }
    cached = {"logits": torch.randn(4, 8, generator=generator), "valence_arousal": torch.rand(4, 2, generator=generator),
              "vectors": torch.randn(4, 8, generator=generator)}
    triplets = {"pixel_values": torch.randn(3, 3, 3, 32, 32, generator=generator),
                "odd_one_out": torch.tensor([0, 2, 1]), "triplet_type": torch.tensor([0, 1, 2])}
    weights = DistillationArguments()
    plain = DistillationTask(weights, evaluator=None, config=student.config, cached=cached)
    with_hinge = DistillationTask(weights, evaluator=None, config=student.config, cached=cached,
                                  triplets=TripletArguments(triplet_weight=0.7, triplet_margins="0.3,0.5,0.7"))
    with torch.no_grad():  # eval mode: batch norm uses running statistics, so sharing the forward pass changes nothing
        base, base_terms = plain.compute_loss(student, batch, {"fec": triplets})
        loss, terms = with_hinge.compute_loss(student, batch, {"fec": triplets})
        vectors = student(pixel_values=triplets["pixel_values"].flatten(0, 1)).pooler_output.unflatten(0, (3, 3))
    expected = triplet_hinge_loss(vectors[:, 0], vectors[:, 1], vectors[:, 2], triplets["odd_one_out"],
                                  triplets["triplet_type"], margins=(0.3, 0.5, 0.7))
    assert "triplet_loss" not in base_terms and expected > 0
    torch.testing.assert_close(terms["triplet_loss"], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, base + 0.7 * expected, rtol=1e-5, atol=1e-6)
    for name in ("kd", "va_distill", "geometry", "ground_truth"):
        torch.testing.assert_close(terms[name], base_terms[name], rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # a step without a triplet batch has no hinge
        assert "triplet_loss" not in with_hinge.compute_loss(student, batch, {})[1]


def test_triplet_arguments_are_checked():
    from hf_deepfever.training.triplets import TripletArguments

    assert TripletArguments().margins == (0.1, 0.2, 0.2) and TripletArguments().triplets_per_batch(32) == 10
    with pytest.raises(ValueError, match="--triplet_margins"):
        TripletArguments(triplet_margins="0.1,0.2")
    with pytest.raises(ValueError, match="--triplet_weight"):
        TripletArguments(triplet_weight=-1)


def test_cache_keys_follow_the_landmarks(corpora):
    """An aligning processor rotates a crop by its landmarks: other landmarks for the same file are another key."""
    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import affectnet_face_rows
    from hf_deepfever.training.teacher_cache import row_keys

    rows = affectnet_face_rows(load_affectnet(corpora["affectnet"])["train"]).select(range(4)).flatten_indices()
    def with_landmarks(points):
        return rows.remove_columns("landmarks").add_column("landmarks", points, feature=rows.features["landmarks"])

    points = np.random.default_rng(0).uniform(5, 40, (4, 136)).tolist()
    moved = [p if i != 2 else [v + 1.0 for v in p] for i, p in enumerate(points)]
    without = row_keys(rows)  # this corpus's landmarks have no eye line: the face rows hold none
    before, after = row_keys(with_landmarks(points)), row_keys(with_landmarks(moved))
    assert (before[[0, 1, 3]] == after[[0, 1, 3]]).all() and not (before[2] == after[2]).all()
    assert not (before == without).all(axis=1).any()
    assert np.array_equal(row_keys(with_landmarks(points)), before)  # and stable

"""A training image that cannot be decoded (its header reads fine, its body does not) is skipped and counted:
its row stays in the batch as a marker that every loss ignores, training finishes and names the file, and the
teacher cache never stores an output for it."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import PIL.Image
import pytest
import torch

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.training.inputs import (
    IGNORE_INDEX,
    NO_TRIPLET,
    FaceRowTransform,
    SkippedImageWarning,
    TripletRowTransform,
)
from training_corpora import save_random_teacher, write_affectnet, write_training_corpora

SIDE = 32


def corrupt_in_place(path) -> None:
    """Replace the image at ``path`` by a JPEG of the same size cut in half: PIL reads its header (so the corpus
    reader indexes it, with its size), decoding its pixels fails."""
    with PIL.Image.open(path) as image:
        size = image.size
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    PIL.Image.fromarray(noise).save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with PIL.Image.open(path) as image:
        assert image.size == size  # the header still reads fine
        with pytest.raises(OSError):
            image.load()


@pytest.fixture
def face_rows(tmp_path):
    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import affectnet_face_rows

    write_affectnet(tmp_path / "affectnet")
    return affectnet_face_rows(load_affectnet(tmp_path / "affectnet")["train"])


def _processor() -> DeepFeverImageProcessor:
    return DeepFeverImageProcessor(size={"height": SIDE, "width": SIDE})


@pytest.mark.parametrize("augment", [False, True])
def test_an_unreadable_face_becomes_a_marker_row_and_the_others_are_untouched(face_rows, augment):
    rows = face_rows.select(range(6))
    clean = rows.with_transform(FaceRowTransform(_processor(), augment=augment, seed=3))[:]
    bad_path = rows[2]["path"]
    corrupt_in_place(__import__("pathlib").Path(bad_path))
    transform = FaceRowTransform(_processor(), augment=augment, seed=3)
    with pytest.warns(SkippedImageWarning, match=rf"training row 2: {bad_path}: cannot decode image") as caught:
        batch = rows.with_transform(transform)[:]
    assert len(caught) == 1 and "1 unreadable image(s) so far" in str(caught[0].message) and transform.skipped == 1

    assert batch["usable"].tolist() == [True, True, False, True, True, True]
    assert batch["pixel_values"].shape == clean["pixel_values"].shape  # same batch size: DDP and resume unchanged
    assert torch.count_nonzero(batch["pixel_values"][2]) == 0  # the normalisation mean
    assert batch["labels"][2] == IGNORE_INDEX and torch.isnan(batch["valence_arousal"][2]).all()
    keep = [0, 1, 3, 4, 5]
    assert torch.equal(batch["pixel_values"][keep], clean["pixel_values"][keep])  # same crops and augmentation
    assert torch.equal(batch["labels"][keep], clean["labels"][keep])
    assert torch.equal(batch["valence_arousal"][keep].nan_to_num(9.0), clean["valence_arousal"][keep].nan_to_num(9.0))
    assert torch.equal(batch["row_index"], clean["row_index"])


def _triplet_rows(face_paths: list[str]):
    import datasets

    return datasets.Dataset.from_dict({
        **{f"path_{k}": face_paths[k - 1 :: 3] for k in (1, 2, 3)},
        **{f"box_{k}": [[0.1, 0.9, 0.1, 0.9]] * (len(face_paths) // 3) for k in (1, 2, 3)},
        "odd_one_out": [0, 2], "triplet_type": [1, 2], "row_index": [0, 1],
    })  # fmt: skip


def test_a_triplet_with_an_unreadable_face_takes_no_part(face_rows):
    from pathlib import Path

    paths = face_rows.select(range(6))["path"]
    corrupt_in_place(Path(paths[4]))  # the second triplet's second face
    with pytest.warns(SkippedImageWarning, match=Path(paths[4]).name):
        batch = _triplet_rows(paths).with_transform(TripletRowTransform(_processor(), augment=False, seed=0))[:]
    assert batch["usable"].tolist() == [True, False]
    assert batch["odd_one_out"].tolist() == [0, NO_TRIPLET] and NO_TRIPLET < 0
    assert batch["pixel_values"].shape == (2, 3, 3, SIDE, SIDE)


def test_marker_rows_add_exactly_nothing_to_the_teacher_loss():
    """Loss and gradients of a batch with marker rows equal those of the batch without them (eval mode, so no
    batch statistics couple the rows), for every term: weighted cross-entropy, CCC or MSE, the FEC triplet hinge."""
    from hf_deepfever.training.losses import class_weights_from_counts
    from hf_deepfever.training.teacher import TeacherLossArguments, TeacherTask

    generator = torch.Generator().manual_seed(0)
    faces = torch.randn(6, 3, SIDE, SIDE, generator=generator)
    triplet_faces = torch.randn(3, 3, 3, SIDE, SIDE, generator=generator)
    usable = torch.tensor([True, False, True, True, False, True])
    triplet_usable = torch.tensor([True, False, True])
    batch = {
        "pixel_values": faces.masked_fill(~usable.view(-1, 1, 1, 1), 0.0),
        "labels": torch.tensor([0, 3, 5, 7, 1, 3]).masked_fill(~usable, IGNORE_INDEX),
        "valence_arousal": (torch.rand(6, 2, generator=generator) * 2 - 1).masked_fill(~usable[:, None], math.nan),
        "usable": usable,
    }
    triplets = {
        "pixel_values": triplet_faces, "odd_one_out": torch.tensor([0, 1, 2]).masked_fill(~triplet_usable, NO_TRIPLET),
        "triplet_type": torch.tensor([0, 1, 2]), "usable": triplet_usable,
    }  # fmt: skip
    kept = {key: value[usable] for key, value in batch.items()}
    kept_triplets = {key: value[triplet_usable] for key, value in triplets.items()}
    for kind in ("ccc", "mse"):
        torch.manual_seed(0)
        model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=SIDE, embedding_dim=16)).eval()
        loss_args = TeacherLossArguments(valence_arousal_loss=kind, triplet_weight=0.5)
        config = loss_args.configure(model.config, class_weights_from_counts([5, 1, 2, 4, 3, 2, 1, 1], power=0.5))
        task = TeacherTask(loss_args, config, evaluator=None)

        def loss_and_gradients(main, auxiliary):
            model.zero_grad()
            main = {**main, "pixel_values": main["pixel_values"].clone().requires_grad_(True)}
            loss, terms = task.compute_loss(model, main, {"fec": auxiliary})
            loss.backward()
            return loss.detach(), terms, main["pixel_values"].grad, [p.grad.clone() for p in model.parameters()]

        loss, terms, pixel_grad, grads = loss_and_gradients(batch, triplets)
        loss_kept, terms_kept, _, grads_kept = loss_and_gradients(kept, kept_triplets)
        assert torch.allclose(loss, loss_kept, atol=1e-6), kind
        for name in terms:
            assert torch.allclose(terms[name], terms_kept[name], atol=1e-6), (kind, name)
        assert torch.count_nonzero(pixel_grad[~usable]) == 0  # nothing flows back from a marker row
        assert all(torch.allclose(g, h, atol=1e-6) for g, h in zip(grads, grads_kept))


def test_teacher_training_skips_an_unreadable_image_and_names_it(tmp_path):
    from hf_deepfever.training.teacher import main

    folders = write_training_corpora(tmp_path / "data")
    bad = sorted((folders["affectnet"] / "Manually_Annotated_Images").rglob("train_3/1.png"))[0]
    corrupt_in_place(bad)
    out = tmp_path / "teacher"
    arguments = [
        "--output_dir", str(out), "--affectnet_dir", str(folders["affectnet"]), "--fec_dir", str(folders["fec"]),
        "--backbone", "test_resnet", "--no_backbone_pretrained", "--image_size", str(SIDE), "--embedding_dim", "16",
        "--dataloader_num_workers", "0", "--warmup_steps", "1", "--per_device_train_batch_size", "8",
        "--per_device_eval_batch_size", "16", "--logging_steps", "1", "--max_steps", "6", "--eval_steps", "0",
        "--checkpointing_steps", "no", "--learning_rate", "1e-3",
    ]  # fmt: skip
    with pytest.warns(SkippedImageWarning, match=str(bad)) as caught:
        results = main(arguments)
    # 32 training rows, batches of 8, 6 steps: the bad row is drawn in each of the two epochs, once each.
    assert len([w for w in caught if issubclass(w.category, SkippedImageWarning)]) == 2
    assert (out / "model.safetensors").is_file() and 0.0 <= results["affectnet_accuracy_8"] <= 1.0
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    losses = [entry["train_loss"] for entry in log if "train_loss" in entry]
    assert len(losses) == 6 and all(np.isfinite(losses))


def test_teacher_cache_never_stores_an_unreadable_image(face_rows, tmp_path):
    from pathlib import Path

    from accelerate import Accelerator
    from safetensors.torch import load_file

    from hf_deepfever.core.loading import load_model_and_processor
    from hf_deepfever.training.teacher_cache import cached_teacher_outputs, row_keys, teacher_outputs

    rows = face_rows.select(range(10)).flatten_indices()
    bad = Path(rows[4]["path"])
    teacher, processor = load_model_and_processor(str(save_random_teacher(tmp_path / "teacher", image_size=SIDE)), kind="expression")
    teacher.eval()
    expected = teacher_outputs(teacher, rows.with_transform(FaceRowTransform(processor, augment=False, seed=0))[:]["pixel_values"])
    corrupt_in_place(bad)
    accelerator = Accelerator(cpu=True)
    with pytest.warns(SkippedImageWarning, match=bad.name):
        outputs = cached_teacher_outputs(accelerator, teacher, processor, rows, tmp_path / "cache", batch_size=4)
    assert all(torch.count_nonzero(values[4]) == 0 for values in outputs.values())
    stored = torch.cat([load_file(str(shard))["keys"] for shard in (tmp_path / "cache").rglob("shard-*.safetensors")])
    keys = torch.from_numpy(row_keys(rows))
    assert len(stored) == 9 and not (stored == keys[4]).all(dim=1).any()  # every row but the bad one
    good = [i for i in range(10) if i != 4]
    assert torch.allclose(outputs["logits"][good], expected["logits"][good], atol=1e-5)

    # Repaired (a new file, so a new key), the face is computed and cached like any other.
    PIL.Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(bad, "PNG")
    repaired = cached_teacher_outputs(accelerator, teacher, processor, rows, tmp_path / "cache", batch_size=4)
    assert torch.count_nonzero(repaired["logits"][4]) > 0
    assert torch.equal(repaired["logits"][good], outputs["logits"][good])


class _RowsOf(torch.nn.Module):
    """Stands in for the student on a batch of some rows: returns those rows of outputs already computed."""

    def __init__(self, output, rows: torch.Tensor) -> None:
        super().__init__()
        self.output, self.rows = output, rows

    def forward(self, pixel_values: torch.Tensor):
        assert pixel_values.shape[0] == len(self.rows)
        fields = ("logits", "valence_arousal", "pooler_output")
        return type(self.output)(**{name: getattr(self.output, name)[self.rows] for name in fields})


def test_distillation_terms_leave_marker_rows_out():
    """A marker row (``usable`` False, its cached teacher output zeros) adds nothing to the KD, valence/arousal and
    geometry terms: the loss equals the loss of the batch without it; a batch of markers only gives zero terms."""
    from hf_deepfever.training.distill import DistillationArguments, DistillationTask

    torch.manual_seed(0)
    student = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=SIDE, embedding_dim=8)).eval()
    generator = torch.Generator().manual_seed(2)
    usable = torch.tensor([True, False, True, True, False])
    batch = {
        "pixel_values": torch.randn(5, 3, SIDE, SIDE, generator=generator),
        "labels": torch.tensor([1, 3, 4, 0, 2]).masked_fill(~usable, IGNORE_INDEX),
        "valence_arousal": torch.rand(5, 2, generator=generator).masked_fill(~usable[:, None], math.nan),
        "row_index": torch.arange(5),
        "usable": usable,
    }
    cached = {"logits": torch.randn(5, 8, generator=generator), "valence_arousal": torch.rand(5, 2, generator=generator),
              "vectors": torch.randn(5, 8, generator=generator)}
    cached = {name: values.masked_fill(~usable.reshape(-1, *[1] * (values.dim() - 1)), 0.0) for name, values in cached.items()}
    task = DistillationTask(DistillationArguments(), evaluator=None, config=student.config, cached=cached)
    keep = usable.nonzero().flatten()
    kept_batch = {name: values[keep] for name, values in batch.items()} | {"row_index": torch.arange(len(keep))}
    kept_task = DistillationTask(
        DistillationArguments(), evaluator=None, config=student.config,
        cached={name: values[keep] for name, values in cached.items()},
    )
    with torch.no_grad():
        whole = student(pixel_values=batch["pixel_values"])
        loss, terms = task.compute_loss(student, batch, {})
        # The student's own rows of the whole batch: a forward pass on 3 images instead of 5 may pick other
        # convolution kernels (a float32 difference of ~1e-4 relative in the geometry term was seen), which says
        # nothing about the marker rows. With the same outputs, the two losses reduce the same numbers.
        expected, expected_terms = kept_task.compute_loss(_RowsOf(whole, keep), kept_batch, {})
    assert torch.isfinite(loss) and expected > 0
    for name in ("kd", "va_distill", "geometry", "ground_truth"):
        # Same values, same reduction order: only float32 rounding of identical operations (default tolerance).
        torch.testing.assert_close(terms[name], expected_terms[name])
    torch.testing.assert_close(loss, expected)

    markers_only = {
        **batch, "usable": torch.zeros(5, dtype=torch.bool), "labels": torch.full((5,), IGNORE_INDEX),
        "valence_arousal": torch.full((5, 2), math.nan),
    }  # fmt: skip
    loss, terms = task.compute_loss(student, markers_only, {})
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()  # the graph is kept: every process runs the same backward

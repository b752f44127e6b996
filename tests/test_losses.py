"""Losses of hf_deepfever.training.losses on hand-checked small tensors: values, gradients, empty cases, autocast."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hf_deepfever.training.losses import (
    ccc_loss,
    class_weights_from_counts,
    distillation_kl,
    expression_cross_entropy,
    geometry_loss,
    triplet_hinge_loss,
    vector_regression_loss,
)
from hf_deepfever.metrics import ccc

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _assert_finite_grad(tensor: torch.Tensor) -> None:
    assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


# ---------------------------------------------------------------- CCC


def test_ccc_loss_hand_values() -> None:
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    pred = torch.stack([x, x + 1.0], dim=1)
    target = torch.stack([x, x], dim=1)
    # Column 0 agrees exactly (1 - 1 = 0); column 1 is shifted by 1: 1 - 2var / (2var + 1), var = 1.25.
    expected = (0.0 + (1 - 2.5 / 3.5)) / 2
    assert ccc_loss(pred, target).item() == pytest.approx(expected, abs=1e-6)
    assert ccc_loss(x, -x + 5.0).item() == pytest.approx(2.0, abs=1e-6)  # 1-D input, CCC = -1


def test_ccc_loss_ignores_nan_targets_per_column() -> None:
    pred = torch.tensor([[0.1, 0.3], [0.5, -0.2], [0.9, 0.4], [0.2, 0.0]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan")], [0.4, -0.1], [1.0, float("nan")], [float("nan"), 0.2]])
    loss = ccc_loss(pred, target)
    valence = 1 - ccc(pred[:3, 0].detach(), target[:3, 0])
    arousal = 1 - ccc(pred[[1, 3], 1].detach(), target[[1, 3], 1])
    assert loss.item() == pytest.approx((valence + arousal) / 2, abs=1e-5)
    loss.backward()
    _assert_finite_grad(pred)
    assert pred.grad[3, 0] == 0 and pred.grad[0, 1] == 0  # rows with NaN targets get no gradient


def test_ccc_loss_columns_without_two_targets_contribute_nothing() -> None:
    pred = torch.tensor([[0.1, 0.3], [0.5, -0.2], [0.9, 0.4]], requires_grad=True)
    target = torch.tensor([[0.0, float("nan")], [0.4, 0.1], [1.0, float("nan")]])
    assert ccc_loss(pred, target).item() == pytest.approx(1 - ccc(pred[:, 0].detach(), target[:, 0]), abs=1e-5)
    all_missing = torch.full((3, 2), float("nan"))
    loss = ccc_loss(pred, all_missing)
    assert loss.item() == 0.0
    loss.backward()
    _assert_finite_grad(pred)
    empty = torch.zeros(0, 2, requires_grad=True)
    empty_loss = ccc_loss(empty, torch.zeros(0, 2))
    empty_loss.backward()
    assert empty_loss.item() == 0.0 and empty.grad is not None


def test_ccc_loss_mask_on_padded_sequences() -> None:
    torch.manual_seed(0)
    pred = torch.randn(2, 5, 2)
    target = torch.randn(2, 5, 2)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    pred[1, 3:] = float("nan")  # garbage on padded steps must not leak
    target[1, 3:] = 1e6
    pred.requires_grad_(True)
    loss = ccc_loss(pred, target, mask=mask)
    reference = ccc_loss(pred.detach()[mask], target[mask])
    assert loss.item() == pytest.approx(reference.item(), abs=1e-6)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[1, 3:] == 0).all()
    with pytest.raises(ValueError, match="mask"):
        ccc_loss(pred, target, mask=mask[:, :4])


# ---------------------------------------------------------------- cross-entropy and class weights


def test_expression_cross_entropy_hand_values_and_ignore_index() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0], [5.0, -5.0]], requires_grad=True)
    labels = torch.tensor([1, 0, -100])
    plain = expression_cross_entropy(logits, labels)
    assert plain.item() == pytest.approx((-math.log(0.75) + math.log(2.0)) / 2, abs=1e-6)
    weighted = expression_cross_entropy(logits, labels, class_weights=torch.tensor([1.0, 3.0]))
    assert weighted.item() == pytest.approx((3 * -math.log(0.75) + math.log(2.0)) / 4, abs=1e-6)
    reference = F.cross_entropy(logits, labels, weight=torch.tensor([1.0, 3.0]))
    assert weighted.item() == pytest.approx(reference.item(), abs=1e-6)
    weighted.backward()
    _assert_finite_grad(logits)
    assert (logits.grad[2] == 0).all()


def test_expression_cross_entropy_without_labels_is_zero_with_grad() -> None:
    logits = torch.randn(3, 8, requires_grad=True)
    loss = expression_cross_entropy(logits, torch.full((3,), -100), class_weights=torch.ones(8))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_class_weights_from_counts() -> None:
    weights = class_weights_from_counts([10, 30, 0, 60])
    # Inverse counts 1/10, 1/30, 1/60 have mean 0.05 -> 2, 2/3, 1/3; the empty class gets 0.
    torch.testing.assert_close(weights, torch.tensor([2.0, 2 / 3, 0.0, 1 / 3]))
    assert weights.dtype == torch.float32
    mild = class_weights_from_counts(torch.tensor([100, 25]), power=0.5)
    assert mild.mean().item() == pytest.approx(1.0) and (mild[1] / mild[0]).item() == pytest.approx(2.0)
    torch.testing.assert_close(class_weights_from_counts([5, 50], power=0.0), torch.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        class_weights_from_counts([3, -1])
    with pytest.raises(ValueError, match="all zero"):
        class_weights_from_counts([0, 0])


# ---------------------------------------------------------------- FEC triplet hinge


def test_triplet_hinge_loss_hand_values() -> None:
    a, p, n = torch.tensor([1.0, 0.0]), torch.tensor([0.6, 0.8]), torch.tensor([0.0, 1.0])
    # Triplet 1 (two-class, m = 0.2), odd face first: d(a,p)=0.8, d(a,n)=2, d(p,n)=0.4 -> 0 + 0.6.
    # Triplet 2 (one-class, m = 0.1), odd face last, pair (a, n) similar with p odd:
    #   d(a,n)=2, d(a,p)=0.8, d(n,p)=0.4 -> 1.3 + 1.7 = 3.0.
    # Triplet 3 is ignored (odd_one_out = -100).
    e1 = torch.stack([n, a, a]).requires_grad_(True)
    e2 = torch.stack([a, n, p]).requires_grad_(True)
    e3 = torch.stack([p, p, n]).requires_grad_(True)
    odd = torch.tensor([0, 2, -100])
    types = torch.tensor([1, 0, 2])
    loss = triplet_hinge_loss(2.0 * e1, 2.0 * e2, 2.0 * e3, odd, types)  # scale is removed by L2-normalising
    assert loss.item() == pytest.approx((0.6 + 3.0) / 2, abs=1e-5)
    loss.backward()
    for e in (e1, e2, e3):
        _assert_finite_grad(e)
    assert (e1.grad[2] == 0).all()
    raw = triplet_hinge_loss(2.0 * e1[:1], 2.0 * e2[:1], 2.0 * e3[:1], [0], [1], normalize=False)
    assert raw.item() == pytest.approx(4 * 0.4 + 0.2, abs=1e-5)  # distances x4: 0 + (3.2 - 1.6 + 0.2)


def test_triplet_hinge_loss_without_triplets_is_zero_with_grad() -> None:
    e = torch.randn(2, 4, requires_grad=True)
    loss = triplet_hinge_loss(e, e * 2, e * 3, torch.tensor([-100, -100]), torch.tensor([0, 0]))
    assert loss.item() == 0.0
    loss.backward()
    _assert_finite_grad(e)
    empty = torch.zeros(0, 4, requires_grad=True)
    assert triplet_hinge_loss(empty, empty, empty, [], []).item() == 0.0
    with pytest.raises(ValueError, match="one odd_one_out"):
        triplet_hinge_loss(e, e, e, [0], [0, 0])


# ---------------------------------------------------------------- distillation terms


def test_distillation_kl_hand_values() -> None:
    student = torch.zeros(2, 2, requires_grad=True)
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]], requires_grad=True)
    kl_row = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    loss = distillation_kl(student, teacher, temperature=1.0)
    assert loss.item() == pytest.approx(kl_row / 2, abs=1e-6)  # batchmean over 2 rows, the second KL is 0
    # At T = 2 with teacher logits doubled, the softened distributions are the same; T² scales the loss.
    hot = distillation_kl(student, 2.0 * teacher, temperature=2.0)
    assert hot.item() == pytest.approx(4 * kl_row / 2, abs=1e-5)
    hot.backward()
    _assert_finite_grad(student)
    assert teacher.grad is None  # the teacher is a fixed target
    assert distillation_kl(torch.zeros(0, 8), torch.zeros(0, 8), 2.0).item() == 0.0
    with pytest.raises(ValueError, match="temperature"):
        distillation_kl(student, teacher, 0.0)


def test_geometry_loss_hand_value_and_invariances() -> None:
    teacher = torch.tensor([[0.0], [1.0], [2.0]])
    student = torch.tensor([[0.0], [1.0], [3.0]], requires_grad=True)
    # Pairs (0,1), (0,2), (1,2): teacher 1, 2, 1 / mean 4/3; student 1, 3, 2 / mean 2.
    # Differences -0.25, 0, 0.25 -> Huber 0.5 d^2 -> mean (0.03125 + 0 + 0.03125) / 3.
    loss = geometry_loss(student, teacher)
    assert loss.item() == pytest.approx(0.0625 / 3, abs=1e-6)
    loss.backward()
    _assert_finite_grad(student)

    torch.manual_seed(0)
    teacher_vectors = torch.randn(6, 3)
    rotation, _ = torch.linalg.qr(torch.randn(3, 3))
    student_vectors = torch.cat([5.0 * teacher_vectors @ rotation, torch.zeros(6, 2)], dim=1)  # wider, scaled
    assert geometry_loss(student_vectors, teacher_vectors).item() == pytest.approx(0.0, abs=1e-5)


def test_geometry_loss_degenerate_batches_have_finite_grads() -> None:
    single = torch.randn(1, 4, requires_grad=True)
    loss = geometry_loss(single, torch.randn(1, 4))
    loss.backward()
    assert loss.item() == 0.0 and single.grad is not None
    duplicated = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    geometry_loss(duplicated, torch.randn(3, 8)).backward()
    _assert_finite_grad(duplicated)


def test_vector_regression_loss() -> None:
    student = torch.tensor([[1.0, 0.0], [2.0, 2.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    assert vector_regression_loss(student, teacher).item() == pytest.approx(0.5, abs=1e-6)  # (1 + 0) / 2
    mse = vector_regression_loss(student, teacher, kind="mse")
    assert mse.item() == pytest.approx((1 + 1 + 1 + 1) / 4, abs=1e-6)
    mse.backward()
    _assert_finite_grad(student)
    with pytest.raises(ValueError, match="kind"):
        vector_regression_loss(student, teacher, kind="l3")


# ---------------------------------------------------------------- autocast and devices


@pytest.mark.parametrize("device", DEVICES)
def test_losses_under_bf16_autocast_compute_in_float32(device: str) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 8).to(device)
    inputs = torch.randn(5, 6, device=device)
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        outputs = layer(inputs)
        assert outputs.dtype == torch.bfloat16
        losses = {
            "ce": expression_cross_entropy(outputs, torch.tensor([0, 1, 7, -100, 3], device=device)),
            "ccc": ccc_loss(outputs[:, :2], torch.randn(5, 2, device=device)),
            "triplet": triplet_hinge_loss(outputs[:2], outputs[2:4], outputs[[4, 0]], [0, 2], [1, 2]),
            "kl": distillation_kl(outputs, torch.randn(5, 8, device=device), temperature=2.0),
            "geometry": geometry_loss(outputs, torch.randn(5, 4, device=device)),
            "regression": vector_regression_loss(outputs, torch.randn(5, 8, device=device)),
        }
    total = sum(losses.values())
    for name, loss in losses.items():
        assert loss.dtype == torch.float32, name
        assert torch.isfinite(loss), name
    total.backward()
    _assert_finite_grad(layer.weight)

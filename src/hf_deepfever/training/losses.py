"""Training losses of DeepFEVER: the supervised loss, expression cross-entropy, CCC, FEC triplet hinge and the
distillation terms.

The supervised terms are the model's own: :func:`supervised_loss`, :func:`expression_cross_entropy` and
:func:`ccc_loss` run the functions of ``models/deepfever/modeling_deepfever.py`` that
``DeepFeverForExpressionRecognition(..., labels=..., valence_arousal=...)`` uses for its ``loss``, with the same
config, so a recipe optimises exactly what a ``Trainer`` user of the saved model gets.

Plain torch, differentiable, device- and dtype-agnostic. Each loss turns autocast off and computes in float32
(reductions and distances in bf16 lose too much precision), and returns a float32 scalar. Losses that can meet
a batch without any valid row (no expression label, too few valence/arousal targets, no triplet) return 0 that
is still connected to the graph, so ``backward()`` runs everywhere with finite gradients; they do so without a
data-dependent Python branch, so there is no host-device synchronisation on accelerators.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import ParamSpec, TypeVar

import torch
import torch.nn.functional as F

from ..models.deepfever.modeling_deepfever import ccc_loss as model_ccc_loss
from ..models.deepfever.modeling_deepfever import expression_cross_entropy as model_expression_cross_entropy
from ..models.deepfever.modeling_deepfever import expression_recognition_loss

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def _full_precision(device: torch.device) -> Iterator[None]:
    """Disable autocast for ``device`` (a no-op on devices autocast does not know)."""
    try:
        context = torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:
        context = contextlib.nullcontext()
    with context:
        yield


def _as_index_tensor(values: torch.Tensor | Sequence[int], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(values, device=device).long().reshape(-1)


def _autocast_off(model_loss: Callable[P, R], name: str, doc: str) -> Callable[P, R]:
    """``model_loss``, a loss of ``modeling_deepfever.py``, run with autocast off on the device of its first argument
    (a tensor), named ``name`` and documented by ``doc`` here; its signature stays the model's."""

    @functools.wraps(model_loss)
    def in_full_precision(*args: P.args, **kwargs: P.kwargs) -> R:
        with _full_precision(args[0].device):
            return model_loss(*args, **kwargs)

    in_full_precision.__name__ = in_full_precision.__qualname__ = name
    in_full_precision.__module__ = __name__
    in_full_precision.__doc__ = doc
    return in_full_precision


ccc_loss = _autocast_off(
    model_ccc_loss,
    "ccc_loss",
    """``1 - CCC`` averaged over the output columns that have at least two valid (non-NaN, unmasked) targets.

The one CCC of the package (:func:`~hf_deepfever.models.deepfever.modeling_deepfever.ccc_loss`, which
the models' own ``loss`` uses too), computed here with autocast off. ``pred`` and ``target`` are
``(N, D)`` or ``(B, T, D)``; ``mask`` (``(N,)`` or ``(B, T)``) marks real rows. With no usable column the
loss is 0, with a defined, zero gradient. ``reduction="none"`` gives the ``(D,)`` per-column values.
""",
)

expression_cross_entropy = _autocast_off(
    model_expression_cross_entropy,
    "expression_cross_entropy",
    """Cross-entropy on expression logits ``(N, C)`` with optional class weights, over rows with a label.

``loss = Σ_i w[y_i]·(-log softmax(logits_i)[y_i]) / Σ_i w[y_i]`` over rows with ``y_i >= 0`` (a negative label,
e.g. -100, marks a row without one; PyTorch's weighted mean); 0 with a zero gradient when no row has a label.
Labels must lie below ``C``. The model's own function, with autocast off.
""",
)

supervised_loss = _autocast_off(
    expression_recognition_loss,
    "supervised_loss",
    """The loss ``DeepFeverForExpressionRecognition`` returns for these targets and ``config`` (its class weights,
``valence_arousal_loss`` and ``valence_arousal_loss_weight``), with autocast off: ``(loss, terms)`` with
``terms["expression"]`` / ``terms["valence_arousal"]`` for the targets given.""",
)


def class_weights_from_counts(counts: torch.Tensor | Sequence[float], *, power: float = 1.0) -> torch.Tensor:
    """Inverse-frequency class weights ``w_c ∝ (1 / n_c) ** power``, scaled so their mean over classes is 1.

    ``power=1`` is full inverse frequency, ``0.5`` its square root (a milder correction), ``0`` uniform. A class
    with zero examples gets weight 0 (it never occurs in training) and is left out of the mean. Returns a
    float32 tensor of shape ``(C,)``.
    """
    counts_tensor = torch.as_tensor(counts, dtype=torch.float64).reshape(-1)
    if torch.any(counts_tensor < 0) or not torch.all(torch.isfinite(counts_tensor)):
        raise ValueError(f"class counts must be finite and non-negative, got {counts_tensor.tolist()}")
    present = counts_tensor > 0
    if not torch.any(present):
        raise ValueError("class counts are all zero: no class to weight")
    weights = torch.zeros_like(counts_tensor)
    weights[present] = counts_tensor[present].pow(-power)
    weights[present] = weights[present] / weights[present].mean()
    return weights.float()


def _select_triplet_roles(
    vectors: torch.Tensor, odd_one_out: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``(N, 3, D)`` triplets into (anchor, positive, negative) = (similar, similar, odd) faces."""
    # For odd face k, the similar pair is the other two faces in their original order.
    similar_order = torch.tensor([[1, 2], [0, 2], [0, 1]], device=vectors.device)
    rows = torch.arange(vectors.shape[0], device=vectors.device)
    pair = similar_order[odd_one_out]
    return vectors[rows, pair[:, 0]], vectors[rows, pair[:, 1]], vectors[rows, odd_one_out]


def triplet_hinge_loss(
    e1: torch.Tensor,
    e2: torch.Tensor,
    e3: torch.Tensor,
    odd_one_out: torch.Tensor | Sequence[int],
    triplet_type: torch.Tensor | Sequence[int],
    margins: Sequence[float] = (0.1, 0.2, 0.2),
    *,
    normalize: bool = True,
) -> torch.Tensor:
    """FECNet's triplet hinge on expression vectors, with the margin set by the triplet type.

    For the similar pair (a, p) and the odd face n, with squared Euclidean distances ``d`` between the
    L2-normalised vectors (``normalize=False`` keeps them as they are):
    ``loss = max(0, d(a,p) - d(a,n) + m) + max(0, d(a,p) - d(p,n) + m)``, averaged over triplets, where
    ``m = margins[triplet_type]`` (one-class 0.1, two- and three-class 0.2 as in FECNet).
    ``odd_one_out`` is the 0-based index (0, 1, 2) of the odd face; a negative value marks a row without a
    triplet, which is ignored. ``triplet_type`` holds ids 0/1/2 (one/two/three-class; see
    :func:`hf_deepfever.metrics.triplet_type_ids` for turning FEC's strings into ids). 0 when no row is valid.
    """
    device = e1.device
    odd = _as_index_tensor(odd_one_out, device)
    type_ids = _as_index_tensor(triplet_type, device)
    if not (e1.shape == e2.shape == e3.shape) or e1.dim() != 2:
        raise ValueError(f"e1, e2, e3 must be (N, D) of one shape, got {[tuple(e.shape) for e in (e1, e2, e3)]}")
    if odd.numel() != e1.shape[0] or type_ids.numel() != e1.shape[0]:
        raise ValueError(f"need one odd_one_out and one triplet_type per triplet ({e1.shape[0]} triplets)")
    with _full_precision(device):
        vectors = torch.stack([e1.float(), e2.float(), e3.float()], dim=1)
        if normalize:
            vectors = F.normalize(vectors, dim=-1)
        valid = odd >= 0
        anchor, positive, negative = _select_triplet_roles(vectors, odd.clamp(min=0))
        margin = torch.as_tensor(margins, dtype=torch.float32, device=device)[type_ids.clamp(min=0)]
        positive_distance = (anchor - positive).pow(2).sum(dim=-1)
        per_triplet = F.relu(positive_distance - (anchor - negative).pow(2).sum(dim=-1) + margin) + F.relu(
            positive_distance - (positive - negative).pow(2).sum(dim=-1) + margin
        )
        weight = valid.float()
        return (per_triplet * weight).sum() / weight.sum().clamp(min=1.0)


def distillation_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Hinton's soft-target loss: ``T² · KL(softmax(t/T) || softmax(s/T))``, averaged over the batch.

    The teacher is a fixed target (its logits are detached). ``T²`` keeps the gradient scale independent of
    the temperature. 0 for an empty batch.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} differ")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    with _full_precision(student_logits.device):
        student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
        teacher_log_probs = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
        kl = F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="sum")
        return kl * temperature**2 / max(student_logits.shape[0], 1)


def _pairwise_distances(vectors: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances of all unordered pairs (i < j) of rows, as in RKD's ``pdist``."""
    squared_norms = vectors.pow(2).sum(dim=1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2 * vectors @ vectors.T
    upper = torch.triu_indices(vectors.shape[0], vectors.shape[0], offset=1, device=vectors.device)
    # Clamping before sqrt keeps the gradient finite for coincident rows.
    return squared[upper[0], upper[1]].clamp(min=eps).sqrt()


def geometry_loss(student_vec: torch.Tensor, teacher_vec: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Relational knowledge distillation, distance-wise term (Park et al., CVPR 2019).

    Transfers the geometry of the teacher's vector space rather than the vectors themselves: for all pairs
    (i, j) of the batch, the student's distance ``ψ_s(i,j) = ||s_i - s_j|| / μ_s`` is matched to the
    teacher's ``ψ_t(i,j) = ||t_i - t_j|| / μ_t``, where ``μ`` is each model's mean pairwise distance in the
    batch. ``loss = mean_{i<j} Huber(ψ_s(i,j) - ψ_t(i,j))`` (smooth-L1, β = 1). Normalising by ``μ`` makes the
    term blind to the overall scale, and the vector widths of student and teacher may differ. The teacher is
    detached. 0 for fewer than two rows.
    """
    if student_vec.shape[0] != teacher_vec.shape[0]:
        raise ValueError(f"student has {student_vec.shape[0]} rows but teacher has {teacher_vec.shape[0]}")
    with _full_precision(student_vec.device):
        student_distances = _pairwise_distances(student_vec.float().flatten(1))
        teacher_distances = _pairwise_distances(teacher_vec.detach().float().flatten(1))
        if student_distances.numel() == 0:  # shape-only branch: fewer than two rows
            return student_vec.float().sum() * 0.0
        student_relative = student_distances / student_distances.mean().clamp(min=eps)
        teacher_relative = teacher_distances / teacher_distances.mean().clamp(min=eps)
        return F.smooth_l1_loss(student_relative, teacher_relative, beta=1.0)


def vector_regression_loss(
    student_vec: torch.Tensor, teacher_vec: torch.Tensor, *, kind: str = "cosine"
) -> torch.Tensor:
    """Pull each student vector onto the teacher's (same width), the teacher detached; 0 for an empty batch.

    ``kind="cosine"``: ``mean_i (1 - cos(s_i, t_i))`` (direction only, fits L2-normalised expression vectors);
    ``kind="mse"``: ``mean_{i,k} (s_ik - t_ik)²`` (e.g. regression to the teacher's valence/arousal).
    """
    if student_vec.shape != teacher_vec.shape:
        raise ValueError(f"student {tuple(student_vec.shape)} and teacher {tuple(teacher_vec.shape)} differ")
    with _full_precision(student_vec.device):
        student_32, teacher_32 = student_vec.float(), teacher_vec.detach().float()
        if kind == "cosine":
            per_row = 1 - F.cosine_similarity(student_32, teacher_32, dim=-1)
        elif kind == "mse":
            per_row = (student_32 - teacher_32).pow(2).flatten(1).mean(dim=1)
        else:
            raise ValueError(f"kind must be 'cosine' or 'mse', got {kind!r}")
        return per_row.sum() / max(per_row.numel(), 1)


__all__ = [
    "ccc_loss",
    "class_weights_from_counts",
    "distillation_kl",
    "expression_cross_entropy",
    "geometry_loss",
    "supervised_loss",
    "triplet_hinge_loss",
    "vector_regression_loss",
]

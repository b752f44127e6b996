"""FEC triplets as the auxiliary batch of a training recipe: their arguments, their loader and their hinge term.

A recipe given ``--fec_dir`` draws, every step, ``--fec_batch_size`` FEC training triplets next to its main batch;
their 3 x N faces go through the network in the SAME forward pass as the main faces (:func:`with_triplet_faces`),
so under DDP every parameter takes part in every step, and :func:`triplet_term` reads their expression vectors
back from the end of the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .inputs import TripletRowTransform
from .losses import triplet_hinge_loss

FEC_AUXILIARY = "fec"
"""Name of the triplet batch in the training loop's auxiliary batches."""


# The options every recipe that mixes in FEC triplets takes, written once so their help never drifts apart.
def triplet_margins_field() -> Any:
    """``--triplet_margins``: see :func:`parse_triplet_margins`."""
    return field(
        default="0.1,0.2,0.2",
        metadata={"help": "Triplet hinge margins for one-, two- and three-class triplets (comma separated)."},
    )


def fec_batch_size_field() -> Any:
    """``--fec_batch_size``: see :func:`triplets_per_batch`."""
    return field(
        default=0,
        metadata={"help": "FEC triplets per device per step (0: a third of --per_device_train_batch_size, at least 1)."},
    )


def parse_triplet_margins(text: str) -> tuple[float, float, float]:
    """``"0.1,0.2,0.2"`` -> the hinge margins of one-, two- and three-class triplets."""
    try:
        margins = tuple(float(v) for v in text.split(","))
    except ValueError:
        margins = ()
    if len(margins) != 3:
        raise ValueError(f"--triplet_margins must be three numbers, got {text!r}")
    return margins  # type: ignore[return-value]


def triplets_per_batch(fec_batch_size: int, per_device_train_batch_size: int) -> int:
    """``--fec_batch_size``, or when 0 a third of the main batch (at least one triplet)."""
    return fec_batch_size if fec_batch_size > 0 else max(1, per_device_train_batch_size // 3)


@dataclass
class TripletArguments:
    """The FEC triplet hinge on the expression vector (used when the run has ``--fec_dir``)."""

    triplet_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the FEC triplet hinge loss (a ground-truth term; on whenever --fec_dir is given, 0 turns it off)."},
    )
    triplet_margins: str = triplet_margins_field()
    fec_batch_size: int = fec_batch_size_field()

    def __post_init__(self) -> None:
        if self.triplet_weight < 0:
            raise ValueError(f"--triplet_weight must be >= 0, got {self.triplet_weight}")
        if self.fec_batch_size < 0:
            raise ValueError(f"--fec_batch_size must be >= 0, got {self.fec_batch_size}")
        self.margins = parse_triplet_margins(self.triplet_margins)

    def triplets_per_batch(self, per_device_train_batch_size: int) -> int:
        return triplets_per_batch(self.fec_batch_size, per_device_train_batch_size)


def fec_triplet_auxiliary(
    triplets: Any, processor: Any, triplet_args: TripletArguments, *, per_device_train_batch_size: int, augment: bool, seed: int
) -> dict[str, tuple[Any, Any, int]]:
    """The training loop's auxiliary entry ``{"fec": (dataset, transform, batch size)}`` for FEC triplet rows
    (:func:`~hf_deepfever.training.data.fec_triplet_rows`); empty without triplets or with a zero weight."""
    if triplets is None or len(triplets) == 0 or triplet_args.triplet_weight == 0:
        return {}
    transform = TripletRowTransform(processor, augment=augment, seed=seed)
    return {
        FEC_AUXILIARY: (
            triplets.with_transform(transform),
            transform,
            triplet_args.triplets_per_batch(per_device_train_batch_size),
        )
    }


def with_triplet_faces(pixel_values: torch.Tensor, triplets: dict[str, torch.Tensor] | None) -> torch.Tensor:
    """The main ``(N, 3, S, S)`` faces followed by the triplets' ``(T, 3 faces, 3, S, S)`` faces, one batch."""
    if triplets is None:
        return pixel_values
    return torch.cat([pixel_values, triplets["pixel_values"].flatten(0, 1)])


def triplet_term(
    vectors: torch.Tensor, triplets: dict[str, torch.Tensor], margins: tuple[float, float, float]
) -> torch.Tensor:
    """FECNet's hinge (:func:`~hf_deepfever.training.losses.triplet_hinge_loss`) on the ``(3 T, D)`` expression
    vectors of the triplet faces, in the order :func:`with_triplet_faces` put them."""
    faces = vectors.unflatten(0, (-1, 3))
    return triplet_hinge_loss(
        faces[:, 0], faces[:, 1], faces[:, 2], triplets["odd_one_out"], triplets["triplet_type"], margins=margins
    )


__all__ = [
    "FEC_AUXILIARY",
    "TripletArguments",
    "fec_batch_size_field",
    "fec_triplet_auxiliary",
    "parse_triplet_margins",
    "triplet_margins_field",
    "triplet_term",
    "triplets_per_batch",
    "with_triplet_faces",
]

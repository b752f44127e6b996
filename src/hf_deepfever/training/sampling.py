"""Deterministic samplers: the data order is a pure function of (seed, epoch), identical on every process.

Accelerate shards the main loader's batches across processes; that only works when every process draws the
same order, and resuming mid-epoch only works when the order of that epoch can be drawn again. Both hold
here: each epoch's permutation (or balanced draw) comes from a generator seeded with ``seed + epoch``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Shuffled indices per epoch; with ``weights``, a class-balanced draw with replacement (same length).

    Args:
        length: rows in the dataset.
        seed: base seed; epoch ``e`` uses ``seed + e``.
        weights: optional per-row sampling weights (e.g. ``1 / count(class)``) for a balanced sampler.
        shuffle: False keeps the dataset order (evaluation).
    """

    def __init__(
        self, length: int, *, seed: int, weights: Sequence[float] | torch.Tensor | None = None, shuffle: bool = True
    ) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and (self.weights.numel() != length or not bool((self.weights >= 0).all())):
            raise ValueError(f"need {length} non-negative sampling weights, got {self.weights.numel()}")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.length))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is not None:
            return iter(torch.multinomial(self.weights, self.length, replacement=True, generator=generator).tolist())
        return iter(torch.randperm(self.length, generator=generator).tolist())


class ShardedBatchSampler(Sampler[list[int]]):
    """Full batches of an :class:`EpochSampler`, this process's slice of each global batch; can start mid-epoch.

    Used for the auxiliary loaders (e.g. FEC triplets next to AffectNet), which are cycled by hand and so are
    kept out of Accelerate's dataloader bookkeeping (that tracks one active loader for gradient accumulation).
    """

    def __init__(self, sampler: EpochSampler, batch_size: int, process_index: int, num_processes: int) -> None:
        if len(sampler) < batch_size * num_processes:
            raise ValueError(
                f"{len(sampler)} rows cannot fill one batch of {batch_size} per process x {num_processes} processes"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.process_index = process_index
        self.num_processes = num_processes
        self.start_batch = 0

    def __len__(self) -> int:
        return len(self.sampler) // (self.batch_size * self.num_processes)

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        global_batch = self.batch_size * self.num_processes
        for batch in range(self.start_batch, len(self)):
            start = batch * global_batch + self.process_index * self.batch_size
            yield indices[start : start + self.batch_size]


__all__ = ["EpochSampler", "ShardedBatchSampler"]

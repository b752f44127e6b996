"""Which inputs go into which batch: batches of a size, aligned to shards, and a process's share of the shards.

Inputs ``0 .. N-1`` are cut into chunks of ``chunk_size`` (one chunk per output shard); batches never cross a
chunk's end, so a chunk's batches are the same whichever process runs it and whatever was done before: a
resumed or a multi-process run computes every batch exactly as one uninterrupted process does, and writes
the same vectors. Chunk ``k`` belongs to process ``k % world``; chunks already written (``done``) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchPlan:
    """Batches of ``batch_size`` inputs inside chunks of ``chunk_size`` (None: one chunk, all inputs), for the
    chunks of process ``rank`` of ``world`` that are not in ``done``."""

    batch_size: int
    chunk_size: int | None = None
    rank: int = 0
    world: int = 1
    done: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is not in 0 .. {self.world - 1}")

    def chunk_of(self, index: int) -> int:
        return 0 if self.chunk_size is None else index // self.chunk_size

    def keeps(self, chunk: int) -> bool:
        """Whether this plan does ``chunk``."""
        return chunk % self.world == self.rank and chunk not in self.done

    def chunks(self, count: int) -> range:
        """Every chunk of ``count`` inputs (this plan's or not)."""
        if self.chunk_size is None:
            return range(1 if count else 0)
        return range(-(-count // self.chunk_size))

    def chunk_range(self, chunk: int, count: int | None = None) -> range:
        """The inputs of ``chunk`` (cut at ``count`` when known)."""
        if self.chunk_size is None:
            return range(0, count if count is not None else 0)
        start = chunk * self.chunk_size
        stop = start + self.chunk_size
        return range(start, min(stop, count) if count is not None else stop)

    def batch_of(self, index: int) -> tuple[int, int] | None:
        """``(chunk, batch within the chunk)`` of input ``index``, or None when this plan does not do its chunk."""
        chunk = self.chunk_of(index)
        if not self.keeps(chunk):
            return None
        offset = index - (chunk * self.chunk_size if self.chunk_size is not None else 0)
        return chunk, offset // self.batch_size

    def batches(self, count: int) -> Iterator[list[int]]:
        """This plan's batches of ``count`` inputs, in input order."""
        for chunk in self.chunks(count):
            if not self.keeps(chunk):
                continue
            inputs = self.chunk_range(chunk, count)
            for start in range(inputs.start, inputs.stop, self.batch_size):
                yield list(range(start, min(start + self.batch_size, inputs.stop)))

    def count(self, count: int) -> int:
        """How many batches :meth:`batches` yields."""
        return sum(-(-len(self.chunk_range(c, count)) // self.batch_size) for c in self.chunks(count) if self.keeps(c))

    def inputs(self, count: int) -> int:
        """How many inputs :meth:`batches` covers."""
        return sum(len(self.chunk_range(c, count)) for c in self.chunks(count) if self.keeps(c))

    def sampler(self, count: int) -> _PlannedBatches:
        """A DataLoader ``batch_sampler`` over this plan (lazy: no list of every index is built)."""
        return _PlannedBatches(self, count)


class _PlannedBatches:
    def __init__(self, plan: BatchPlan, count: int) -> None:
        self.plan, self.total = plan, count
        self._length = plan.count(count)

    def __iter__(self) -> Iterator[list[int]]:
        return self.plan.batches(self.total)

    def __len__(self) -> int:
        return self._length


__all__ = ["BatchPlan"]

"""How an extraction shares the CPU: how many DataLoader workers, how many model threads, and where the model runs.

Two layouts:

- **the model in every worker** (the onnxruntime engine on CPU, a source with a length): each worker decodes its
  batch and runs its own onnxruntime session on it, one per core. Decoding and the model then use every core, and
  no core waits for another (efficientnet_b0 at 224 px, 2 cores: 52 images/s end to end, against 32-33 with one
  session of one thread beside one decoding worker; benchmarks/RESULTS.md);
- **the model in the calling process** (PyTorch, CUDA, a streaming source, or ``num_workers=0``): workers only
  decode, and on CPU the model's threads take the cores the workers leave. Oversubscribed OpenMP threads wait on
  each other (measured 10x slower on a loaded 2-core machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

MAX_MODEL_WORKERS = 8  # each holds a session and a copy of the stack: past this, more threads per worker instead


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_num_workers(device: torch.device | None = None, cores: int | None = None) -> int:
    """Decoding workers when the model runs in the calling process: enough to keep up with the model without
    starving its own threads: on CPU up to 4 (cores - 1), on accelerators up to 8 (the model runs elsewhere;
    decoding is the bottleneck there)."""
    cores = usable_cores() if cores is None else cores
    limit = 4 if device is None or device.type == "cpu" else 8
    return min(limit, max(0 if cores == 1 else 1, cores - 1))


def calling_process_threads(
    device: torch.device, *, cores: int | None = None, threads: int | None = None, **layout: Any
) -> int | None:
    """The threads to make an engine with, for when it runs in the calling process: on CPU, what the decoding
    workers that :func:`split_work` would start leave (``layout``: its ``workers``, ``batches``, ``streaming``).
    An engine that then runs in the workers gets its threads per worker from :func:`split_work` instead."""
    if threads is not None or device.type != "cpu":
        return threads
    cores = usable_cores() if cores is None else max(1, cores)
    decoding = split_work(None, device, cores=cores, **layout).workers
    return max(1, cores - decoding) if decoding else cores


@dataclass(frozen=True)
class WorkSplit:
    """Workers, the model's intra-op threads (per worker when ``model_in_workers``), and where the model runs."""

    workers: int
    threads: int | None
    model_in_workers: bool

    def describe(self) -> str:
        if self.model_in_workers:
            return f"{self.workers} worker(s), each decoding and running the model on {self.threads} thread(s)"
        threads = f", the model on {self.threads} thread(s)" if self.threads else ""
        return f"{self.workers} decoding worker(s){threads}"


def split_work(
    engine: object,
    device: torch.device,
    *,
    cores: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    batches: int | None = None,
    streaming: bool = False,
) -> WorkSplit:
    """The layout (see the module docstring) for ``engine`` on ``device``.

    Args:
        engine: an :class:`~hf_deepfever.inference.engines.Engine` (None: one that runs in the calling process).
        cores: the cores this process may use (default: :func:`usable_cores`; several processes on one machine
            each pass their share).
        workers: DataLoader workers (None: one per core, at most :data:`MAX_MODEL_WORKERS`, with the model in
            them; otherwise :func:`default_num_workers`). 0 runs everything in the calling process.
        threads: the model's intra-op threads (per worker with the model in them; None: the cores divided
            between the workers).
        batches: how many batches there are, when known: no worker is started without one.
        streaming: a source read in order: one worker reads it (in several, ``datasets`` hands each worker only
            some of the stream's shards), and the model runs in the calling process.
    """
    cores = usable_cores() if cores is None else max(1, cores)
    in_workers = bool(getattr(engine, "runs_in_workers", False)) and device.type == "cpu" and not streaming
    if in_workers and workers != 0:
        count = min(MAX_MODEL_WORKERS, cores) if workers is None else workers
        if batches is not None:
            count = min(count, max(1, batches))
        return WorkSplit(count, threads if threads is not None else max(1, cores // count), True)
    count = default_num_workers(device, cores) if workers is None else workers
    if streaming:
        count = min(count, 1)
    elif batches is not None:
        count = min(count, batches)
    engine_threads = getattr(engine, "threads", None)
    return WorkSplit(count, engine_threads if threads is None else threads, False)


__all__ = [
    "MAX_MODEL_WORKERS",
    "WorkSplit",
    "calling_process_threads",
    "default_num_workers",
    "split_work",
    "usable_cores",
]

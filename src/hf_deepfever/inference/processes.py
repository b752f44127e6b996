"""Several extraction processes started by ``accelerate launch`` (or ``torchrun``): who am I, and waiting for the others.

Started alone, a process is rank 0 of 1 and nothing is imported. Started by a launcher (``WORLD_SIZE`` > 1 in the
environment), Accelerate's ``PartialState`` joins the process group (gloo on CPU, NCCL on CUDA) and gives the
rank, the barrier, and on GPUs each process its own device (``cuda:LOCAL_RANK``).

Exact forms (the package's ``cli`` module is runnable with ``-m``):

- GPU machine, one process per GPU: ``accelerate launch --multi_gpu --num_processes 2 -m hf_deepfever.cli extract ...``
- CPU machine: the same ``--multi_gpu`` form (``accelerate launch --cpu`` starts one process only, whatever
  ``--num_processes``); with CUDA absent Accelerate runs the group on gloo. The cores are shared: each process
  takes ``cores // processes`` for its model threads and decoding workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Processes:
    """This process's place among the extraction processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    state: Any = None  # accelerate.PartialState when launched with several processes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wait_for_everyone(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    def gather(self, value: Any) -> list[Any]:
        """``value`` of every process, in rank order (a picklable object)."""
        if self.state is None:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def device(self, device: torch.device) -> torch.device:
        """The device of this process: on CUDA, its own GPU (``cuda:LOCAL_RANK``) unless an index was given."""
        if device.type == "cuda" and device.index is None and self.world > 1:
            return torch.device("cuda", self.local_rank)
        return device


def launched_world() -> int:
    """How many processes a launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def current_processes(device: torch.device) -> Processes:
    """This process's :class:`Processes` (joining the launcher's group when there is one)."""
    world = launched_world()
    if world == 1:
        return Processes()
    from accelerate import PartialState

    state = PartialState(cpu=device.type == "cpu")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes))
    return Processes(state.process_index, state.num_processes, state.local_process_index, local_world, state)


__all__ = ["Processes", "current_processes", "launched_world"]

"""The training loop shared by every DeepFEVER script, on Hugging Face Accelerate.

One ``Accelerator`` handles devices, DDP, mixed precision and gradient accumulation, so a script runs
unchanged on one CPU, one GPU or ``accelerate launch --multi_gpu --num_processes N``: each process draws
``per_device_train_batch_size`` rows of the same epoch order (sharded by Accelerate), so the global batch is
``per_device x processes x accumulation`` whatever the launch.

A script hands the loop a :class:`TrainingTask` (how to compute the loss of a batch, how to evaluate) and
datasets; the loop owns the optimizer, schedule, checkpoints/resume, logging and periodic evaluation.

Hot path: the step does no host-device synchronisation; losses are summed on the device and read back
only every ``--logging_steps``.

A run into a folder is either NEW (no checkpoint resumed: a fresh ``training_log.jsonl``, and the previous
model's ``eval_results.json`` set aside so that the new card never shows its figures) or RESUMED (the log
keeps exactly the lines written before the checkpoint, the results file is kept; a checkpoint of another
model is refused with what differs).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..core.eval_results import set_aside_eval_results
from ..core.vocabulary import TRAINING_LOG_NAME
from .arguments import TrainingLoopArguments
from .checkpointing import TrainingState, load_checkpoint, resolve_checkpoint, save_checkpoint
from .inputs import collate_rows
from .log_file import TrainingLog, encode_entry
from .sampling import EpochSampler, ShardedBatchSampler

TRAINING_LOG = TRAINING_LOG_NAME


def resolve_mixed_precision(mixed_precision: str) -> str:
    """``auto`` -> ``bf16`` on a CUDA GPU that supports it, else ``no``."""
    if mixed_precision != "auto":
        return mixed_precision
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def checked_accelerator(**kwargs: Any):
    """An Accelerator that really runs every launched process, on GPUs or on CPUs.

    Without an accelerator device, Accelerate only starts a multi-process (gloo) run when told to use the CPU;
    otherwise each process launched by ``accelerate launch --multi_gpu`` would silently work alone.
    """
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not has_accelerator_device(), **kwargs)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise RuntimeError(
            f"launched as {launched} processes but Accelerate runs {accelerator.num_processes}: "
            "check the accelerate launch options (e.g. --multi_gpu with --num_processes)"
        )
    return accelerator


def make_accelerator(args: TrainingLoopArguments):
    """The Accelerator of a run: precision, accumulation, trackers; seeds every RNG with ``--seed``."""
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed

    accelerator = checked_accelerator(
        mixed_precision=resolve_mixed_precision(args.mixed_precision),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "runs")),
        # Every parameter takes part in every step's loss (heads and vector alike), so DDP need not search.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
    )
    set_seed(args.seed)
    return accelerator


def has_accelerator_device() -> bool:
    """Whether torch sees a GPU-like device (CUDA/ROCm, XPU, MPS ...)."""
    accelerator_api = getattr(torch, "accelerator", None)
    if accelerator_api is not None and hasattr(accelerator_api, "is_available"):
        return bool(accelerator_api.is_available())
    return torch.cuda.is_available()


class TrainingTask(Protocol):
    """What a script supplies: the loss of one step and an evaluation."""

    def compute_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], auxiliary: dict[str, dict[str, torch.Tensor]]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and detached per-term values (logged as running means)."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics on the evaluation sets, identical on every process (gathered)."""


@dataclass
class TrainingData:
    """The main training set (drives epochs) and auxiliary sets drawn once per step alongside it.

    Each dataset carries its ``with_transform`` (an object with ``set_epoch``); ``sampling_weights`` turns
    the main sampler into a balanced draw.
    """

    dataset: Any
    transform: Any
    sampling_weights: torch.Tensor | None = None
    auxiliary: dict[str, tuple[Any, Any, int]] = field(default_factory=dict)  # name -> (dataset, transform, batch)


@dataclass
class TrainingResult:
    state: TrainingState
    metrics: dict[str, float]
    log_history: list[dict[str, Any]]


def _optimizer(model: nn.Module, args: TrainingLoopArguments) -> torch.optim.Optimizer:
    """AdamW; biases and normalisation weights (1-D parameters) get no weight decay."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.learning_rate)


class _CyclingLoader:
    """An auxiliary loader drawn one batch per step, forever; its position is ``batches_seen`` (resumable)."""

    def __init__(self, name: str, dataset: Any, transform: Any, batch_size: int, args: TrainingLoopArguments, accelerator):
        self.name = name
        self.transform = transform
        self.sampler = EpochSampler(len(dataset), seed=args.seed + 7919)  # its own order, not the main one's
        self.batch_sampler = ShardedBatchSampler(
            self.sampler, batch_size, accelerator.process_index, accelerator.num_processes
        )
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.batch_sampler,
            collate_fn=collate_rows,
            num_workers=args.dataloader_num_workers,
            pin_memory=torch.cuda.is_available(),
            generator=torch.Generator().manual_seed(args.seed),
        )
        self.device = accelerator.device
        self.batches_seen = 0
        self._iterator: Iterator | None = None

    def __next__(self) -> dict[str, torch.Tensor]:
        if self._iterator is None:
            epoch, offset = divmod(self.batches_seen, len(self.batch_sampler))
            self.sampler.set_epoch(epoch)
            self.transform.set_epoch(epoch)
            self.batch_sampler.start_batch = offset
            self._iterator = iter(self.loader)
        try:
            batch = next(self._iterator)
        except StopIteration:
            self._iterator = None
            return next(self)
        self.batches_seen += 1
        return {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}


class _RunningLogs:
    """Per-term sums kept on the device; read back (one sync) only when logging."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for key, value in values.items():
            value = value.detach().float()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1

    def pop_means(self, accelerator) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = sorted(self.sums)
        means = torch.stack([self.sums[key] for key in keys]) / max(self.count, 1)
        means = accelerator.reduce(means, reduction="mean").tolist()
        self.sums, self.count = {}, 0
        return dict(zip(keys, means))


def _checkpoint_every(args: TrainingLoopArguments) -> int | None:
    return int(args.checkpointing_steps) if args.checkpointing_steps.isdigit() else None


def train(
    accelerator: Any,
    model: nn.Module,
    task: TrainingTask,
    data: TrainingData,
    args: TrainingLoopArguments,
    *,
    hyperparameters: dict[str, Any] | None = None,
    tracker_name: str = "deepfever",
    on_evaluate: Callable[[dict[str, float]], None] | None = None,
    evaluate_at_end: bool = True,
) -> tuple[Any, TrainingResult]:
    """Train ``model`` (not yet prepared) with ``task``'s loss.

    Returns the prepared (possibly DDP-wrapped) model and the final state, metrics (of the evaluation at the
    end, unless ``evaluate_at_end=False``) and logs. The model passed to ``task.compute_loss`` /
    ``task.evaluate`` is the prepared one.
    """
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    output_dir = Path(args.output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    global_batch = args.per_device_train_batch_size * accelerator.num_processes
    if len(data.dataset) < global_batch:
        raise ValueError(
            f"the training set has {len(data.dataset)} rows, fewer than one global batch of {global_batch} "
            f"({args.per_device_train_batch_size} per device x {accelerator.num_processes} processes)"
        )
    sampler = EpochSampler(len(data.dataset), seed=args.seed, weights=data.sampling_weights)
    loader = DataLoader(
        data.dataset,
        batch_size=args.per_device_train_batch_size,
        sampler=sampler,
        collate_fn=collate_rows,
        num_workers=args.dataloader_num_workers,
        drop_last=True,  # full batches only: identical micro-batch sizes on every process and step
        pin_memory=torch.cuda.is_available(),
        generator=torch.Generator().manual_seed(args.seed),
    )
    optimizer = _optimizer(model, args)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    steps_per_epoch = math.ceil(len(loader) / args.gradient_accumulation_steps)
    total_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * steps_per_epoch)
    # Accelerate steps a prepared scheduler once per process per optimizer step: scale the horizon to match.
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=args.warmup_steps * accelerator.num_processes,
        num_training_steps=total_steps * accelerator.num_processes,
    )
    scheduler = accelerator.prepare(scheduler)
    auxiliary = {
        name: _CyclingLoader(name, dataset, transform, batch_size, args, accelerator)
        for name, (dataset, transform, batch_size) in data.auxiliary.items()
    }

    state = TrainingState()
    log = TrainingLog(output_dir / TRAINING_LOG)
    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint, model=model)
        for name, cycler in auxiliary.items():
            cycler.batches_seen = state.auxiliary_batches_seen.get(name, 0)
        accelerator.print(f"resumed from {checkpoint} at step {state.global_step}")
        if accelerator.is_main_process:
            log.resume(state.log_entries, state.global_step)
    elif accelerator.is_main_process:
        log.start()
        set_aside_eval_results(output_dir)

    if args.report_to != "none":
        accelerator.init_trackers(tracker_name, config=_scalar_config(hyperparameters or {}))
    log_history: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        log_history.append(entry)
        if args.report_to != "none":
            accelerator.log({k: v for k, v in entry.items() if k != "step"}, step=entry["step"])
        if accelerator.is_main_process:
            log.append(entry)

    def run_evaluation() -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            metrics = task.evaluate(model)
        model.train()
        record({"step": state.global_step, **{f"eval_{k}": v for k, v in metrics.items()}})
        if on_evaluate is not None:
            on_evaluate(metrics)
        return metrics

    def checkpoint_now() -> None:
        state.auxiliary_batches_seen = {name: cycler.batches_seen for name, cycler in auxiliary.items()}
        state.log_entries = log.entries  # a resume drops whatever is written after this
        save_checkpoint(accelerator, args.output_dir, state, keep_last=args.save_total_limit, model=model)

    every_checkpoint = _checkpoint_every(args)
    running = _RunningLogs()
    progress = tqdm(total=total_steps, initial=state.global_step, disable=not accelerator.is_local_main_process)
    metrics: dict[str, float] = {}
    model.train()
    while state.global_step < total_steps:
        data.transform.set_epoch(state.epoch)
        epoch_loader = (
            accelerator.skip_first_batches(loader, state.batches_seen_in_epoch)
            if state.batches_seen_in_epoch
            else loader
        )
        # Accelerate re-applies its own epoch counter to the sampler on every __iter__ (a fresh
        # skip_first_batches loader counts from 0): set it, then ours, so both say the same epoch.
        epoch_loader.set_epoch(state.epoch)
        sampler.set_epoch(state.epoch)
        for batch in epoch_loader:
            auxiliary_batches = {name: next(cycler) for name, cycler in auxiliary.items()}
            with accelerator.accumulate(model):
                loss, terms = task.compute_loss(model, batch, auxiliary_batches)
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            running.add({"loss": loss, **terms})
            state.batches_seen_in_epoch += 1
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            progress.update(1)
            step = state.global_step
            if step % args.logging_steps == 0 or step == total_steps:
                means = running.pop_means(accelerator)
                entry = {"step": step, "epoch": round(state.epoch + state.batches_seen_in_epoch / len(loader), 4)}
                entry.update({f"train_{k}": v for k, v in means.items()})
                entry["learning_rate"] = scheduler.get_last_lr()[0]
                record(entry)
                progress.set_postfix(loss=f"{means.get('loss', float('nan')):.4f}")
            if args.eval_steps > 0 and step % args.eval_steps == 0 and step < total_steps:
                metrics = run_evaluation()
            if every_checkpoint and step % every_checkpoint == 0:
                checkpoint_now()
            if step >= total_steps:
                break
        if state.batches_seen_in_epoch >= len(loader):  # the epoch ran to its end (possibly on the last step)
            state.epoch += 1
            state.batches_seen_in_epoch = 0
            if args.checkpointing_steps == "epoch":
                checkpoint_now()
    progress.close()
    metrics = run_evaluation() if evaluate_at_end else {}
    if args.report_to != "none":
        accelerator.end_training()
    return model, TrainingResult(state=state, metrics=metrics, log_history=log_history)


def append_log(output_dir: str | os.PathLike, entry: dict[str, Any], accelerator: Any) -> None:
    """Add one entry to ``OUTPUT_DIR/training_log.jsonl`` (main process only), e.g. the final evaluation.

    Written after the last checkpoint, so a resume from that checkpoint drops it and writes it once again.
    """
    if accelerator.is_main_process:
        with open(Path(output_dir) / TRAINING_LOG, "a", encoding="utf-8") as handle:
            handle.write(encode_entry(entry) + "\n")


def _scalar_config(values: dict[str, Any]) -> dict[str, Any]:
    """Trackers accept scalars only: stringify the rest (None, lists)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in values.items()}


__all__ = [
    "TRAINING_LOG",
    "TrainingData",
    "TrainingResult",
    "TrainingTask",
    "append_log",
    "checked_accelerator",
    "make_accelerator",
    "resolve_mixed_precision",
    "train",
]

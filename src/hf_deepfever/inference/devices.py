"""Checked runtime options, shared by every command: the device to run on, and thread, worker and batch counts.

``torch.device("bogus")`` raises a ``RuntimeError`` (a traceback from the CLI), ``--device cuda`` on a machine
without CUDA fails only when the model is moved (an ``AssertionError`` deep in torch), and a thread count of -3
was silently taken as 1. :func:`validate_runtime_arguments` turns each into a ``ValueError`` naming the option,
before anything is loaded; the CLI prints it as one line.
"""

from __future__ import annotations

import argparse
import numbers
from typing import Any

import torch

# option attribute on an argparse namespace -> (command-line spelling, smallest accepted value)
COUNT_OPTIONS = {
    "num_threads": ("--num-threads", 1),
    "num_workers": ("--num-workers", 0),
    "batch_size": ("--batch-size", 1),
}


def _auto_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _unavailable(device: torch.device) -> str | None:
    """Why ``device`` cannot run a model here, or None when it can."""
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "sees no GPU" if torch.backends.cuda.is_built() else "is built without CUDA"
            return f"CUDA is not available (torch {torch.__version__} {why})"
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"there are {torch.cuda.device_count()} CUDA device(s), numbered from 0"
        return None
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return None if mps is not None and mps.is_available() else "Apple MPS is not available"
    if device.type == "xpu":
        xpu = getattr(torch, "xpu", None)
        return None if xpu is not None and xpu.is_available() else "no Intel XPU is available"
    if device.type == "meta":
        return "the meta device holds no data: a model cannot run on it"
    accelerator = getattr(torch, "accelerator", None)
    current = accelerator.current_accelerator() if accelerator is not None and accelerator.is_available() else None
    return None if current is not None and current.type == device.type else f"no {device.type} device is available"


def checked_device(spec: str | None, option: str = "--device") -> torch.device:
    """The device ``spec`` names (``auto``/None: CUDA, then Apple MPS, then CPU), checked to exist here.

    Raises:
        ValueError: ``spec`` is not a device, or names one this machine does not have (the message says why).
    """
    if spec is None or spec == "auto":
        return _auto_device()
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{option} {spec!r} is not a device: expected auto, cpu, cuda, cuda:N, mps or xpu") from None
    reason = _unavailable(device)
    if reason is not None:
        raise ValueError(f"{option} {spec}: {reason}; use --device cpu (or auto)")
    return device


def checked_count(value: Any, option: str, minimum: int) -> int | None:
    """``value`` if it is None or an integer of at least ``minimum``, else a ``ValueError`` naming ``option``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{option} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{option} must be at least {minimum}, got {value}")
    return int(value)


def validate_runtime_arguments(args: argparse.Namespace) -> torch.device:
    """Check the runtime options a command has (``device``, and the counts in :data:`COUNT_OPTIONS`);
    returns the device to run on. Options the namespace lacks are not checked."""
    for attribute, (option, minimum) in COUNT_OPTIONS.items():
        if hasattr(args, attribute):
            checked_count(getattr(args, attribute), option, minimum)
    return checked_device(getattr(args, "device", None))


__all__ = ["COUNT_OPTIONS", "checked_count", "checked_device", "validate_runtime_arguments"]

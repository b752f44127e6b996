"""Timing helpers shared by every benchmark: warm-up, repeats, interleaving, machine description.

On a shared machine the load drifts between measurements, so comparisons are taken *interleaved*
(baseline, candidate, baseline, candidate, ...) and each figure is a ratio of two timings from the same
process and the same minutes.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from hf_deepfever.core.environment import cpu_capability, library_versions
from hf_deepfever.core.environment import processor_name as cpu_model


def sync(device: torch.device | str | None = None) -> None:
    """Wait for queued accelerator work so that wall time covers it."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_once(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(
    candidates: dict[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> dict[str, list[float]]:
    """Time every candidate `repeats` times, round-robin, after `warmup` untimed calls each."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            times[name].append(time_once(fn, device))
    return times


def summary(times: list[float]) -> dict[str, float]:
    """min (the least-disturbed run: what the code can do), median (what a user sees), spread."""
    return {
        "min_s": min(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "repeats": len(times),
    }


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def loadavg() -> list[float]:
    """1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Restart the peak-RSS high-water mark at the current RSS (Linux: /proc/self/clear_refs); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB: Linux VmHWM (ru_maxrss would include the RSS of the
    parent at fork time, which survives exec); elsewhere ru_maxrss (macOS bytes)."""
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if platform.system() == "Darwin" else peak / 1024


def current_rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def machine_info() -> dict[str, Any]:
    """What the figures depend on: cores, CPU, torch/timm/transformers versions, threads, accelerator, date."""
    import timm

    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "transformers": library_versions(["transformers"])["transformers"],
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


__all__ = [
    "cpu_model",
    "current_rss_mb",
    "interleaved",
    "loadavg",
    "machine_info",
    "peak_rss_mb",
    "reset_peak_rss",
    "ratio",
    "summary",
    "sync",
    "time_once",
]

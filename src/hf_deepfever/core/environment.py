"""What a measured figure depends on besides the code: the processor and the versions of the libraries.

Read by the demo (``demo_results.json``) and the benchmarks, so that every figure says where it was measured.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str | None:
    """The widest vector instruction set torch's CPU kernels use here (``AVX512``, ``AVX2``, ``DEFAULT``...): two
    processors with one model name can differ in it, and a float32 sum vectorised another way rounds otherwise."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.backends.cpu.get_cpu_capability())


def library_versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each distribution (None when it is not installed), without importing it."""
    versions: dict[str, str | None] = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


__all__ = ["cpu_capability", "library_versions", "processor_name"]

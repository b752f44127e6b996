"""What a demo figure depends on besides the code and the seed: library versions, the torch thread count and the
processor. The demo fixes what it can (threads, deterministic algorithms) and records the rest with its results."""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..core.environment import cpu_capability, library_versions, processor_name
from ..inference.engines import torch_threads

# The libraries whose releases move the demo's numbers (initialisation, kernels, resampling, the corpus drawing).
_LIBRARIES = ("torch", "torchvision", "timm", "transformers", "accelerate", "datasets", "numpy", "pillow",
              "scikit-learn", "av", "opencv-python-headless")


@contextmanager
def reproducible_torch(threads: int) -> Iterator[None]:
    """A fixed thread count (a float32 sum split over another number of threads is added in another order) and
    torch's deterministic algorithms, for the block; the caller's settings come back afterwards."""
    import torch

    deterministic, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def describe_environment(threads: int) -> dict[str, Any]:
    """Versions, threads and processor of this run, as the demo's results record them."""
    return {
        "python": platform.python_version(),
        "platform": f"{sys.platform} {platform.machine()}",
        "processor": processor_name(),
        "cpu_capability": cpu_capability(),
        "torch_threads": threads,
        "versions": library_versions(_LIBRARIES),
    }


def environment_line(environment: dict[str, Any]) -> str:
    """One line for the report: ``Python 3.11.7, torch 2.14.1, ...; 2 torch threads on <processor>``."""
    versions = ", ".join(f"{name} {version}" for name, version in environment.get("versions", {}).items() if version)
    return (
        f"Python {environment.get('python')}, {versions}; {environment.get('torch_threads')} torch thread(s) on "
        f"{environment.get('processor')} ({environment.get('platform')}, torch CPU kernels "
        f"{environment.get('cpu_capability')})."
    )


__all__ = ["describe_environment", "environment_line", "reproducible_torch"]

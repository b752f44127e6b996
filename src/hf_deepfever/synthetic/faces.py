"""Picture jobs of the synthetic demo corpus: one face per job, written to disk by (possibly) a worker.

Every job carries its own seed, so a picture is a pure function of its job and the corpus is
identical whether jobs run in one process or several, in any order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from ..core.files import atomic_output, atomic_write_bytes
from .face_renderer import (
    EXPRESSION_PROTOTYPES,
    ExpressionParams,
    encode_jpeg,
    render_face,
    sample_appearance,
    sample_expression,
    sample_scene,
)

NO_FACE = -1  # a job's ``expression`` for a picture without a face (AffectNet's "No-Face")
ANY_EXPRESSION = -2  # a blend of two random prototypes (AffectNet's "None", unlabelled faces)


@dataclass(frozen=True)
class FaceJob:
    """One picture to draw and save.

    Attributes:
        path: where the picture goes (``.jpg`` or ``.png``).
        seed: the job's own seed sequence.
        expression: an AffectNet id 0-7, :data:`ANY_EXPRESSION` or :data:`NO_FACE`.
        style: ``"affectnet"`` or ``"rafdb"``.
        width, height: picture size in pixels; a range is drawn from when ``max_width`` is larger.
        aligned: an upright, centred face-aligned crop.
        face_fraction: face height as a share of the picture's shorter side, or ``None`` for the default.
        aligned_path: also save an aligned ``aligned_size`` crop of the same face here (RAF-DB).
    """

    path: str
    seed: tuple[int, ...]
    expression: int
    style: str = "affectnet"
    width: int = 160
    height: int = 160
    max_width: int = 0
    max_height: int = 0
    aligned: bool = False
    face_fraction: tuple[float, float] | None = None
    aligned_path: str = ""
    aligned_size: int = 100


@dataclass(frozen=True)
class FaceResult:
    """What a job drew: landmarks and face box in pixels, the expression parameters and picture size."""

    landmarks: np.ndarray
    face_box: tuple[float, float, float, float]
    params: np.ndarray
    width: int
    height: int


def _expression_for(job: FaceJob, rng: np.random.Generator) -> ExpressionParams:
    if job.expression >= 0:
        return sample_expression(job.expression, rng)
    first, second = rng.choice(len(EXPRESSION_PROTOTYPES), size=2, replace=False)
    mix = rng.uniform(0.2, 0.8)
    blend = (
        mix * sample_expression(int(first), rng).as_array() + (1 - mix) * sample_expression(int(second), rng).as_array()
    )
    return ExpressionParams.from_array(blend)


def _save(image: Image.Image, path: str, quality: int) -> None:
    """Saves ``image`` atomically: a PNG for ``.png`` paths, else a JPEG of ``quality``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if path.endswith(".png"):
        with atomic_output(path) as temporary:
            image.save(temporary, format="PNG")
        return
    atomic_write_bytes(path, encode_jpeg(image, quality))


def run_face_job(job: FaceJob) -> FaceResult:
    """Draws and saves the job's picture (and aligned crop); returns what was drawn."""
    rng = np.random.default_rng(list(job.seed))
    width = int(rng.integers(job.width, job.max_width + 1)) if job.max_width > job.width else job.width
    height = int(rng.integers(job.height, job.max_height + 1)) if job.max_height > job.height else job.height
    params = _expression_for(job, rng)
    appearance = sample_appearance(rng, job.style)  # type: ignore[arg-type]
    scene = sample_scene(
        rng,
        job.style,
        width=width,
        height=height,
        face_fraction=job.face_fraction,
        aligned=job.aligned,  # type: ignore[arg-type]
    )
    noise_seed = int(rng.integers(2**31))
    rendered = render_face(
        None if job.expression == NO_FACE else params,
        appearance,
        scene,
        style=job.style,
        seed=noise_seed,  # type: ignore[arg-type]
    )
    _save(rendered.image, job.path, scene.jpeg_quality)
    if job.aligned_path:
        crop_scene = sample_scene(rng, job.style, width=job.aligned_size, height=job.aligned_size, aligned=True)  # type: ignore[arg-type]
        crop = render_face(params, appearance, crop_scene, style=job.style, seed=noise_seed)  # type: ignore[arg-type]
        _save(crop.image, job.aligned_path, crop_scene.jpeg_quality)
    return FaceResult(rendered.landmarks, rendered.face_box, params.as_array(), width, height)


T = TypeVar("T")
R = TypeVar("R")


class JobRunner:
    """Runs picture jobs in order, in a pool of forked workers when that is worth it.

    Results come back in job order whatever the pool does, so output never depends on it.
    Forking (rather than spawning) spares each worker from re-importing the package; where fork
    is unavailable, jobs run in this process.
    """

    min_parallel_jobs = 48  # below this many jobs, forking costs more than it saves

    def __init__(self, workers: int) -> None:
        self.workers = workers if "fork" in multiprocessing.get_all_start_methods() else 1
        self._pool: ProcessPoolExecutor | None = None

    def map(self, function: Callable[[T], R], jobs: Sequence[T], *, min_parallel: int | None = None) -> list[R]:
        """``[function(job) for job in jobs]``, computed by the pool when there are enough jobs."""
        if min_parallel is None:
            min_parallel = self.min_parallel_jobs
        if self.workers <= 1 or len(jobs) < min_parallel:
            return [function(job) for job in jobs]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("fork"))
        chunk = max(1, min(32, len(jobs) // (4 * self.workers)))
        return list(self._pool.map(function, jobs, chunksize=chunk))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""Runs the demo's stages in order and writes ``demo_results.json`` / ``demo_results.md``."""

from __future__ import annotations

import json
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.files import JSON_MAX_BYTES, read_regular_text
from .environment import describe_environment, reproducible_torch
from .run import DEMO_MARKER, MODEL_NAMES, DemoRun, Stage
from .settings import DemoSettings
from .stages import DEMO_STAGES

def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _prepare_output_dir(output_dir: Path) -> None:
    """Create the folder; a previous demo's model folders are removed (training logs would append to them)."""
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / DEMO_MARKER).exists():
        raise FileExistsError(
            f"{output_dir} exists and is not a folder `deepfever demo` wrote: choose a new or empty --output_dir"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / DEMO_MARKER).write_text("written by `deepfever demo`; its model folders are replaced on a rerun\n")
    for name in (*MODEL_NAMES, "teacher_cache", "plots"):
        shutil.rmtree(output_dir / name, ignore_errors=True)


def run_demo(
    output_dir: str | Path,
    settings: DemoSettings,
    *,
    stages: Sequence[Stage] | None = None,
    log: Callable[[str], None] = print,
) -> DemoRun:
    """Run every stage, then write ``demo_results.json`` and ``demo_results.md`` and print the results table."""
    from .report import write_results

    run = DemoRun(output_dir=Path(output_dir).absolute(), settings=settings, log=log)
    _prepare_output_dir(run.output_dir)
    run.results["settings"] = settings.to_dict()
    run.results["environment"] = describe_environment(settings.torch_threads)
    stages = list(DEMO_STAGES if stages is None else stages)
    started = time.perf_counter()
    with reproducible_torch(settings.torch_threads):
        for position, stage in enumerate(stages, start=1):
            log(f"\n[{position}/{len(stages)}] {stage.name}: {stage.description}")
            wall, cpu = time.perf_counter(), _cpu_seconds()
            stage.run(run)
            run.timings[stage.name] = {
                "wall_s": round(time.perf_counter() - wall, 2),
                "cpu_s": round(_cpu_seconds() - cpu, 2),
            }
            log(f"[{position}/{len(stages)}] {stage.name} done in {run.timings[stage.name]['wall_s']:.1f} s")
    run.timings["total"] = {"wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(sum(t["cpu_s"] for t in run.timings.values()), 2)}
    table = write_results(run)
    log("\n" + table)
    log(f"results: {run.output_dir / 'demo_results.md'} and {run.output_dir / 'demo_results.json'}")
    return run


def load_results(output_dir: str | Path) -> dict[str, Any]:
    """The ``demo_results.json`` of a finished demo."""
    return json.loads(read_regular_text(Path(output_dir) / "demo_results.json", max_bytes=JSON_MAX_BYTES))


__all__ = ["load_results", "run_demo"]

"""Run every benchmark and print a markdown table; write the full results as JSON.

    python -m benchmarks.run --quick                 # tiny sizes, under a minute (CI smoke run)
    python -m benchmarks.run --full --output results.json [--threads N] [--only extraction memory]

Each headline figure is a ratio against a baseline measured in the same run (same process, interleaved),
the median or min of several repeats as each module states; the thread count, the machine (cores, CPU,
torch version), the date and the load average before and after are recorded with the results.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
import traceback
from typing import Any

import torch

from hf_deepfever.core.files import atomic_write_text

from .timing import loadavg, machine_info

BENCHMARKS = (
    "model_overhead",
    "extraction",
    "hardware_ceiling",
    "distillation",
    "data_loading",
    "inference_options",
    "memory",
    "expression_index",
    "hostile_inputs",
)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3g}"
    return "" if value is None else str(value)


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        "| benchmark | figure | ratio | target | holds | threads | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | ERROR: {result['error'].splitlines()[-1][:80]} | | | | | |")
            continue
        head = result["headline"]
        holds = {True: "yes", False: "NO", None: "-"}[head["holds"]]
        lines.append(
            f"| {name} | {head['metric']} | {_format(head['value'])} | {head['target']} | {holds} "
            f"| {result['threads']} | {result['seconds']:.0f} |"
        )
    return "\n".join(lines)


def _flat_figures(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar figures, nested names joined with '.', raw timing lists left to the JSON."""
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if key == "times":
            continue
        if isinstance(value, dict):
            if {"min_s", "median_s"} <= set(value):
                rows.append((f"{prefix}{key}.median_s", value["median_s"]))
                continue
            rows.extend(_flat_figures(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def markdown_details(results: dict[str, Any]) -> str:
    """Every scalar figure of every benchmark, for RESULTS.md."""
    parts = []
    for name, result in results.items():
        if "error" in result:
            continue
        parts.append(f"### {name}\n{result['description']}\n")
        parts.extend(f"- `{key}`: {_format(value)}" for key, value in _flat_figures(result["figures"]))
        parts.append("")
    return "\n".join(parts)


def write_json(report: dict[str, Any], output: str) -> None:
    """Atomic write (temporary file + rename): a reader never sees half a report."""
    atomic_write_text(output, json.dumps(report, indent=2, default=str))


def run(
    quick: bool, only: list[str] | None = None, threads: int | None = None, output: str | None = None
) -> dict[str, Any]:
    """Run the benchmarks in order; with `output`, the JSON is rewritten after each one (partial results survive)."""
    if threads is not None:
        torch.set_num_threads(threads)
    report: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
        "mode": "quick" if quick else "full",
        "machine": machine_info(),
        "loadavg_before": loadavg(),
        "results": {},
    }
    for name in only or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.{name}")
        start = time.perf_counter()
        try:
            result = module.run(quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            result = {"error": traceback.format_exc()}
        result["seconds"] = time.perf_counter() - start
        report["results"][name] = result
        print(f"[{name}] {result['seconds']:.0f} s, load {loadavg()}", file=sys.stderr, flush=True)
        if output is not None:
            write_json(report, output)
    report["loadavg_after"] = loadavg()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="Tiny models and sizes (smoke run, < 60 s).")
    mode.add_argument("--full", action="store_true", help="Real sizes (efficientnet_b0 @ 224, batch 32; minutes).")
    parser.add_argument("--output", default="results.json", help="JSON file to write (default: results.json).")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's).")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="Run only these benchmarks.")
    parser.add_argument("--details", action="store_true", help="Also print every figure (markdown list).")
    args = parser.parse_args(argv)
    report = run(args.quick, args.only, args.threads, args.output)
    write_json(report, args.output)
    machine = report["machine"]
    print(
        f"{report['mode']} run {machine['date_utc']}: {machine['cores_usable']} cores ({machine['cpu']}), "
        f"torch {machine['torch']}, load {report['loadavg_before']} -> {report['loadavg_after']}\n"
    )
    print(markdown_table(report["results"]))
    if args.details:
        print("\n" + markdown_details(report["results"]))
    return 1 if any("error" in r for r in report["results"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

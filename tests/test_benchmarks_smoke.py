"""CI smoke run of the benchmarks: `python -m benchmarks.run --quick` works and writes the documented JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = {"model_overhead", "extraction", "hardware_ceiling", "distillation", "data_loading",
              "inference_options", "memory", "expression_index", "hostile_inputs"}


def test_quick_run_writes_every_benchmark(tmp_path):
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--threads", "1", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| benchmark | figure | ratio |" in completed.stdout
    report = json.loads(output.read_text())
    assert report["mode"] == "quick"
    assert {"date_utc", "cores", "torch", "torch_threads"} <= set(report["machine"])
    assert report["machine"]["torch_threads"] == 1
    assert len(report["loadavg_before"]) in (0, 3)
    assert set(report["results"]) == BENCHMARKS
    for name, result in report["results"].items():
        assert "error" not in result, (name, result.get("error"))
        assert {"description", "threads", "headline", "figures", "seconds"} <= set(result), name
        headline = result["headline"]
        assert {"metric", "value", "target", "holds"} <= set(headline), name
        assert isinstance(headline["value"], float) and math.isfinite(headline["value"]) and headline["value"] > 0, name
    extraction = report["results"]["extraction"]["figures"]
    assert {"ceiling_batch1_over_batchB", "speedup_vs_best_peer", "overlap_efficiency"} <= set(extraction)
    assert set(report["results"]["memory"]["figures"]["by_batch"]) == {"1", "32", "256"}
    assert "onnxruntime" in report["results"]["inference_options"]["figures"]["speedup_over_eager"]

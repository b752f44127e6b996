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


def test_claims_quick_run_writes_its_outputs(tmp_path, monkeypatch):
    """`python -m benchmarks.claims --quick`: the shared corpus, one demo run per training seed, the summary, the
    markdown, JSON and plot, and RESULTS.md left alone without --write-results. The training stages are replaced by
    a stand-in with fixed figures: the real quick run trains five models per seed (over a minute on two cores)."""
    import functools

    import benchmarks.claims as claims
    from hf_deepfever.demo import Stage

    # Every claim's A side ranks above its B side (A before B in this order).
    order = ["teacher", "student_with_triplet", "student", "student_temperature_1", "student_temperature_8", "baseline", "teacher_unaligned"]
    assert sorted(order) == sorted(name for name, _ in claims.MODELS)

    def stand_in(run):
        for rank, name in enumerate(order):
            figures = {key: 0.5 - 0.01 * rank + 0.001 * run.settings.seed for key, _, _ in claims.MODEL_METRICS}
            run.model_results(name).update(figures, folder=str(run.model_dir(name)))
        run.results["audio_visual"] = {
            f"recola_dev_{stream}{dimension}_ccc": 0.1 * position
            for position, (stream, _) in enumerate(reversed(claims.AV_STREAMS)) for dimension, _ in claims.AV_DIMENSIONS
        }

    def stages(shared_corpus):
        corpus = Stage("corpus", functools.partial(claims._shared_corpus, shared=shared_corpus), "link the corpus")
        return [corpus, Stage("stand_in", stand_in, "fixed figures")]

    monkeypatch.setattr(claims, "seed_stages", stages)
    results_before = claims.RESULTS_MD.read_bytes()
    output = tmp_path / "claims"
    assert claims.main(["--quick", "--seeds", "2", "--output", str(output)]) == 0

    assert claims.RESULTS_MD.read_bytes() == results_before
    report = json.loads((output / "claims.json").read_text())
    assert report["mode"] == "quick" and report["training_seeds"] == [0, 1] and report["corpus_seed"] == 0
    assert {"date_utc", "cores", "torch", "transformers", "torch_threads"} <= set(report["machine"])
    assert len(report["loadavg_before"]) in (0, 3) and report["environment"]["versions"]["torch"]
    assert set(report["seed_s"]) == {"0", "1"} and report["seconds_per_seed"] > 0
    for seed in (0, 1):  # each seed ran the demo runner on a linked copy of the one corpus
        assert (output / f"seed_{seed}" / "demo_results.json").is_file()
        assert (output / f"seed_{seed}" / "corpus" / "demo_corpus.json").is_file()
    verdicts = {row["verdict"] for claim in report["summary"]["claims"].values() for row in claim["metrics"].values()}
    assert verdicts == {"holds on every seed"}  # each A side ranks above its B side in the stand-in's figures
    markdown = (output / "claims.md").read_text()
    assert "2 training seed(s) (0, 1) on ONE synthetic corpus" in markdown and "corpus seed 0" in markdown
    assert "| seed 0 | seed 1 | A | B | A − B | Verdict |" in markdown and "holds on every seed" in markdown
    assert (output / "claims.png").stat().st_size > 1000

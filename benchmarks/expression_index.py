"""Benchmark 8: the expression index (`ExpressionIndex`, faiss) on random unit vectors of dimension 64.

    python -m benchmarks.run --full --only expression_index --threads 1 --details
    python -m benchmarks.expression_index --rows 1000000 --threads 1        # the same, JSON on stdout

For each kind (exact, HNSW, IVF) it times the build through `ExpressionIndex.build` (normalisation, faiss
training and adding, the rows table), the latency of single queries (median of many, k = 10) and the time
per query of one batch of 1,000 queries, and measures recall@10 of each approximate index against the exact
one on the same 1,000 fresh queries; the search breadth (HNSW `ef_search`, IVF `probes`) is swept so that
the trade-off is visible. Random unit vectors are the hardest case for approximate search (no clusters to
exploit): real expression vectors, which cluster by expression, give higher recall at the same breadth.
--quick: 20,000 vectors (seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

DIM = 64
K = 10
BATCH_QUERIES = 1000
SINGLE_QUERIES = 200
HNSW_EF_SWEEP = (64, 128, 256, 512)
IVF_PROBE_SWEEP = (8, 32, 128, 512)


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))


def _single_latency_ms(index: Any, queries: np.ndarray, model: Any, **breadth: Any) -> float:
    times = []
    for query in queries[:SINGLE_QUERIES]:
        start = time.perf_counter()
        index.search(query, K, model=model, **breadth)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _batched_ms_per_query(index: Any, queries: np.ndarray, model: Any, **breadth: Any) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = index.search(queries, K, model=model, **breadth)
    return 1000 * (time.perf_counter() - start) / len(queries), result.rows


def measure(rows: int, seed: int = 0) -> dict[str, Any]:
    """Build each kind over ``rows`` random unit vectors and measure it (see the module docstring)."""
    from hf_deepfever.search import ExpressionIndex, ModelIdentity

    model = ModelIdentity("benchmark:random-unit-vectors", "random unit vectors", DIM)
    vectors = unit_vectors(rows, seed)
    queries = unit_vectors(BATCH_QUERIES, seed + 1)
    paths = [f"image_{i:07d}.jpg" for i in range(rows)]
    figures: dict[str, Any] = {"rows": rows, "dim": DIM, "k": K, "batch_queries": BATCH_QUERIES}
    truth = None
    for kind in ("exact", "hnsw", "ivf"):
        start = time.perf_counter()
        index = ExpressionIndex.build(vectors, paths, model=model, kind=kind)
        entry: dict[str, Any] = {"build_s": time.perf_counter() - start, "params": index.params}
        entry["single_query_ms"] = _single_latency_ms(index, queries, model)
        entry["batched_ms_per_query"], found = _batched_ms_per_query(index, queries, model)
        if kind == "exact":
            truth = found
        else:
            entry["recall_at_10"] = _recall(found, truth)
            sweep_name, sweep, key = (
                ("ef_search", HNSW_EF_SWEEP, "ef_search") if kind == "hnsw" else ("probes", IVF_PROBE_SWEEP, "probes")
            )
            entry["sweep"] = {}
            for value in sweep:
                if kind == "ivf" and value > index.params["lists"]:
                    continue
                breadth = {key: value}
                per_query, found = _batched_ms_per_query(index, queries, model, **breadth)
                entry["sweep"][f"{sweep_name}={value}"] = {
                    "recall_at_10": _recall(found, truth),
                    "batched_ms_per_query": per_query,
                    "single_query_ms": _single_latency_ms(index, queries[:50], model, **breadth),
                }
        figures[kind] = entry
        print(f"[expression_index] {kind}: {json.dumps(entry, default=float)}", file=sys.stderr, flush=True)
        del index
    return figures


def run(quick: bool, rows: int | None = None) -> dict[str, Any]:
    from hf_deepfever.search.index import AUTO_APPROXIMATE_FROM, import_faiss, resolve_kind

    faiss = import_faiss()
    threads = torch.get_num_threads()
    faiss.omp_set_num_threads(threads)
    rows = rows or (20_000 if quick else 1_000_000)
    figures = measure(rows)
    approximate = resolve_kind("auto", AUTO_APPROXIMATE_FROM)  # what `--kind auto` builds for large collections
    exact = figures["exact"]
    for kind in ("hnsw", "ivf"):
        figures[f"{kind}_single_query_speedup"] = exact["single_query_ms"] / figures[kind]["single_query_ms"]
        figures[f"{kind}_build_over_exact"] = figures[kind]["build_s"] / exact["build_s"]
    figures["auto_approximate_from_rows"] = AUTO_APPROXIMATE_FROM
    figures["auto_approximate_kind"] = approximate
    figures["faiss"] = faiss.__version__
    return {
        "description": f"ExpressionIndex on {rows:,} random unit vectors of dimension {DIM}: build, query latency, recall@10 vs exact",
        "threads": threads,
        "headline": {
            "metric": f"recall@10 of the {approximate.upper()} index kind=auto builds from {AUTO_APPROXIMATE_FROM:,} rows "
            "(default breadth) against exact search",
            "value": float(figures[approximate]["recall_at_10"]),
            "target": "report (random vectors: the worst case)",
            "holds": None,
        },
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="vectors in the index (default 1,000,000)")
    parser.add_argument("--threads", type=int, default=None, help="torch and faiss (OpenMP) threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run(quick=False, rows=args.rows)
    print(json.dumps(result, indent=2, default=float))
    return result


if __name__ == "__main__":
    main()

"""The demo's claims measured over training seeds: mean ± std per metric, and per claim a verdict.

    python -m benchmarks.claims --seeds 3 [--output claims_output] [--write-results]   # ~30 min, 2 CPU cores
    python -m benchmarks.claims --quick --seeds 2 --output /tmp/claims_quick            # smoke run, tiny settings

One synthetic corpus is drawn once (fixed ``--corpus_seed``); only the TRAINING seed varies (0, 1, ...), so the
spread is that of training (initialisation, batch order), not of the corpus. Each seed runs the demo's own stages
(:mod:`hf_deepfever.demo.stages`, through :func:`hf_deepfever.demo.run_demo`) into ``<output>/seed_<n>/``: the
teacher (aligned crops), the distilled student, the no-distillation baseline, DeepFEVER-AV with its single-stream
references, and two comparison models: the teacher on unaligned crops (``--no_align_faces``; the alignment A/B is
run on the teacher only), the distilled student with the FEC triplet term (``--triplet_weight 1``, the recipe's
default; the demo's student distils without it, as these seeds showed; the triplet A/B is on the student only) and
the distilled student at distillation temperatures 1 and 8 (the recipe's is 4). The full grid (every model in every
variant) would not fit the half-hour budget.

A claim ``A > B`` is reported with the per-seed values, mean ± std (sample std, ddof 1) of each side and of the
paired difference, and a verdict: "holds on every seed" (A > B on each seed), "holds on the mean only" (the mean
difference is positive, some seed says otherwise) or "does not hold"; with one seed there is no verdict.

Outputs in ``--output``: ``claims.md`` (the markdown section), ``claims.json`` (everything, with the environment:
versions, threads, date, load) and ``claims.png``. ``--write-results`` also puts the section into
``benchmarks/RESULTS.md`` between ``<!-- claims:begin -->`` and ``<!-- claims:end -->`` (appended when absent)
and the plot into ``docs/claims.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hf_deepfever.core.files import atomic_write_text
from hf_deepfever.demo import DEMO_STAGES, PRESETS, DemoSettings, Stage, load_results, run_demo
from hf_deepfever.demo.environment import describe_environment
from hf_deepfever.demo.stages import distil_student, generate_corpus, train_teacher
from hf_deepfever.training.distill import DistillationArguments

from .timing import loadavg, machine_info

REPO = Path(__file__).resolve().parents[1]
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
DOCS_PLOT = REPO / "docs" / "claims.png"
BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"

# The models of every seed: the demo's three, then the two comparison models.
MODELS: tuple[tuple[str, str], ...] = (
    ("teacher", "Teacher"),
    ("student", "Student (distilled)"),
    ("baseline", "Student (no distillation)"),
    ("teacher_unaligned", "Teacher, --no_align_faces"),
    ("student_with_triplet", "Student (distilled), --triplet_weight 1"),
    ("student_temperature_1", "Student (distilled), --kd_temperature 1"),
    ("student_temperature_8", "Student (distilled), --kd_temperature 8"),
)
# (key in a model's results, label, shown as a percentage)
MODEL_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("affectnet_accuracy_8", "AffectNet accuracy, 8 classes", True),
    ("affectnet_accuracy_7", "AffectNet accuracy, 7 classes", True),
    ("valence_ccc", "Valence CCC", False),
    ("arousal_ccc", "Arousal CCC", False),
    ("fec_triplet_accuracy", "FEC triplet accuracy", True),
    ("rafdb_linear_probe_accuracy", "RAF-DB linear probe accuracy", True),
    ("expression_nuisance_ratio", "Expression / nuisance distance ratio", False),
)
# (stream infix in the AV results, label)
AV_STREAMS: tuple[tuple[str, str], ...] = (("", "DeepFEVER-AV (fused)"), ("visual_only_", "Visual only"), ("audio_only_", "Audio only"))
AV_DIMENSIONS: tuple[tuple[str, str], ...] = (("mean", "Mean CCC"), ("valence", "Valence CCC"), ("arousal", "Arousal CCC"))

# The distillation temperatures compared with the recipe's (the comparison models student_temperature_<t>).
TEMPERATURES: tuple[int, ...] = (1, 8)
RECIPE_TEMPERATURE: float = DistillationArguments.kd_temperature

FigurePath = tuple[str, ...]  # where a figure sits in one seed's demo_results.json


@dataclasses.dataclass(frozen=True)
class Claim:
    """``better`` beats ``worse`` on each metric: (label, path of A's figure, path of B's figure, percent)."""

    name: str
    statement: str
    better: str
    worse: str
    metrics: tuple[tuple[str, FigurePath, FigurePath, bool], ...]


def _model_claim(name: str, statement: str, better: str, worse: str) -> Claim:
    metrics = tuple((label, ("models", better, key), ("models", worse, key), pct) for key, label, pct in MODEL_METRICS)
    return Claim(name, statement, better, worse, metrics)


def _av_claim(name: str, statement: str, worse_stream: str, worse: str) -> Claim:
    metrics = tuple(
        (label, ("audio_visual", f"recola_dev_{dim}_ccc"), ("audio_visual", f"recola_dev_{worse_stream}{dim}_ccc"), False)
        for dim, label in AV_DIMENSIONS
    )
    return Claim(name, statement, "DeepFEVER-AV (fused)", worse, metrics)


CLAIMS: tuple[Claim, ...] = (
    _model_claim("distillation", "Distillation beats no distillation (same student architecture and steps)", "student", "baseline"),
    _model_claim("alignment", "Aligned crops beat unaligned crops (teacher: align_faces vs --no_align_faces)", "teacher", "teacher_unaligned"),
    _model_claim("triplet", "The student's FEC triplet term helps (--triplet_weight 1 vs the demo's 0)", "student_with_triplet", "student"),
    *(_model_claim(f"temperature_vs_{t}", f"The recipe's distillation temperature ({RECIPE_TEMPERATURE:g}) beats {t}",
                   "student", f"student_temperature_{t}") for t in TEMPERATURES),
    _av_claim("fusion_vs_visual", "Fused DeepFEVER-AV beats the visual stream alone", "visual_only_", "Visual only"),
    _av_claim("fusion_vs_audio", "Fused DeepFEVER-AV beats the audio stream alone", "audio_only_", "Audio only"),
)  # fmt: skip

HOLDS_EVERY_SEED, HOLDS_ON_MEAN, DOES_NOT_HOLD = "holds on every seed", "holds on the mean only", "does not hold"
NO_VERDICT = "one seed: no verdict"

# ------------------------------------------------------------------------------------------------ statistics


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof 1; NaN for one value)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else math.nan}


def verdict(differences: Sequence[float]) -> str:
    """The wording of a claim A > B from its per-seed differences A - B (no claim from a single seed)."""
    if any(not math.isfinite(value) for value in differences):
        return "not measured on every seed"
    if len(differences) < 2:
        return NO_VERDICT
    if all(value > 0 for value in differences):
        return HOLDS_EVERY_SEED
    if all(value == 0 for value in differences):
        return f"{DOES_NOT_HOLD} (equal on every seed)"
    return HOLDS_ON_MEAN if statistics.fmean(differences) > 0 else DOES_NOT_HOLD


def _figure(results: dict[str, Any], path: FigurePath) -> float:
    value: Any = results
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return float(value) if isinstance(value, (int, float)) else math.nan


def summarise(seed_results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per model and metric (and per AV stream), the per-seed figures with mean ± std; per claim and metric, both
    sides, the paired differences and the verdict."""
    seeds = sorted(seed_results)

    def series(path: FigurePath) -> dict[str, Any]:
        values = [_figure(seed_results[seed], path) for seed in seeds]
        return {"per_seed": values, **mean_std(values)}

    metrics = {name: {key: series(("models", name, key)) for key, _, _ in MODEL_METRICS} for name, _ in MODELS}
    audio_visual = {
        f"{stream}{dim}": series(("audio_visual", f"recola_dev_{stream}{dim}_ccc")) for stream, _ in AV_STREAMS for dim, _ in AV_DIMENSIONS
    }
    claims = {}
    for claim in CLAIMS:
        rows = {}
        for label, better, worse, _ in claim.metrics:
            a, b = series(better), series(worse)
            differences = [x - y for x, y in zip(a["per_seed"], b["per_seed"])]
            rows[label] = {"better": a, "worse": b, "difference": {"per_seed": differences, **mean_std(differences)},
                           "verdict": verdict(differences)}  # fmt: skip
        claims[claim.name] = {"statement": claim.statement, "better": claim.better, "worse": claim.worse, "metrics": rows}
    return {"seeds": seeds, "models": metrics, "audio_visual": audio_visual, "claims": claims}


# ---------------------------------------------------------------------------------------------- markdown


def _value(value: float, percent: bool) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def _mean_std(figure: dict[str, Any], percent: bool) -> str:
    std = "" if not math.isfinite(figure["std"]) else f" ± {_value(figure['std'], percent)}"
    return _value(figure["mean"], percent) + std


def markdown_section(report: dict[str, Any]) -> str:
    """The section for RESULTS.md: how it was measured, mean ± std tables, one table per claim."""
    summary, seeds = report["summary"], report["summary"]["seeds"]
    machine, settings = report["machine"], report["settings"]
    lines = [
        "## Demo claims over training seeds (`python -m benchmarks.claims`)",
        "",
        f"`{report['command']}`, {machine['date_utc']}, {report['mode']} settings: {len(seeds)} training seed(s) "
        f"({', '.join(map(str, seeds))}) on ONE synthetic corpus (size `{settings['corpus_size']}`, corpus seed "
        f"{report['corpus_seed']}, drawn once): the spread below is that of training, not of the corpus. "
        f"{report['wall_s'] / 60:.1f} min wall in all ({report['seconds_per_seed']:.0f} s per seed). "
        "All figures are on the SYNTHETIC demo corpus. Mean ± sample std (ddof 1) over the seeds; accuracies in %.",
        "",
        f"Environment: Python {machine['python']}, torch {machine['torch']}, timm {machine['timm']}, transformers "
        f"{machine['transformers']}; {settings['torch_threads']} torch threads per stage (the AV stage one) on "
        f"{machine['cores_usable']} usable cores ({machine['cpu']}, torch CPU kernels {machine.get('cpu_capability')}); "
        f"load average {report['loadavg_before']} before, "
        f"{report['loadavg_after']} after.",
        "",
        "The alignment A/B is run on the teacher only, the triplet and temperature A/Bs on the distilled student "
        "only (the full grid "
        "does not fit the half-hour budget). The nuisance ratio: synthetic pairs differing only in pose, lighting or "
        "identity vs only in expression, mean expression distance / mean nuisance distance (>1: the vector moves more "
        "with the expression); see `hf_deepfever.training.nuisance_ratio`.",
        "",
        "| Metric | " + " | ".join(title for _, title in MODELS) + " |",
        "|---|" + "---|" * len(MODELS),
    ]
    for key, label, percent in MODEL_METRICS:
        lines.append(f"| {label} | " + " | ".join(_mean_std(summary["models"][name][key], percent) for name, _ in MODELS) + " |")
    lines += ["", "| DeepFEVER-AV, RECOLA dev | " + " | ".join(title for _, title in AV_DIMENSIONS) + " |",
              "|---|" + "---|" * len(AV_DIMENSIONS)]  # fmt: skip
    for stream, title in AV_STREAMS:
        lines.append(f"| {title} | " + " | ".join(_mean_std(summary["audio_visual"][f"{stream}{dim}"], False) for dim, _ in AV_DIMENSIONS) + " |")
    for claim in CLAIMS:
        result = summary["claims"][claim.name]
        lines += ["", f"### {claim.statement}", "",
                  f"A = {result['better']}, B = {result['worse']}; per seed: A / B.", "",
                  "| Metric | " + " | ".join(f"seed {seed}" for seed in seeds) + " | A | B | A − B | Verdict |",
                  "|---|" + "---|" * (len(seeds) + 4)]  # fmt: skip
        for label, _, _, percent in claim.metrics:
            row = result["metrics"][label]
            per_seed = [f"{_value(a, percent)} / {_value(b, percent)}" for a, b in zip(row["better"]["per_seed"], row["worse"]["per_seed"])]
            cells = [*per_seed, _mean_std(row["better"], percent), _mean_std(row["worse"], percent),
                     _mean_std(row["difference"], percent), row["verdict"]]  # fmt: skip
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def replace_section(text: str, section: str) -> str:
    """``text`` with the marked claims section replaced by ``section`` (appended, marked, when absent)."""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        return text[:start] + block + text[end + len(END) :]
    return text.rstrip("\n") + "\n\n" + block + "\n"


# ------------------------------------------------------------------------------------------------- plot


def plot_claims(summary: dict[str, Any], path: Path) -> Path:
    """One panel per claim: the per-seed differences A − B of each metric (dots) and their mean ± std (bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(CLAIMS), 1, figsize=(9, 2.6 * len(CLAIMS)), squeeze=False)
    for axis, claim in zip(axes[:, 0], CLAIMS):
        rows = summary["claims"][claim.name]["metrics"]
        labels = list(rows)
        for position, label in enumerate(labels):
            difference = rows[label]["difference"]
            axis.scatter([position] * len(difference["per_seed"]), difference["per_seed"], s=18, color="tab:blue", zorder=3)
            std = difference["std"] if math.isfinite(difference["std"]) else 0.0
            axis.errorbar(position + 0.15, difference["mean"], yerr=std, fmt="s", color="tab:red", capsize=4, zorder=3)
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_xticks(range(len(labels)), labels, fontsize=7, rotation=12)
        axis.set_title(f"{claim.statement}\n(A = {claim.better}, B = {claim.worse}): A − B per seed (dots), mean ± std (red)", fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
    axes[-1, 0].set_xlabel("accuracies as fractions, CCC and ratio as they are", fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ------------------------------------------------------------------------------------------------- runs


def _link_tree(source: Path, destination: Path) -> None:
    """A copy of the shared corpus whose files are hard links (no space, no time); plain copies across devices."""
    try:
        shutil.copytree(source, destination, copy_function=os.link)
    except OSError:
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(source, destination)


def _shared_corpus(run: Any, *, shared: Path) -> None:
    """The demo's corpus stage on a linked copy of the corpus drawn once: it finds its seed and size, reuses it."""
    if not run.corpus_dir.exists():
        _link_tree(shared, run.corpus_dir)
    generate_corpus(run)


def seed_stages(shared_corpus: Path) -> list[Stage]:
    """The demo's stages that the claims need, plus the two comparison models, in running order."""
    demo = {stage.name: stage for stage in DEMO_STAGES}
    return [
        Stage("corpus", functools.partial(_shared_corpus, shared=shared_corpus), "link the corpus drawn once"),
        demo["teacher"], demo["student"], demo["baseline"],
        Stage("teacher_unaligned", functools.partial(train_teacher, name="teacher_unaligned", overrides={"align_faces": False}),
              "train the teacher on unaligned crops (--no_align_faces)"),
        Stage("student_with_triplet", functools.partial(distil_student, name="student_with_triplet", overrides={"student_triplet_weight": 1.0}),
              "distil the student with the FEC triplet term (--triplet_weight 1, the recipe's default)"),
        *(Stage(f"student_temperature_{t}", functools.partial(distil_student, name=f"student_temperature_{t}",
                                                               overrides={"student_kd_temperature": float(t)}),
                f"distil the student at --kd_temperature {t}") for t in TEMPERATURES),
        demo["evaluate"], demo["linear_probe"], demo["nuisance"], demo["audio_visual"],
    ]  # fmt: skip


def claims_settings(*, quick: bool, seed: int, corpus_seed: int) -> DemoSettings:
    """The demo's preset with this training seed, the fixed corpus seed and alignment stated (the A side)."""
    return dataclasses.replace(PRESETS["quick" if quick else "full"], seed=seed, corpus_seed=corpus_seed, align_faces=True)


def _run_seed(output: Path, settings: DemoSettings, shared_corpus: Path, *, resume: bool) -> dict[str, Any]:
    folder = output / f"seed_{settings.seed}"
    if resume and (folder / "demo_results.json").is_file():
        previous = load_results(folder)
        if previous.get("settings") == settings.to_dict() and all(name in previous.get("models", {}) for name, _ in MODELS):
            print(f"[claims] seed {settings.seed}: reusing {folder / 'demo_results.json'}", file=sys.stderr)
            return previous
    return run_demo(folder, settings, stages=seed_stages(shared_corpus), log=lambda line: print(line, file=sys.stderr)).results


def _a_sides() -> dict[str, Any]:
    """What the demo's own models were trained with: alignment is passed explicitly, the student's triplet weight
    is the demo's setting and its temperature the recipe's (read here, so a later change shows in the report)."""
    return {"align_faces": True, "student_triplet_weight": DemoSettings().student_triplet_weight,
            "kd_temperature": DemoSettings().student_kd_temperature or RECIPE_TEMPERATURE}  # fmt: skip


def _saved_alignment(folder: Path) -> dict[str, Any]:
    """Each model's saved processor's ``align_faces``: that the alignment A/B really compares two crops."""
    found = {}
    for name, _ in MODELS:
        config = folder / name / "preprocessor_config.json"
        found[name] = json.loads(config.read_text(encoding="utf-8")).get("align_faces") if config.is_file() else None
    return found


def run_claims(*, seeds: int, quick: bool, output: Path, corpus_seed: int = 0, resume: bool = False) -> dict[str, Any]:
    """Draw the corpus, run every seed, summarise; returns the report (written by :func:`write_outputs`)."""
    from hf_deepfever.synthetic import make_demo_corpus

    started, before = time.perf_counter(), loadavg()
    output.mkdir(parents=True, exist_ok=True)
    base = claims_settings(quick=quick, seed=0, corpus_seed=corpus_seed)
    shared = output / "corpus"
    corpus_started = time.perf_counter()
    make_demo_corpus(shared, seed=corpus_seed, size=base.corpus_size)
    corpus_s = time.perf_counter() - corpus_started
    seed_results: dict[int, dict[str, Any]] = {}
    seed_seconds: dict[int, float] = {}
    for seed in range(seeds):
        seed_started = time.perf_counter()
        seed_results[seed] = _run_seed(output, dataclasses.replace(base, seed=seed), shared, resume=resume)
        seed_seconds[seed] = time.perf_counter() - seed_started
        left = (seeds - seed - 1) * statistics.fmean(seed_seconds.values())
        print(f"[claims] seed {seed} done in {seed_seconds[seed]:.0f} s; about {left / 60:.1f} min to go, load {loadavg()}", file=sys.stderr)
    wall_s = time.perf_counter() - started
    return {
        "command": " ".join(["python -m benchmarks.claims", *sys.argv[1:]]),
        "mode": "quick" if quick else "full",
        "machine": machine_info(),
        "environment": describe_environment(base.torch_threads),
        "loadavg_before": before,
        "loadavg_after": loadavg(),
        "settings": base.to_dict(),
        "a_sides": _a_sides(),
        "saved_align_faces": {str(seed): _saved_alignment(output / f"seed_{seed}") for seed in seed_results},
        "corpus_seed": corpus_seed,
        "training_seeds": list(range(seeds)),
        "corpus_s": round(corpus_s, 1),
        "seed_s": {str(seed): round(seconds, 1) for seed, seconds in seed_seconds.items()},
        "seconds_per_seed": statistics.fmean(seed_seconds.values()),
        "wall_s": wall_s,
        "stage_timings": {str(seed): results.get("timings", {}) for seed, results in seed_results.items()},
        "seed_results": {str(seed): {"models": results.get("models", {}), "audio_visual": results.get("audio_visual", {})}
                         for seed, results in seed_results.items()},  # fmt: skip
        "summary": summarise(seed_results),
    }


def write_outputs(report: dict[str, Any], output: Path, *, write_results: bool) -> str:
    """claims.md, claims.json and claims.png in ``output``; with ``write_results`` RESULTS.md and docs/ too."""
    section = markdown_section(report)
    atomic_write_text(output / "claims.md", section)
    atomic_write_text(output / "claims.json", json.dumps(report, indent=2, default=str) + "\n")
    plot = plot_claims(report["summary"], output / "claims.png")
    if write_results:
        atomic_write_text(RESULTS_MD, replace_section(RESULTS_MD.read_text(encoding="utf-8"), section))
        DOCS_PLOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plot, DOCS_PLOT)
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="Training seeds 0 .. N-1 (default 3).")
    parser.add_argument("--corpus_seed", "--corpus-seed", type=int, default=0, help="Seed of the one corpus (default 0).")
    parser.add_argument("--quick", action="store_true", help="The demo's tiny settings (smoke run).")
    parser.add_argument("--output", default="claims_output", help="Folder of the runs and outputs (default claims_output).")
    parser.add_argument("--resume", action="store_true", help="Reuse a seed whose results in --output have the same settings.")
    parser.add_argument("--write-results", "--write_results", action="store_true",
                        help="Also write the section into benchmarks/RESULTS.md and the plot to docs/claims.png.")  # fmt: skip
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    output = Path(args.output).absolute()
    report = run_claims(seeds=args.seeds, quick=args.quick, output=output, corpus_seed=args.corpus_seed, resume=args.resume)
    print(write_outputs(report, output, write_results=args.write_results))
    print(f"outputs: {output / 'claims.md'}, {output / 'claims.json'}, {output / 'claims.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

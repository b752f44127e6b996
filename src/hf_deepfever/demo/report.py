"""The demo's results: a markdown table (teacher vs distilled student vs student without distillation, with
chance levels), ``demo_results.md`` and ``demo_results.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.files import atomic_write_text
from .environment import environment_line

if TYPE_CHECKING:
    from .run import DemoRun
    from .settings import DemoSettings

COLUMNS = (("teacher", "Teacher"), ("student", "Student (distilled)"), ("baseline", "Student (no distillation)"))

# (key, row label, chance level or a results key holding it, shown as a percentage)
ROWS: tuple[tuple[str, str, Any, bool], ...] = (
    ("affectnet_accuracy_8", "AffectNet-layout accuracy, 8 classes", 1 / 8, True),
    ("affectnet_macro_f1_8", "AffectNet-layout macro-F1, 8 classes", None, True),
    ("affectnet_accuracy_7", "AffectNet-layout accuracy, 7 classes", 1 / 7, True),
    ("affectnet_macro_f1_7", "AffectNet-layout macro-F1, 7 classes", None, True),
    ("valence_ccc", "Valence CCC", 0.0, False),
    ("arousal_ccc", "Arousal CCC", 0.0, False),
    ("fec_triplet_accuracy", "FEC-layout triplet accuracy", 1 / 3, True),
    ("rafdb_linear_probe_accuracy", "RAF-DB-layout linear probe accuracy", "rafdb_chance_accuracy", True),
    ("rafdb_linear_probe_macro_f1", "RAF-DB-layout linear probe macro-F1", None, True),
    ("expression_nuisance_ratio", "Expression / nuisance vector distance (synthetic pairs; >1: moves more with expression)", None, False),
)

CHANCE_NOTES = (
    "Chance: AffectNet validation is class-balanced, so guessing scores 1/8 = 12.5% (8 classes) and 1/7 = 14.3% "
    "(7 classes); CCC is 0 for predictions unrelated to the targets; a triplet is right when its similar pair is the "
    "closest of its three pairs, which random vectors get 1 time in 3 (33.3%); RAF-DB chance is the test share of the "
    "most frequent train expression (what a probe that learned nothing would predict)."
)


def _format(value: Any, percent: bool) -> str:
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def results_table(results: dict[str, Any]) -> str:
    """The markdown table of the three models' metrics, with a chance column."""
    models = results.get("models", {})
    header = "| Metric | Chance | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (2 + len(COLUMNS))]
    for key, label, chance, percent in ROWS:
        chance_value = results.get(chance) if isinstance(chance, str) else chance
        cells = [_format(models.get(name, {}).get(key), percent) for name, _ in COLUMNS]
        lines.append(f"| {label} | {_format(chance_value, percent) if chance is not None else '-'} | " + " | ".join(cells) + " |")
    lines.append(
        "| Input size | - | "
        + " | ".join(f"{models.get(name, {}).get('image_size', 'n/a')} px" for name, _ in COLUMNS)
        + " |"
    )
    lines.append(
        "| Parameters | - | "
        + " | ".join(f"{models.get(name, {}).get('parameters', 0) / 1e6:.2f} M" for name, _ in COLUMNS)
        + " |"
    )
    lines.append("| Backbone | - | " + " | ".join(str(models.get(name, {}).get("backbone", "n/a")) for name, _ in COLUMNS) + " |")
    return "\n".join(lines)


def audio_visual_section(results: dict[str, Any]) -> str:
    """Markdown for the DeepFEVER-AV stage: dev CCC of the fused model beside its single-stream references (the
    student's own head per frame, the same model trained on the voice alone, the training mean), valence first."""
    from ..core.vocabulary import VALENCE_AROUSAL
    from ..hub.results import AV_DIMENSIONS, AV_STREAMS

    lines = [
        "## DeepFEVER-AV on the demo RECOLA corpus (dev)",
        "",
        "CCC on the same dev steps (concatenated dev recordings); the references: the distilled student's own "
        "valence/arousal head on each frame's face (visual only), the same DeepFEVER-AV trained without the visual "
        "stream (audio only), and predicting the training mean (CCC 0).",
        "",
        "| Predictor | Valence CCC | Arousal CCC | Mean CCC (valence, arousal) |",
        "|---|---|---|---|",
    ]
    for stream, title, _ in AV_STREAMS:
        infix = "" if stream == "fused" else f"{stream}_"
        values = [results.get(f"recola_dev_{infix}{dimension}_ccc") for dimension in AV_DIMENSIONS]
        if all(value is None for value in values):
            continue  # a reference this run did not measure
        lines.append(f"| {title} | " + " | ".join(_format(value, False) for value in values) + " |")
    verdict = "beats" if results.get("beats_baseline") else "does NOT beat"
    lines += ["", f"DeepFEVER-AV {verdict} the training-mean baseline on both dimensions."]
    each_stream = results.get("recola_dev_fusion_beats_each_stream")
    if isinstance(each_stream, dict):
        lines.append(
            "Fusion beats every single-stream reference: "
            + "; ".join(f"{name} {'yes' if each_stream.get(name) else 'no'}" for name in (*VALENCE_AROUSAL, "mean"))
            + "."
        )
    return "\n".join(lines) + "\n"


NUISANCE_KINDS = (("pose", "Pose"), ("lighting", "Lighting"), ("identity", "Identity"))


def nuisance_section(results: dict[str, Any]) -> str:
    """Markdown for the nuisance-pair check: per model, mean expression distance over mean nuisance distance."""
    pairs = results.get("nuisance_pairs", {})
    lines = [
        "## Expression vs nuisance: synthetic face pairs",
        "",
        f"{pairs.get('pairs_per_kind')} pairs of each kind, drawn by the renderer (seed {pairs.get('seed')}, "
        f"{pairs.get('image_size')} px photo-style pictures): two faces that differ ONLY in pose (and framing), ONLY in "
        "lighting, ONLY in identity, or ONLY in expression (another of the 8), embedded through each model's own "
        "processor. Each cell: mean distance of the expression pairs / mean distance of that kind's pairs, between "
        "L2-normalised vectors; above 1 the vector moves more with the expression than with that nuisance. No "
        "training loss sees these pairs.",
        "",
        "| Model | " + " | ".join(title for _, title in NUISANCE_KINDS) + " | All nuisances |",
        "|---|" + "---|" * (len(NUISANCE_KINDS) + 1),
    ]
    for name, model in results.get("models", {}).items():
        if "expression_nuisance_ratio" not in model:
            continue
        cells = [_format(model.get(f"expression_nuisance_ratio_{kind}"), False) for kind, _ in NUISANCE_KINDS]
        lines.append(f"| {dict(COLUMNS).get(name, name)} | " + " | ".join(cells) + f" | {_format(model['expression_nuisance_ratio'], False)} |")
    return "\n".join(lines) + "\n"


def pipeline_section(pipelines: dict[str, Any]) -> str:
    """Markdown for the reload + pipelines stage."""
    lines = [
        "## Reloaded student and pipelines",
        "",
        f"`AutoModel.from_pretrained` -> `{pipelines['auto_model_class']}`; `image-feature-extraction` returns "
        f"{pipelines['vector_size']}-d vectors (largest difference to the AutoModel's own: "
        f"{pipelines['largest_difference_pipeline_vs_auto_model']:.1e}).",
        "",
        "| Face | RAF-DB label | `image-classification` top-1 | Score | Vector norm |",
        "|---|---|---|---|---|",
    ]
    for index, face in enumerate(pipelines["faces"], start=1):
        lines.append(f"| {index} | {face['rafdb_label']} | {face['predicted']} | {face['score']:.3f} | {face['vector_norm']:.3f} |")
    return "\n".join(lines) + "\n"


def timings_table(timings: dict[str, dict[str, float]]) -> str:
    lines = ["| Stage | Wall clock (s) | CPU (s) |", "|---|---|---|"]
    lines += [f"| {name} | {value['wall_s']:.1f} | {value['cpu_s']:.1f} |" for name, value in timings.items()]
    return "\n".join(lines)


def _corpus_seed_note(settings: DemoSettings) -> str:
    """Said only when the corpus was drawn with another seed than the training runs'."""
    return "" if settings.corpus_seed_or_seed == settings.seed else f" (corpus drawn with seed {settings.corpus_seed_or_seed})"


def write_results(run: DemoRun) -> str:
    """Write ``demo_results.json`` and ``demo_results.md``; return the results table."""
    run.results["timings"] = run.timings
    table = results_table(run.results)
    settings = run.settings
    markdown = [
        f"# DeepFEVER demo results (seed {settings.seed})",
        "",
        "**All numbers are measured on the SYNTHETIC demo corpus** (procedurally drawn faces in the publishers' "
        "file layouts). They show that the pipeline learns; they say nothing about real AffectNet, FEC or RAF-DB.",
        "",
        f"Teacher `{settings.teacher_backbone}` on {settings.teacher_image_size}px face crops, {settings.teacher_steps} steps "
        f"of {settings.teacher_batch_size} faces (+ FEC triplets); students `{settings.student_backbone}` on "
        f"{settings.student_image_size}px crops, {settings.student_steps} steps of {settings.batch_size} faces; "
        f"corpus size `{settings.corpus_size}`, seed {settings.seed}{_corpus_seed_note(settings)}, no pretrained weights.",
        "",
        f"Environment (the figures depend on it): {environment_line(run.results.get('environment', {}))}",
        "",
        table,
        "",
        CHANCE_NOTES,
        "",
        *run.report_sections,
        "## Plots",
        "",
        *[f"- {name}: `{Path(path).relative_to(run.output_dir)}`" for name, path in run.results.get("plots", {}).items()],
        "",
        "## Stage timings",
        "",
        timings_table(run.timings),
        "",
    ]
    atomic_write_text(run.output_dir / "demo_results.md", "\n".join(markdown))
    atomic_write_text(
        run.output_dir / "demo_results.json", json.dumps(run.results, indent=2, sort_keys=True, default=str) + "\n"
    )
    return table


__all__ = ["CHANCE_NOTES", "audio_visual_section", "nuisance_section", "pipeline_section", "results_table", "timings_table", "write_results"]

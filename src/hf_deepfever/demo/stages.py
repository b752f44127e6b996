"""The demo's stages, run in order on one shared :class:`~hf_deepfever.demo.run.DemoRun`.

Each stage is a plain function ``stage(run: DemoRun) -> None`` that reads what earlier stages left in
``run`` (folders, ``run.results``, ``run.artifacts``) and adds its own. :data:`DEMO_STAGES` lists them; to
add a stage, write one such function and insert a :class:`Stage` into the list (or pass your own list to
:func:`~hf_deepfever.demo.pipeline.run_demo`). A stage that wants a section in ``demo_results.md`` appends
markdown to ``run.report_sections``; what it stores under ``run.results`` goes into ``demo_results.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from .run import MODEL_NAMES, DemoRun, Stage
from .settings import DemoSettings


def generate_corpus(run: DemoRun) -> None:
    """Write the synthetic demo corpus (reused when the folder already holds the same seed and size)."""
    from ..synthetic import make_demo_corpus

    summary = make_demo_corpus(run.corpus_dir, seed=run.settings.corpus_seed_or_seed, size=run.settings.corpus_size)
    run.results["corpus"] = {"root": summary["root"], "size": summary["size"], "seed": summary["seed"]}


def _train(
    run: DemoRun,
    name: str,
    entry_point: Callable[[list[str]], Any],
    *,
    backbone: str,
    teacher: bool,
    unlabelled: bool = False,
    extra: tuple[str, ...] = (),
    settings: DemoSettings | None = None,
) -> None:
    """Run one training recipe into ``run.model_dir(name)`` on the demo corpus: ``backbone``, the recipe's own
    ``extra`` arguments, the corpus folders (``unlabelled``: the unlabelled faces too, and the distilled student's
    arguments) and the steps of ``settings`` (default the run's; ``teacher``: the teacher's)."""
    settings = run.settings if settings is None else settings
    corpora = ["--affectnet_dir", str(run.corpus("affectnet")), "--fec_dir", str(run.corpus("fec"))]
    if unlabelled:
        corpora += ["--unlabelled_dir", str(run.corpus("unlabelled"))]
    arguments = ["--backbone", backbone, *extra, *corpora, *settings.training_arguments(teacher=teacher, distilled=unlabelled)]
    output_dir = run.model_dir(name)
    run.log(f"  {name}: {' '.join(arguments)}")
    entry_point(["--output_dir", str(output_dir), *arguments])
    run.model_results(name)["folder"] = str(output_dir)


def train_teacher(run: DemoRun, *, name: str = "teacher", overrides: Mapping[str, Any] | None = None) -> None:
    """The multi-task teacher: AffectNet expressions + valence/arousal + FEC triplets (into ``name``, with the
    run's settings but ``overrides``: another model of the same kind for a comparison)."""
    from ..training.teacher import main as teacher_main

    settings = replace(run.settings, **(overrides or {}))
    _train(run, name, teacher_main, backbone=settings.teacher_backbone, teacher=True, settings=settings)


def distil_student(run: DemoRun, *, name: str = "student", overrides: Mapping[str, Any] | None = None) -> None:
    """The student learns from the teacher on AffectNet, FEC faces and the unlabelled faces (``name`` and
    ``overrides``: as for :func:`train_teacher`; the teacher is always ``teacher``)."""
    from ..training.distill import main as distill_main

    settings = replace(run.settings, **(overrides or {}))
    teacher = ("--teacher", str(run.model_dir("teacher")), "--teacher_cache_dir", str(run.output_dir / "teacher_cache"))
    _train(
        run, name, distill_main, backbone=settings.student_backbone, teacher=False, unlabelled=True, extra=teacher,
        settings=settings,
    )  # fmt: skip


def train_baseline(run: DemoRun) -> None:
    """The same student architecture and steps, trained on ground truth only (no teacher, no unlabelled faces)."""
    from ..training.teacher import main as teacher_main

    _train(run, "baseline", teacher_main, backbone=run.settings.student_backbone, teacher=False)


def trained_models(run: DemoRun) -> list[str]:
    """The models this run trained, in training order (the demo's three; a comparison may add its own)."""
    return [name for name, results in run.results.get("models", {}).items() if "folder" in results]


def _loaded(run: DemoRun, name: str) -> tuple[Any, Any]:
    """The saved model ``name`` (with heads) and its processor, loaded once from its folder."""
    from ..core.loading import load_model_and_processor

    models = run.artifacts.setdefault("models", {})
    if name not in models:
        models[name] = load_model_and_processor(run.model_dir(name), kind="expression")
    return models[name]


def evaluate_models(run: DemoRun) -> None:
    """Reload each saved model, predict AffectNet validation (for the plots) and collect its eval_results.json.

    The training runs already evaluated each model on AffectNet and FEC (into ``eval_results.json``); the
    AffectNet predictions of the reloaded folder must reproduce those numbers, which checks the saved files.
    """
    from ..data import load_affectnet
    from ..core.eval_results import EVAL_RESULTS_NAME, read_eval_results
    from ..training.evaluation import evaluate_affectnet

    validation = load_affectnet(run.corpus("affectnet"))["validation"]
    predictions = run.artifacts.setdefault("affectnet_predictions", {})
    for name in trained_models(run):
        model, processor = _loaded(run, name)
        metrics, predictions[name] = evaluate_affectnet(model, processor, validation, batch_size=run.settings.eval_batch_size)
        stored = read_eval_results(run.model_dir(name) / EVAL_RESULTS_NAME)
        difference = abs(stored.get("affectnet_accuracy_8", float("nan")) - metrics["affectnet_accuracy_8"])
        if not difference <= 1e-6:
            raise RuntimeError(
                f"the reloaded {name} scores {metrics['affectnet_accuracy_8']:.4f} AffectNet accuracy, its training "
                f"run measured {stored.get('affectnet_accuracy_8')}: the saved folder does not hold the trained model"
            )
        run.model_results(name).update(stored)
        run.model_results(name)["parameters"] = int(sum(p.numel() for p in model.parameters()))
        run.model_results(name)["backbone"] = model.config.backbone
        run.model_results(name)["image_size"] = model.config.image_size
    run.artifacts["affectnet_labels"] = np.asarray(validation["expression"], dtype=np.int64)
    run.artifacts["expression_names"] = validation.features["expression"].names


def probe_models(run: DemoRun) -> None:
    """RAF-DB transfer of each model's frozen vectors (logistic regression), merged into its eval_results.json."""
    from ..core.eval_results import DATASET_KIND_KEY, EVAL_RESULTS_NAME, dataset_kind, merge_eval_results
    from ..training.linear_probe import rafdb_chance_accuracy, rafdb_linear_probe

    rafdb = str(run.corpus("rafdb"))
    kind = dataset_kind([rafdb])
    for name in trained_models(run):
        model, processor = _loaded(run, name)
        scores = rafdb_linear_probe(model, processor, rafdb, batch_size=run.settings.eval_batch_size, seed=run.settings.seed)
        merge_eval_results(run.model_dir(name) / EVAL_RESULTS_NAME, {DATASET_KIND_KEY: kind, **scores})
        run.model_results(name).update(scores)
    run.results["rafdb_chance_accuracy"] = rafdb_chance_accuracy(rafdb)


def measure_nuisance_ratios(run: DemoRun) -> None:
    """Synthetic face pairs that differ only in pose, lighting or identity, or only in expression, embedded by
    each model through its own processor: how much more its vector moves with the expression (a check no
    training loss sees; :mod:`hf_deepfever.training.nuisance_ratio`)."""
    from ..synthetic.nuisance_pairs import DEFAULT_IMAGE_SIZE, PAIR_KINDS, render_nuisance_pairs
    from ..training.nuisance_ratio import model_nuisance_ratios
    from .report import nuisance_section

    # The corpus seed draws the pairs: every training seed of a comparison is measured on the same faces.
    seed = run.settings.corpus_seed_or_seed
    pairs = render_nuisance_pairs(run.settings.nuisance_pair_bases, seed=seed)
    for name in trained_models(run):
        model, processor = _loaded(run, name)
        run.model_results(name).update(model_nuisance_ratios(model, processor, pairs, batch_size=run.settings.eval_batch_size))
    run.results["nuisance_pairs"] = {
        "seed": seed, "pairs_per_kind": run.settings.nuisance_pair_bases, "kinds": list(PAIR_KINDS),
        "image_size": DEFAULT_IMAGE_SIZE,
    }  # fmt: skip
    run.report_sections.append(nuisance_section(run.results))


def reload_and_run_pipelines(run: DemoRun) -> None:
    """``AutoModel.from_pretrained`` on the student folder, then both pipelines on a few RAF-DB faces."""
    import torch
    from transformers import AutoModel, pipeline

    from ..data import load_rafdb

    student_dir = str(run.model_dir("student"))
    extractor = AutoModel.from_pretrained(student_dir)
    faces = load_rafdb(run.corpus("rafdb"))["test"]
    count = min(run.settings.pipeline_faces, len(faces))
    images = [faces[index]["image"].convert("RGB") for index in range(count)]
    names = faces.features["expression"].names
    true_labels = [names[label] for label in faces["expression"][:count]]

    features = pipeline("image-feature-extraction", model=student_dir)
    vectors = [np.asarray(output, dtype=np.float32).reshape(-1) for output in features(images, pool=True)]
    classifier = pipeline("image-classification", model=student_dir)
    top = [outputs[0] for outputs in classifier(images, top_k=1)]

    # The pipeline's vector must be the reloaded model's own (same processor, same weights).
    _, processor = _loaded(run, "student")
    with torch.no_grad():
        direct = extractor(**processor(images, return_tensors="pt")).pooler_output.numpy()
    largest_gap = float(np.max(np.abs(np.stack(vectors) - direct)))
    if largest_gap > 1e-4:
        raise RuntimeError(f"image-feature-extraction differs from AutoModel by {largest_gap:.2e} on the same faces")
    run.results["pipelines"] = {
        "auto_model_class": type(extractor).__name__,
        "vector_size": int(vectors[0].size),
        "largest_difference_pipeline_vs_auto_model": largest_gap,
        "faces": [
            {
                "rafdb_label": label,
                "predicted": prediction["label"],
                "score": round(float(prediction["score"]), 4),
                "vector_norm": round(float(np.linalg.norm(vector)), 4),
            }
            for label, prediction, vector in zip(true_labels, top, vectors)
        ],
    }
    from .report import pipeline_section

    run.report_sections.append(pipeline_section(run.results["pipelines"]))


def train_audio_visual(run: DemoRun) -> None:
    """DeepFEVER-AV on the demo RECOLA corpus, on top of the distilled student's frozen vectors."""
    from .av_stage import run_demo_stage
    from .report import audio_visual_section

    results = run_demo_stage(
        run.corpus("recola"),
        run.model_dir("audio_visual"),
        vision_model=run.model_dir("student"),
        quick=run.settings.corpus_size == "tiny",
        seed=run.settings.seed,
    )
    run.results["audio_visual"] = {
        key: value for key, value in results.items() if key.startswith("recola_") or key == "beats_baseline"
    }
    run.report_sections.append(audio_visual_section(run.results["audio_visual"]))


def write_plots(run: DemoRun) -> None:
    """Training curves, AffectNet confusion matrices and a 2-D map of the expression vectors."""
    from ..training.loop import TRAINING_LOG
    from . import plots

    run.plots_dir.mkdir(parents=True, exist_ok=True)
    logs = {name: plots.read_training_log(run.model_dir(name) / TRAINING_LOG) for name in MODEL_NAMES}
    predictions = run.artifacts["affectnet_predictions"]
    labels, names = run.artifacts["affectnet_labels"], run.artifacts["expression_names"]
    written = {
        "training_curves": plots.plot_training_curves(logs, run.plots_dir / "training_curves.png"),
        "confusion_matrix": plots.plot_confusion_matrices(
            {name: predictions[name].logits for name in MODEL_NAMES}, labels, names, run.plots_dir / "confusion_matrix.png"
        ),
        "expression_map": plots.plot_expression_maps(
            {name: predictions[name].vectors for name in ("teacher", "student")}, labels, names,
            run.plots_dir / "expression_vectors_2d.png", seed=run.settings.seed,
        ),
    }  # fmt: skip
    run.results["plots"] = {key: str(path) for key, path in written.items()}


def assemble_hub_folder(run: DemoRun) -> None:
    """What publishing the student would upload (dry run: the folder is written, nothing is sent)."""
    from ..hub import dry_run_listing

    folder = run.output_dir / "hub_upload"
    listing = dry_run_listing(run.model_dir("student"), folder, repo_id=run.settings.hub_repo_id)
    run.log(listing)
    run.results["hub_upload"] = {"folder": str(folder), "repo_id": run.settings.hub_repo_id, "dry_run": True}
    run.report_sections.append(f"## Hub upload (dry run)\n\n```\n{listing}\n```\n")


DEMO_STAGES: list[Stage] = [
    Stage("corpus", generate_corpus, "generate the synthetic demo corpus"),
    Stage("teacher", train_teacher, "train the teacher"),
    Stage("student", distil_student, "distil the student (with the unlabelled faces)"),
    Stage("baseline", train_baseline, "train the same student without distillation"),
    Stage("evaluate", evaluate_models, "reload and evaluate all three models"),
    Stage("linear_probe", probe_models, "RAF-DB linear probe of all three models"),
    Stage("nuisance", measure_nuisance_ratios, "expression vs pose / lighting / identity distances, synthetic pairs"),
    Stage("audio_visual", train_audio_visual, "train DeepFEVER-AV on the demo RECOLA corpus"),
    Stage("pipelines", reload_and_run_pipelines, "AutoModel.from_pretrained + both pipelines"),
    Stage("plots", write_plots, "training curves, confusion matrices, 2-D vector map"),
    Stage("hub", assemble_hub_folder, "assemble the Hub upload folder (dry run)"),
]
"""The demo, in order. Add a stage by inserting ``Stage(name, function, description)``."""


__all__ = [
    "DEMO_STAGES",
    "distil_student",
    "evaluate_models",
    "generate_corpus",
    "measure_nuisance_ratios",
    "probe_models",
    "train_audio_visual",
    "train_baseline",
    "train_teacher",
    "trained_models",
]

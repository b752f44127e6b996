"""From a measured ``eval_results.json`` to labelled results: model-index entries and results-table rows.

Only keys this module knows are turned into results, each tied to its corpus, split, task and metric.
A key that is absent from the file is left out; nothing is ever filled in. Other keys are shown in the card
as short, escaped text (:func:`shown_values`): a few dozen at most, each cut to a line, so a hostile or
runaway file cannot put megabytes or markup into the card. Results whose file says
``"dataset_kind": "synthetic-demo"`` are attributed to the synthetic demo corpus (dataset type
``synthetic``), never to AffectNet, FEC, RAF-DB or RECOLA.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from huggingface_hub import EvalResult

from ..core.eval_results import DATASET_KIND_KEY, REAL, SYNTHETIC_DEMO

SYNTHETIC_DATASET_NAME = "hf_deepfever synthetic demo corpus"
SYNTHETIC_DATASET_TYPE = "synthetic"
MAX_SHOWN_VALUES = 24
"""Most unrecognised keys a card shows; the rest are counted in one note."""
MAX_SHOWN_CHARACTERS = 80
"""Longest key or value a card shows (longer ones are cut, saying how long they were)."""
OMITTED_KEY = "(not shown)"


@dataclass(frozen=True)
class Corpus:
    """A corpus results are measured on: its display name, model-index dataset type and evaluated split."""

    name: str
    dataset_type: str
    split: str
    layout: str  # the demo corpus mimics this publisher layout; used as dataset_config there


AFFECTNET = Corpus("AffectNet", "affectnet", "validation", "affectnet-layout")
FEC = Corpus("Google FEC", "google-fec", "test", "fec-layout")
RAFDB = Corpus("RAF-DB", "raf-db", "test", "rafdb-layout")
RECOLA = Corpus("RECOLA (AVEC 2016)", "recola", "dev", "recola-layout")


@dataclass(frozen=True)
class MetricSpec:
    """How one flat ``eval_results.json`` key becomes a result."""

    key: str
    corpus: Corpus
    task_type: str
    task_name: str
    metric_type: str
    metric_name: str
    count_key: str | None = None  # the key holding how many samples the metric was measured on
    percent: bool = False  # shown as a percentage in the results table
    in_model_index: bool = True  # False for reference baselines: shown in the table, not claimed as the model's
    stream: str | None = None  # DeepFEVER-AV: the predictor of AV_STREAMS this value measures
    dimension: str | None = None  # DeepFEVER-AV: one of AV_DIMENSIONS

    @property
    def stream_title(self) -> str | None:
        """The short title of :attr:`stream` (a comparison table's row)."""
        return next((title for stream, title, _ in AV_STREAMS if stream == self.stream), None)


_EXPRESSION = ("image-classification", "Facial expression recognition")
_AFFECT_IMAGE = ("other", "Valence and arousal from a face image")
_FEC = ("image-feature-extraction", "Expression similarity: FEC triplet prediction")
_PROBE = ("image-feature-extraction", "Transfer: linear probe on frozen expression vectors")
_AFFECT_AV = ("other", "Continuous valence and arousal, audio-visual, every 40 ms")


def _valence_arousal_specs(prefixes: tuple[str, ...], corpus: Corpus, task: tuple[str, str], count_key: str | None):
    specs = []
    for prefix in prefixes:
        for dimension in ("valence", "arousal"):
            specs.append(
                MetricSpec(f"{prefix}{dimension}_ccc", corpus, *task, "ccc", f"{dimension.capitalize()} CCC", count_key)
            )
            specs.append(
                MetricSpec(
                    f"{prefix}{dimension}_rmse", corpus, *task, "rmse", f"{dimension.capitalize()} RMSE", count_key
                )
            )
    return specs


def _visual_specs() -> list[MetricSpec]:
    specs = [
        MetricSpec("affectnet_accuracy_8", AFFECTNET, *_EXPRESSION, "accuracy", "Accuracy (8 classes)",
                   "affectnet_eval_samples", True),
        MetricSpec("affectnet_macro_f1_8", AFFECTNET, *_EXPRESSION, "f1", "Macro-F1 (8 classes)",
                   "affectnet_eval_samples", True),
        MetricSpec("affectnet_accuracy_7", AFFECTNET, *_EXPRESSION, "accuracy", "Accuracy (7 classes, contempt masked)",
                   "affectnet_eval_samples_7", True),
        MetricSpec("affectnet_macro_f1_7", AFFECTNET, *_EXPRESSION, "f1", "Macro-F1 (7 classes, contempt masked)",
                   "affectnet_eval_samples_7", True),
    ]
    # The evaluation writes AffectNet's valence/arousal with bare keys; the prefixed spelling is accepted too.
    specs += _valence_arousal_specs(("", "affectnet_"), AFFECTNET, _AFFECT_IMAGE, "affectnet_eval_samples")
    specs.append(MetricSpec("fec_triplet_accuracy", FEC, *_FEC, "accuracy", "Triplet prediction accuracy",
                            "fec_eval_triplets", True))
    for triplet_type in ("one_class", "two_class", "three_class"):
        specs.append(
            MetricSpec(f"fec_triplet_accuracy_{triplet_type}", FEC, *_FEC, "accuracy",
                       f"Triplet prediction accuracy ({triplet_type.replace('_', '-')} triplets)",
                       f"fec_eval_triplets_{triplet_type}", True)
        )
    specs += [
        MetricSpec("rafdb_linear_probe_accuracy", RAFDB, *_PROBE, "accuracy", "Linear-probe accuracy (7 classes)",
                   "rafdb_test_samples", True),
        MetricSpec("rafdb_linear_probe_macro_f1", RAFDB, *_PROBE, "f1", "Linear-probe macro-F1 (7 classes)",
                   "rafdb_test_samples", True),
    ]
    return specs


AV_STREAMS: tuple[tuple[str, str, str], ...] = (
    ("fused", "DeepFEVER-AV (face + voice)", ""),
    ("visual_only", "Visual only (the extractor's own head)",
     " of the visual-only reference (the frozen extractor's own valence/arousal head per frame)"),
    ("audio_only", "Audio only", " of the audio-only reference (the same model trained without the visual stream)"),
    ("train_mean", "Training mean", " of the baseline predicting the training mean"),
)
"""DeepFEVER-AV's predictor and its references on the same dev steps (keys ``recola_dev_<stream>_<dimension>_ccc``,
written by :mod:`hf_deepfever.training.av_references`), in the order cards and reports show them: (stream, short
title for a comparison table, what a result's metric name adds)."""
AV_DIMENSIONS = ("valence", "arousal", "mean")
"""The columns of the comparison: each dimension (valence first, as everywhere) and their mean."""


def _audio_visual_specs() -> list[MetricSpec]:
    # train_av.py writes recola_dev_<dimension>_ccc; the bare and other prefixed spellings are accepted too.
    specs = []
    for dimension in AV_DIMENSIONS:
        label = "Mean CCC (valence, arousal)" if dimension == "mean" else f"{dimension.capitalize()} CCC"
        specs.append(MetricSpec(f"recola_dev_{dimension}_ccc", RECOLA, *_AFFECT_AV, "ccc", label, "recola_dev_steps",
                                stream="fused", dimension=dimension))
    for dimension in ("valence", "arousal"):
        specs.append(MetricSpec(f"recola_dev_{dimension}_rmse", RECOLA, *_AFFECT_AV, "rmse",
                                f"{dimension.capitalize()} RMSE", "recola_dev_steps"))
    specs += _valence_arousal_specs(("recola_", "dev_", ""), RECOLA, _AFFECT_AV, "recola_dev_steps")
    # The references: shown in the table (same dev steps), never claimed in model-index as the model's.
    for stream, _, suffix in AV_STREAMS[1:]:
        for dimension in AV_DIMENSIONS:
            label = "Mean CCC (valence, arousal)" if dimension == "mean" else f"{dimension.capitalize()} CCC"
            specs.append(
                MetricSpec(f"recola_dev_{stream}_{dimension}_ccc", RECOLA, *_AFFECT_AV, "ccc", label + suffix,
                           "recola_dev_steps", in_model_index=False, stream=stream, dimension=dimension)
            )
    return specs


METRIC_SPECS: dict[str, list[MetricSpec]] = {"deepfever": _visual_specs(), "deepfever-av": _audio_visual_specs()}


@dataclass(frozen=True)
class MeasuredResult:
    """One measured value with everything needed to show it honestly."""

    spec: MetricSpec
    value: float
    count: int | None
    synthetic: bool

    @property
    def dataset_name(self) -> str:
        if self.synthetic:
            return f"{SYNTHETIC_DATASET_NAME} ({self.spec.corpus.layout})"
        return self.spec.corpus.name

    @property
    def display_value(self) -> str:
        return f"{100 * self.value:.2f}%" if self.spec.percent else f"{self.value:.4f}"

    def to_eval_result(self) -> EvalResult:
        corpus = self.spec.corpus
        return EvalResult(
            task_type=self.spec.task_type,
            task_name=self.spec.task_name,
            dataset_type=SYNTHETIC_DATASET_TYPE if self.synthetic else corpus.dataset_type,
            dataset_name=SYNTHETIC_DATASET_NAME if self.synthetic else corpus.name,
            dataset_config=corpus.layout if self.synthetic else None,
            dataset_split=corpus.split,
            metric_type=self.spec.metric_type,
            metric_name=self.spec.metric_name,
            metric_value=round(self.value, 6),
        )


@dataclass(frozen=True)
class MeasuredResults:
    """Everything a card shows from one ``eval_results.json``."""

    results: list[MeasuredResult]
    dataset_kind: str | None  # None: no file, or a file that does not say
    unrecognised: dict[str, str]  # keys no spec covers, as `shown_values` shows them; never in model-index

    @property
    def synthetic(self) -> bool:
        return self.dataset_kind == SYNTHETIC_DEMO


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def measured_results(eval_results: dict[str, Any] | None, model_type: str) -> MeasuredResults:
    """Label the keys of a measured results dict for a model of `model_type` (``deepfever``/``deepfever-av``).

    Raises:
        ValueError: unknown `model_type`, unknown ``dataset_kind``, or a known metric that is not a number.
    """
    if model_type not in METRIC_SPECS:
        raise ValueError(f"no results layout for model_type {model_type!r}; known: {sorted(METRIC_SPECS)}")
    if not eval_results:
        return MeasuredResults([], None, {})
    kind = eval_results.get(DATASET_KIND_KEY)
    if kind not in (None, SYNTHETIC_DEMO, REAL):
        raise ValueError(f"{DATASET_KIND_KEY} must be {SYNTHETIC_DEMO!r} or {REAL!r}, found {kind!r}")
    synthetic = kind == SYNTHETIC_DEMO
    specs = METRIC_SPECS[model_type]
    known_keys = {spec.key for spec in specs} | {spec.count_key for spec in specs if spec.count_key}
    results = []
    for spec in specs:
        if spec.key not in eval_results:
            continue
        value = _finite_number(eval_results[spec.key])
        if value is None:
            raise ValueError(f"eval result {spec.key!r} must be a finite number, found {eval_results[spec.key]!r}")
        raw_count = eval_results.get(spec.count_key) if spec.count_key else None
        count = int(raw_count) if _finite_number(raw_count) is not None else None
        results.append(MeasuredResult(spec, value, count, synthetic))
    unrecognised = {
        key: value for key, value in sorted(eval_results.items()) if key not in known_keys and key != DATASET_KIND_KEY
    }
    return MeasuredResults(results, kind, shown_values(unrecognised))


_MARKUP = re.compile(r"[`|<>*_\[\]\\#]")


def _one_short_line(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > MAX_SHOWN_CHARACTERS:
        flat = f"{flat[:MAX_SHOWN_CHARACTERS]}... ({len(text):,} characters, cut)"
    return flat


def _shown_key(key: str) -> str:
    """A key as the card shows it, inside a code span: one short line, and no backtick to close the span."""
    return _one_short_line(key).replace("`", "'")


def _shown_text(text: str) -> str:
    """Text shown as markdown: one short line, with markdown and HTML characters escaped."""
    return _MARKUP.sub(lambda match: "\\" + match.group(0), _one_short_line(text))


def _shown_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return _shown_text(value)
    kind = "list" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__
    return f"(a JSON {kind}, not shown)"


def shown_values(values: dict[str, Any]) -> dict[str, str]:
    """Keys and values as a card may show them (keys in code spans, values as markdown): at most
    ``MAX_SHOWN_VALUES`` (then one ``OMITTED_KEY`` note counting the rest), each on one line of at most
    ``MAX_SHOWN_CHARACTERS`` characters, backticks out of keys, markdown and HTML characters of values
    escaped, and JSON lists or objects named, not shown."""
    shown = {_shown_key(str(key)): _shown_value(value) for key, value in list(values.items())[:MAX_SHOWN_VALUES]}
    if len(values) > MAX_SHOWN_VALUES:
        shown[OMITTED_KEY] = f"{len(values) - MAX_SHOWN_VALUES} more key(s) of eval_results.json"
    return shown

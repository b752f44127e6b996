"""The shared state of one demo run (:class:`DemoRun`) and the shape of a stage (:class:`Stage`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .settings import DemoSettings

MODEL_NAMES = ("teacher", "student", "baseline")
"""The three models the demo trains: the teacher, the distilled student, the student without distillation."""

DEMO_MARKER = ".deepfever_demo"  # marks an output folder as the demo's own, so a rerun may replace its models


@dataclass
class DemoRun:
    """Shared state of one demo run.

    Attributes:
        output_dir: where everything goes (the corpus, the three model folders, plots, results).
        settings: sizes, backbones and optimisation of the run.
        results: JSON-serialisable results, written to ``demo_results.json``.
        report_sections: extra markdown sections for ``demo_results.md``, in stage order.
        artifacts: in-memory objects handed between stages (loaded models, predictions); never saved.
        timings: per stage, wall-clock and CPU seconds (this process and its children).
    """

    output_dir: Path
    settings: DemoSettings
    results: dict[str, Any] = field(default_factory=dict)
    report_sections: list[str] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    log: Callable[[str], None] = print

    @property
    def corpus_dir(self) -> Path:
        return self.output_dir / "corpus"

    def corpus(self, part: str) -> Path:
        """One part of the demo corpus: ``affectnet``, ``fec``, ``rafdb``, ``recola`` or ``unlabelled``."""
        return self.corpus_dir / part

    def model_dir(self, name: str) -> Path:
        return self.output_dir / name

    @property
    def plots_dir(self) -> Path:
        return self.output_dir / "plots"

    def model_results(self, name: str) -> dict[str, Any]:
        return self.results.setdefault("models", {}).setdefault(name, {})


@dataclass(frozen=True)
class Stage:
    """One step of the demo: a name (used for timings) and the function that does it."""

    name: str
    run: Callable[[DemoRun], None]
    description: str


__all__ = ["DEMO_MARKER", "MODEL_NAMES", "DemoRun", "Stage"]

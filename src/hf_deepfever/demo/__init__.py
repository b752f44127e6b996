"""`deepfever demo`: the whole DeepFEVER recipe end to end on the synthetic demo corpus, on a CPU.

Stages (see :mod:`hf_deepfever.demo.stages`): generate the corpus, train the teacher, distil a student,
train the same student without distillation, evaluate all three, probe RAF-DB transfer, reload the student
through ``AutoModel`` and both pipelines, draw the plots, assemble the Hub upload folder (dry run), and
write ``demo_results.json`` / ``demo_results.md``.
"""

from __future__ import annotations

from .pipeline import load_results, run_demo
from .run import MODEL_NAMES, DemoRun, Stage
from .settings import PRESETS, DemoSettings, demo_settings
from .stages import DEMO_STAGES

__all__ = ["DEMO_STAGES", "MODEL_NAMES", "PRESETS", "DemoRun", "DemoSettings", "Stage", "demo_settings", "load_results", "run_demo"]

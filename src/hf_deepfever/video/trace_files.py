"""A video trace to files: the CSV (one row per step) and a plot over time.

Both are written atomically. Columns, valence first as everywhere in the package:

- DeepFEVER-AV: ``time_s, valence, arousal, face_found, audio_present, face_x, face_y, face_w, face_h,
  detection_score``;
- a DeepFEVER image model: ``time_s, valence, arousal, expression, probability, face_found, face_x, face_y,
  face_w, face_h, detection_score``, then ``probability_<label>`` for every expression label.

The face box is the main face's ``(x, y, w, h)`` in pixels of the upright frame; cells without a value (no face at
that step) are empty.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_output
from ..core.vocabulary import VALENCE_AROUSAL

PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
FACE_COLUMNS = ("face_x", "face_y", "face_w", "face_h", "detection_score")


def _number(value: float, digits: int = 6) -> str:
    return "" if not math.isfinite(float(value)) else f"{float(value):.{digits}f}"


def trace_columns(trace: Any) -> list[str]:
    """The CSV header of `trace`."""
    columns = ["time_s", *VALENCE_AROUSAL]
    if trace.probabilities is not None:
        columns += ["expression", "probability"]
    columns.append("face_found")
    if trace.audio_present is not None:
        columns.append("audio_present")
    columns += list(FACE_COLUMNS)
    if trace.probabilities is not None:
        columns += [f"probability_{label}" for label in trace.expression_labels]
    return columns


def _rows(trace: Any) -> Any:
    for step in range(len(trace.time)):
        row = [f"{trace.time[step]:.2f}", *(_number(getattr(trace, name)[step]) for name in VALENCE_AROUSAL)]
        probabilities = None if trace.probabilities is None else trace.probabilities[step]
        if probabilities is not None:
            if np.isfinite(probabilities).all():
                best = int(np.argmax(probabilities))
                row += [trace.expression_labels[best], _number(probabilities[best])]
            else:
                row += ["", ""]
        row.append(str(int(trace.face_found[step])))
        if trace.audio_present is not None:
            row.append(str(int(trace.audio_present[step])))
        row += [_number(value, 2) for value in trace.face_boxes[step]] + [_number(trace.detection_scores[step], 4)]
        if probabilities is not None:
            row += [_number(value) for value in probabilities]
        yield row


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n\r') else text


def write_csv(trace: Any, output: Path) -> None:
    with atomic_output(output) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(_csv_field(name) for name in trace_columns(trace)) + "\n")
        for row in _rows(trace):
            handle.write(",".join(_csv_field(value) for value in row) + "\n")


def write_plot(trace: Any, output: Path, title: str) -> None:
    """Valence and arousal over time (and, for an image model, each expression's probability below)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if trace.probabilities is not None else 1
    figure, axes = plt.subplots(panels, 1, figsize=(10, 3.5 * panels), sharex=True, squeeze=False)
    axis = axes[0, 0]
    colours = {"valence": "tab:blue", "arousal": "tab:red"}
    for name in VALENCE_AROUSAL:
        axis.plot(trace.time, getattr(trace, name), label=name, color=colours[name], linewidth=1.2)
    axis.axhline(0.0, color="grey", linewidth=0.6)
    axis.set_ylabel("prediction")
    axis.set_title(title)
    axis.legend(loc="upper right")
    if trace.probabilities is not None:
        below = axes[1, 0]
        for column, label in enumerate(trace.expression_labels):
            below.plot(trace.time, trace.probabilities[:, column], label=label, linewidth=1.0)
        below.set_ylabel("probability")
        below.set_ylim(0.0, 1.0)
        below.legend(loc="upper right", ncol=4, fontsize="small")
    axes[-1, 0].set_xlabel("time (s)")
    figure.tight_layout()
    with atomic_output(output) as temporary:
        figure.savefig(temporary, format=output.suffix.lower().lstrip(".").replace("jpg", "jpeg"), dpi=120)
    plt.close(figure)


__all__ = ["FACE_COLUMNS", "PLOT_FORMATS", "trace_columns", "write_csv", "write_plot"]

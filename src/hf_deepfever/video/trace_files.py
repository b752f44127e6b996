"""A valence/arousal trace to files: the CSV (one row per 40 ms step) and a plot of both dimensions.

Both are written atomically. Columns: ``time_s, valence, arousal, face_found, audio_present`` (valence first,
as everywhere in the package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.files import atomic_output
from ..core.vocabulary import VALENCE_AROUSAL

PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def write_csv(trace: Any, output: Path) -> None:
    columns = ["time_s", *VALENCE_AROUSAL, "face_found", "audio_present"]
    with atomic_output(output) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        values = (getattr(trace, name) for name in VALENCE_AROUSAL)
        for row in zip(trace.time, *values, trace.face_found, trace.audio_present):
            handle.write(f"{row[0]:.2f},{row[1]:.6f},{row[2]:.6f},{int(row[3])},{int(row[4])}\n")


def write_plot(trace: Any, output: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 3.5))
    colours = {"valence": "tab:blue", "arousal": "tab:red"}
    for name in VALENCE_AROUSAL:
        axis.plot(trace.time, getattr(trace, name), label=name, color=colours[name], linewidth=1.2)
    axis.axhline(0.0, color="grey", linewidth=0.6)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("prediction")
    axis.set_title(title)
    axis.legend(loc="upper right")
    figure.tight_layout()
    with atomic_output(output) as temporary:
        figure.savefig(temporary, format=output.suffix.lower().lstrip(".").replace("jpg", "jpeg"), dpi=120)
    plt.close(figure)


__all__ = ["PLOT_FORMATS", "write_csv", "write_plot"]

"""What the app shows for a photo, as plain values: the boxed image, the table, the circumplex, the captions.

Kept apart from Gradio so that each piece is tested without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.face_front_end import PhotoFace

FACE_TABLE_HEADERS = ["face", "expression", "probability", "valence", "arousal", "box (x, y, w, h)"]
_BOX_COLOURS = ("#e4572e", "#29335c", "#17bebb", "#ffc914", "#76b041", "#a05195", "#2e86ab", "#f18f01")


def boxed_image(rgb: np.ndarray, faces: Sequence[PhotoFace]) -> Any:
    """The photo with every face boxed and numbered (with its expression when the model gives one)."""
    import PIL.Image
    import PIL.ImageDraw
    import PIL.ImageFont

    image = PIL.Image.fromarray(rgb)
    draw = PIL.ImageDraw.Draw(image)
    line = max(2, round(min(image.size) / 150))
    font = PIL.ImageFont.load_default(size=max(11, round(min(image.size) / 28)))
    for number, face in enumerate(faces, start=1):
        if face.box is None:
            continue
        x, y, w, h = face.box
        colour = _BOX_COLOURS[(number - 1) % len(_BOX_COLOURS)]
        draw.rectangle((x, y, x + w, y + h), outline=colour, width=line)
        text = f"{number}" + (f" {face.label}" if face.label else "")
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        label_top = max(0.0, y - (bottom - top) - 2 * line)
        draw.rectangle((x, label_top, x + (right - left) + 2 * line, label_top + (bottom - top) + 2 * line), fill=colour)
        draw.text((x + line, label_top + line - (top - y)), text, fill="white", font=font)
    return image


def face_table(faces: Sequence[PhotoFace]) -> list[list[Any]]:
    """One row per face: number, expression, its probability, valence, arousal, box."""
    rows = []
    for number, face in enumerate(faces, start=1):
        box = "whole image" if face.box is None else ", ".join(f"{value:.0f}" for value in face.box)
        if face.label is None:
            rows.append([number, "(no expression heads)", None, None, None, box])
        else:
            rows.append([number, face.label, round(float(face.probabilities.max()), 3),
                         round(face.valence, 3), round(face.arousal, 3), box])
    return rows


def expression_scores(face: PhotoFace, id2label: dict[int, str]) -> dict[str, float] | None:
    """``{expression: probability}`` of one face, for a label widget; ``None`` without expression heads."""
    if face.probabilities is None:
        return None
    return {id2label.get(i, str(i)): float(p) for i, p in enumerate(face.probabilities)}


def circumplex_figure(faces: Sequence[PhotoFace]) -> Any:
    """Valence (x) against arousal (y) in the unit circle (Russell's circumplex), one numbered point per face."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.2, 4.2))
    axis.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="grey", linewidth=0.8))
    axis.axhline(0, color="grey", linewidth=0.6)
    axis.axvline(0, color="grey", linewidth=0.6)
    for x, y, text, align in ((0.97, 0.04, "pleasant", "right"), (-0.97, 0.04, "unpleasant", "left"),
                              (0.04, 0.93, "aroused", "left"), (0.04, -0.93, "calm", "left")):
        axis.text(x, y, text, ha=align, va="bottom" if y >= 0 else "top", fontsize=7, color="grey")
    for number, face in enumerate(faces, start=1):
        if face.valence is None:
            continue
        colour = _BOX_COLOURS[(number - 1) % len(_BOX_COLOURS)]
        axis.scatter([face.valence], [face.arousal], s=70, color=colour, zorder=3)
        axis.annotate(f"{number} {face.label}", (face.valence, face.arousal), textcoords="offset points",
                      xytext=(6, 6), fontsize=8)
    axis.set_xlim(-1.1, 1.1)
    axis.set_ylim(-1.1, 1.1)
    axis.set_aspect("equal")
    axis.set_xlabel("valence")
    axis.set_ylabel("arousal")
    axis.set_title("valence / arousal", fontsize=10)
    figure.tight_layout()
    plt.close(figure)  # Gradio renders the figure object; pyplot need not keep it
    return figure


def neighbour_caption(face_number: int, neighbour: Any) -> str:
    expression = neighbour.info.get("expression")
    name = str(neighbour.path).rsplit("/", 1)[-1]
    return f"face {face_number} · #{neighbour.rank + 1} · d={neighbour.distance:.3f} · {name}" + (f" · {expression}" if expression else "")


__all__ = ["FACE_TABLE_HEADERS", "boxed_image", "circumplex_figure", "expression_scores", "face_table", "neighbour_caption"]

"""A contact sheet of a search: one line per query face, the query's crop then its neighbours' with distances.

Crops are the square around each face box (with the image processor's margin) that the model saw, cut from the
upright image; a row without a box shows its whole image padded to a square, as the model saw it too. An image
that can no longer be read is drawn as a grey tile that says so, so a sheet is still written.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_output
from .index import Neighbour

SHEET_FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")
TILE = 160
_DISPLAY_MARGIN = 0.1


@dataclass
class SheetQuery:
    """One line of the sheet: the query face and its neighbours."""

    title: str
    image: np.ndarray | None  # upright RGB of the query (None: a query without an image, e.g. a table row)
    box: tuple[float, float, float, float] | None
    neighbours: Sequence[Neighbour]
    path: str | None = None  # the query's image file, read when ``image`` is None


def face_tile(rgb: np.ndarray, box: Sequence[float] | None, side: int = TILE) -> np.ndarray:
    """The square crop around ``box`` (black outside the image), resized to ``side`` x ``side``."""
    import PIL.Image

    from ..models.deepfever.image_processing_deepfever import square_crop_region

    height, width = rgb.shape[:2]
    left, top, crop = square_crop_region(box, width, height, _DISPLAY_MARGIN)
    canvas = np.zeros((crop, crop, 3), dtype=np.uint8)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + crop, width), min(top + crop, height)
    if x1 > x0 and y1 > y0:
        canvas[y0 - top : y1 - top, x0 - left : x1 - left] = rgb[y0:y1, x0:x1]
    return np.asarray(PIL.Image.fromarray(canvas).resize((side, side), PIL.Image.Resampling.BILINEAR))


def _tile_of(path: str | None, image: np.ndarray | None, box: Any) -> tuple[np.ndarray | None, str | None]:
    from ..core.images import ImageFileError
    from ..core.face_front_end import upright_photo

    if image is None:
        if path is None:
            return None, "no image"
        try:
            image = upright_photo(path)
        except (ImageFileError, OSError, ValueError) as error:
            return None, str(getattr(error, "reason", error))[:40]
    try:
        return face_tile(image, box), None
    except ValueError as error:  # a stored box outside the (since changed) image
        return None, str(error)[:40]


def _short(path: str, limit: int = 24) -> str:
    name = Path(path).name
    return name if len(name) <= limit else name[: limit - 1] + "…"


def draw_contact_sheet(queries: Sequence[SheetQuery], output: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw the sheet into ``output`` (.png, .jpg, .pdf or .svg), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output = Path(output)
    if output.suffix.lower() not in SHEET_FORMATS:
        raise ValueError(f"the contact sheet must be one of {', '.join(SHEET_FORMATS)}, got {output}")
    if not queries:
        raise ValueError("a contact sheet needs at least one query")
    columns = 1 + max(len(query.neighbours) for query in queries)
    figure, axes = plt.subplots(len(queries), columns, figsize=(1.75 * columns, 2.45 * len(queries)), squeeze=False)
    for line, query in enumerate(queries):
        query_caption = "\n".join(textwrap.wrap("query: " + query.title, 28)[:4])
        cells: list[tuple[str | None, np.ndarray | None, Any, str, str]] = [
            (query.path, query.image, query.box, query_caption, "tab:blue")
        ]
        for neighbour in query.neighbours:
            expression = neighbour.info.get("expression")
            caption = f"#{neighbour.rank + 1}  d={neighbour.distance:.3f}\n{_short(neighbour.path)}"
            if expression:
                caption += f"\n{expression}"
            cells.append((neighbour.path, None, neighbour.face_box, caption, "black"))
        for column in range(columns):
            axis = axes[line][column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column >= len(cells):
                axis.axis("off")
                continue
            path, image, box, caption, colour = cells[column]
            tile, problem = _tile_of(path, image, box)
            if tile is None:
                axis.imshow(np.full((TILE, TILE, 3), 200, dtype=np.uint8))
                axis.text(TILE / 2, TILE / 2, f"cannot show:\n{problem}", ha="center", va="center", fontsize=6, wrap=True)
            else:
                axis.imshow(tile)
            axis.set_xlabel(caption, fontsize=6.5, color=colour)
            for spine in axis.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2.0 if column == 0 else 0.6)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    with atomic_output(output) as temporary:
        figure.savefig(temporary, format=output.suffix.lower().lstrip(".").replace("jpg", "jpeg"), dpi=90, bbox_inches="tight")
    plt.close(figure)
    return output


__all__ = ["SHEET_FORMATS", "SheetQuery", "draw_contact_sheet", "face_tile"]

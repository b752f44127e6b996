"""The publishers' on-disk layouts of AffectNet, FEC, RAF-DB and RECOLA, written in one place.

Header lines, column order and separators are defined here once, as each publisher ships them; folder and
file names come from :mod:`hf_deepfever.core.corpus_layouts`, where :mod:`hf_deepfever.data` reads them too.
The synthetic demo corpus (:mod:`.image_corpora`, :mod:`.recola`) and the test and benchmark fixtures all
write their files through this module.

Each layout has ``format_*`` functions that build one well-formed line and ``write_*`` functions that take
lines as they are, so a fixture can mix in deliberately broken ones (``NULL`` rows, missing columns,
paths that escape the corpus). Every file is written atomically (:mod:`hf_deepfever.core.files`), and its
parent folders are created.

Example::

    from hf_deepfever.synthetic import layouts

    row = layouts.format_affectnet_row("1/face.jpg", (10, 12, 200, 210), [0.0] * 136, 1, 0.5, -0.25)
    layouts.write_affectnet_list(layouts.affectnet_list_path("affectnet", "train"), [row, "NULL"])
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Union

import numpy as np

from ..core import corpus_layouts
from ..core.corpus_layouts import *  # noqa: F403  the publishers' names: used here, and re-exported for fixtures
from ..core.files import atomic_output
from ..data.fec import fec_image_filename

PathLike = Union[str, os.PathLike]
Field = Union[str, int, float]  # a string is written as it is, a number in the layout's own format


def _field(value: Field, float_format: str) -> str:
    """A cell: strings unchanged (so fixtures can write ``NULL`` or ``abc``), integers as such, reals formatted."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return format(value, float_format)


def write_lines(path: PathLike, lines: Iterable[str], *, header: str | None = None, newline: str = "\n") -> Path:
    """Writes ``header`` (if any) and ``lines``, each ended by ``newline``, atomically as UTF-8.

    ``lines`` may be a generator: it is streamed to the temporary file, so a list of any length fits.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            if header is not None:
                handle.write(header + newline)
            handle.writelines(line + newline for line in lines)
    return path


# --------------------------------------------------------------------------------------------- AffectNet

AFFECTNET_HEADER = ",".join(AFFECTNET_COLUMNS)


def affectnet_list_path(root: PathLike, split: str) -> Path:
    """The list of ``split`` (``"train"``, ``"validation"`` or ``"automatic"``) below an AffectNet ``root``."""
    folder, name = AFFECTNET_LIST_FILES[split]
    return Path(root) / folder / name


def affectnet_images_dir(root: PathLike, split: str) -> Path:
    """The folder that a ``split`` list's ``subDirectory_filePath`` is relative to."""
    return Path(root) / (AFFECTNET_AUTOMATIC_IMAGES if split == "automatic" else AFFECTNET_MANUAL_IMAGES)


def format_landmarks(values: Iterable[float]) -> str:
    """``facial_landmarks``: the 68 (x, y) points as 136 numbers joined by ``;``."""
    return ";".join(f"{float(value):.2f}" for value in np.asarray(values, dtype=np.float64).ravel())


def format_affectnet_row(
    path: str,
    face_box: Sequence[Field] | None,
    landmarks: str | Iterable[float] | None,
    expression: Field,
    valence: Field,
    arousal: Field,
) -> str:
    """One list line, columns in :data:`AFFECTNET_COLUMNS` order.

    Args:
        path: ``subdir/file.jpg``, relative to the images folder.
        face_box: ``(face_x, face_y, face_width, face_height)`` in pixels, or ``None`` for four ``NULL``.
        landmarks: 136 numbers, an already joined string, or ``None`` for ``NULL``.
        expression: the label (0-10).
        valence, arousal: in [-1, 1], -2 where not annotated; reals are written with six decimals.
    """
    box = [AFFECTNET_NULL] * 4 if face_box is None else [_field(value, ".6f") for value in face_box]
    if landmarks is None:
        landmarks = AFFECTNET_NULL
    elif not isinstance(landmarks, str):
        landmarks = format_landmarks(landmarks)
    cells = [path, *box, landmarks, _field(expression, "d"), _field(valence, ".6f"), _field(arousal, ".6f")]
    return ",".join(cells)


def write_affectnet_list(path: PathLike, rows: Iterable[str], *, newline: str = "\n") -> Path:
    """An AffectNet list: :data:`AFFECTNET_HEADER`, then ``rows`` as given (see :func:`format_affectnet_row`)."""
    return write_lines(path, rows, header=AFFECTNET_HEADER, newline=newline)


# --------------------------------------------------------------------------------------------------- FEC

def fec_list_path(root: PathLike, split: str) -> Path:
    """The list of ``split`` (``"train"`` or ``"test"``) below a FEC ``root``."""
    return Path(root) / FEC_LISTS_FOLDER / FEC_LIST_FILES[split]


def fec_image_path(images_dir: PathLike, url: str) -> Path:
    """Where the image downloaded from ``url`` lies in ``images_dir``."""
    return Path(images_dir) / fec_image_filename(url)


def format_fec_row(
    urls: Sequence[str],
    boxes: Sequence[Sequence[Field]],
    triplet_type: str,
    ratings: Iterable[tuple[Field, Field]],
) -> str:
    """One FEC line (no header in these files): for each of the three faces its URL in double quotes and its
    box (left / width, right / width, top / height, bottom / height; reals with four decimals), then the
    triplet type, then an ``(annotator id, annotation)`` pair per rater."""
    cells = []
    for url, box in zip(urls, boxes, strict=True):
        cells.append(f'"{url}"')
        cells.extend(_field(value, ".4f") for value in box)
    cells.append(triplet_type)
    for annotator, annotation in ratings:
        cells.extend((_field(annotator, "d"), _field(annotation, "d")))
    return ",".join(cells)


def write_fec_list(path: PathLike, rows: Iterable[str]) -> Path:
    """A FEC list: ``rows`` as given, one a line (see :func:`format_fec_row`)."""
    return write_lines(path, rows)


# ------------------------------------------------------------------------------------------------ RAF-DB

def rafdb_list_path(root: PathLike) -> Path:
    """``basic/EmoLabel/list_patition_label.txt`` (the publisher's spelling) below a RAF-DB ``root``."""
    return Path(root) / RAFDB_BASIC / RAFDB_LIST_FILE


def rafdb_original_path(root: PathLike, name: str) -> Path:
    """The original picture of list entry ``name`` (``train_00001.jpg``)."""
    return Path(root) / RAFDB_BASIC / RAFDB_ORIGINAL_IMAGES / name


def rafdb_aligned_path(root: PathLike, name: str) -> Path:
    """The 100x100 aligned crop of list entry ``name``: ``<stem>_aligned.jpg``."""
    return Path(root) / RAFDB_BASIC / RAFDB_ALIGNED_IMAGES / f"{Path(name).stem}{RAFDB_ALIGNED_SUFFIX}"


def format_rafdb_row(name: str, label: Field) -> str:
    """``name label``, space-separated; labels are RAF-DB's own 1-7."""
    return f"{name} {_field(label, 'd')}"


def write_rafdb_list(path: PathLike, rows: Iterable[str]) -> Path:
    """The RAF-DB label list: ``rows`` as given, one a line (see :func:`format_rafdb_row`)."""
    return write_lines(path, rows)


# ------------------------------------------------------------------------------------------------ RECOLA

RECOLA_LABEL_STEP_S = 0.04  # one label every 40 ms
RECOLA_RATER_NAMES = ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")
RECOLA_GOLD_STANDARD = RECOLA_FOLDERS["avec2016"].labels  # AVEC 2016 only
# (audio, video, individual ratings) folders of each release.
_RECOLA_FOLDERS = {
    layout: (folders.audio, folders.video, folders.individual_ratings) for layout, folders in RECOLA_FOLDERS.items()
}
_ARFF_HEADER = (
    "@relation GOLDSTANDARD_{dimension}\n"
    "\n"
    "@attribute Instance_name string\n"
    "@attribute frameTime numeric\n"
    "@attribute GoldStandard numeric\n"
    "\n"
    "@data\n"
)


def _check_recola_layout(layout: str) -> str:
    if layout not in RECOLA_LAYOUTS:
        raise ValueError(f"layout must be one of {RECOLA_LAYOUTS}, got {layout!r}")
    return layout


def _recola_folder(root: PathLike, layout: str, kind: int) -> Path:
    return Path(root) / _RECOLA_FOLDERS[_check_recola_layout(layout)][kind]


def recola_audio_dir(root: PathLike, *, layout: str = "avec2016") -> Path:
    """``recordings_audio`` (``RECOLA-Audio-recordings`` in the original release)."""
    return _recola_folder(root, layout, 0)


def recola_video_dir(root: PathLike, *, layout: str = "avec2016") -> Path:
    """``recordings_video`` (``RECOLA-Video-recordings`` in the original release)."""
    return _recola_folder(root, layout, 1)


def recola_audio_path(root: PathLike, name: str, *, layout: str = "avec2016") -> Path:
    """``recordings_audio/<name>.wav`` (``RECOLA-Audio-recordings/P<id>.wav`` in the original release)."""
    return recola_audio_dir(root, layout=layout) / f"{name}.wav"


def recola_video_path(root: PathLike, name: str, *, layout: str = "avec2016") -> Path:
    """``recordings_video/<name>.mp4`` (``RECOLA-Video-recordings/P<id>.mp4`` in the original release)."""
    return recola_video_dir(root, layout=layout) / f"{name}.mp4"


def recola_gold_standard_path(root: PathLike, dimension: str, name: str) -> Path:
    """``ratings_gold_standard/<dimension>/<name>.arff`` (AVEC 2016 only)."""
    return Path(root) / RECOLA_GOLD_STANDARD / dimension / f"{name}.arff"


def recola_ratings_path(root: PathLike, dimension: str, name: str, *, layout: str = "avec2016") -> Path:
    """``ratings_individual/<dimension>/<name>.csv``, or the original release's
    ``RECOLA-Annotation/emotional_behaviour/<dimension>/P<id>.csv``."""
    return _recola_folder(root, layout, 2) / dimension / f"{name}.csv"


def format_arff_row(name: str, time_s: float, value: Field, *, quoted: bool = False) -> str:
    """One gold-standard data line, ``name,time,value`` (``quoted``: the name in single quotes, as ARFF allows)."""
    shown = f"'{name}'" if quoted else name
    return f"{shown},{time_s:.2f},{_field(value, '.6f')}"


def write_gold_standard(path: PathLike, dimension: str, rows: Iterable[str]) -> Path:
    """A gold-standard ARFF: the AVEC header (``@relation``, the three ``@attribute`` lines, ``@data``) and a
    blank line, then ``rows`` as given (see :func:`format_arff_row`)."""
    return write_lines(path, rows, header=_ARFF_HEADER.format(dimension=dimension))


def format_ratings_row(time_s: float, values: Iterable[Field]) -> str:
    """One individual-ratings line: the time, then one value per rater, ``;``-separated."""
    return ";".join([f"{time_s:.2f}", *(_field(value, ".6f") for value in values)])


def write_individual_ratings(
    path: PathLike, rows: Iterable[str], *, raters: Sequence[str] = RECOLA_RATER_NAMES, layout: str = "avec2016"
) -> Path:
    """Individual ratings: a ``time;<rater>;...`` header, then ``rows`` as given (see :func:`format_ratings_row`).

    The original release pads each rater's name with a trailing space (``time;FM1 ;FM2 ;...``).
    """
    names = [f"{rater} " for rater in raters] if _check_recola_layout(layout) == "original" else list(raters)
    return write_lines(path, rows, header=";".join(["time", *names]))


def write_wav(path: PathLike, samples: np.ndarray, sample_rate: int) -> Path:
    """A mono 16-bit PCM WAV, as the recordings are released."""
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        # The temporary name does not end in .wav: name the format.
        soundfile.write(str(temporary), samples, sample_rate, subtype="PCM_16", format="WAV")
    return path


__all__ = [
    *corpus_layouts.__all__,
    "AFFECTNET_HEADER",
    "RECOLA_GOLD_STANDARD",
    "RECOLA_LABEL_STEP_S",
    "RECOLA_RATER_NAMES",
    "affectnet_images_dir",
    "affectnet_list_path",
    "fec_image_path",
    "fec_list_path",
    "format_affectnet_row",
    "format_arff_row",
    "format_fec_row",
    "format_landmarks",
    "format_rafdb_row",
    "format_ratings_row",
    "rafdb_aligned_path",
    "rafdb_list_path",
    "rafdb_original_path",
    "recola_audio_dir",
    "recola_audio_path",
    "recola_gold_standard_path",
    "recola_ratings_path",
    "recola_video_dir",
    "recola_video_path",
    "write_affectnet_list",
    "write_fec_list",
    "write_gold_standard",
    "write_individual_ratings",
    "write_lines",
    "write_rafdb_list",
    "write_wav",
]

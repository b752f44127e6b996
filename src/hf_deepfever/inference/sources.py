"""What an extraction reads: image files, or the rows of a Hugging Face dataset (map-style or streaming).

A source is a numbered sequence of inputs. ``name(i)`` is what the output's ``path`` column holds, ``load(i)``
decodes input ``i`` with the one image opener (:func:`~hf_deepfever.core.images.open_image` /
:func:`~hf_deepfever.core.images.decode_image_bytes`) and returns it with its face box, if the source has one;
an unusable input raises :class:`~hf_deepfever.core.images.ImageFileError` naming it. ``identity()`` describes
the inputs for a sharded output folder's run key (which inputs, in which order).

Orientation: files are a user's photos, opened upright (EXIF applied). Dataset rows are opened upright too,
unless the dataset gives face boxes (``box_columns``): boxes published with a corpus refer to its stored pixels,
so those rows keep the stored pixels, as the corpus readers and training do.

Paths are held in one Arrow string array rather than a list of ``Path`` objects: DataLoader workers forked from
the main process then share its pages instead of copying every object they touch (reference counts).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..core.images import ImageFileError, decode_dataset_image, open_image

FaceBox = tuple[float, float, float, float]


class FileSource:
    """Image files, in the order given (``find_image_files`` sorts the files found in folders)."""

    kind = "files"
    streaming = False

    def __init__(self, files: Sequence[str | os.PathLike[str]]) -> None:
        self._paths = pa.array([os.fspath(path) for path in files], pa.string())

    def __len__(self) -> int:
        return len(self._paths)

    def name(self, index: int) -> str:
        return self._paths[index].as_py()

    def load(self, index: int) -> tuple[Any, FaceBox | None]:
        return open_image(self.name(index), exif=True), None

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for value in self._paths.to_pylist():
            digest.update(os.path.abspath(value).encode("utf-8", "surrogateescape") + b"\0")
        return {"kind": self.kind, "count": len(self), "digest": digest.hexdigest()}


def row_face_box(row: dict[str, Any], columns: Sequence[str], where: str) -> FaceBox | None:
    """The ``(x, y, w, h)`` box of a dataset row from four columns or one column of four numbers; None when
    the row has none (null), an ``ImageFileError`` naming the row when it is not four finite numbers with a
    positive width and height."""
    values = [row[column] for column in columns]
    if len(values) == 1:
        values = values[0]
        if values is None:
            return None
        if not isinstance(values, (list, tuple)):
            raise ImageFileError(where, f"face box column {columns[0]!r} holds {values!r}, not [x, y, w, h]")
        values = list(values)
    if all(value is None for value in values):
        return None
    try:
        box = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 4 or not all(math.isfinite(value) for value in box) or box[2] <= 0 or box[3] <= 0:
        raise ImageFileError(where, f"face box {values!r} is not (x, y, w, h) with a positive width and height")
    return box  # type: ignore[return-value]


class DatasetSource:
    """The rows of a Hugging Face dataset split: an ``Image`` column, and optionally face box columns.

    Args:
        dataset: a ``datasets.Dataset`` (map-style) or ``datasets.IterableDataset`` (streaming).
        description: what ``load_dataset`` was given (``PATH_OR_ID``, config, split), for names and the run key.
        image_column: the column of images (a datasets ``Image`` feature).
        box_columns: four columns ``x, y, w, h`` in pixels of the stored image, or one column of ``[x, y, w, h]``.
    """

    kind = "dataset"

    def __init__(
        self,
        dataset: Any,
        description: dict[str, Any],
        image_column: str = "image",
        box_columns: Sequence[str] | None = None,
    ) -> None:
        from datasets import Image, IterableDataset

        self.streaming = isinstance(dataset, IterableDataset)
        self.description = dict(description)
        self.label = ":".join(str(description[key]) for key in ("dataset", "split") if description.get(key))
        self.image_column = image_column
        self.box_columns = tuple(box_columns or ())
        features = dataset.features
        columns = [image_column, *self.box_columns]
        if features is not None:
            missing = [column for column in columns if column not in features]
            if missing:
                raise ValueError(f"{self.label}: no column {', '.join(map(repr, missing))}; its columns are {list(features)}")
            if not isinstance(features[image_column], Image):
                raise ValueError(f"{self.label}: column {image_column!r} is not a datasets Image column ({features[image_column]})")
        if len(self.box_columns) not in (0, 1, 4):
            raise ValueError(f"--box-columns takes four columns (x,y,w,h) or one column of [x, y, w, h], got {box_columns}")
        # Undecoded: every image goes through the one opener (named errors, EXIF rule, bomb limit).
        self.dataset = dataset.select_columns(columns).cast_column(image_column, Image(decode=False))
        self.exif = not self.box_columns

    def __len__(self) -> int:
        if self.streaming:
            raise TypeError("a streaming dataset has no length")
        return len(self.dataset)

    def name(self, index: int, value: Any = None) -> str:
        """The image's own path when the dataset records one, else ``DATASET:SPLIT:ROW``."""
        if value is None and not self.streaming:
            value = self.dataset[index][self.image_column]
        path = value.get("path") if isinstance(value, dict) else None
        return path or f"{self.label}:{index}"

    def decode(self, index: int, row: dict[str, Any]) -> tuple[str, Any, FaceBox | None]:
        value = row[self.image_column]
        name = self.name(index, value)
        where = f"{self.label} row {index}"
        image = decode_dataset_image(value, where if name.startswith(self.label) else name, exif=self.exif)
        box = row_face_box(row, self.box_columns, where) if self.box_columns else None
        return name, image, box

    def load(self, index: int) -> tuple[Any, FaceBox | None]:
        _, image, box = self.decode(index, self.dataset[index])
        return image, box

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(row number, row)`` in order (streaming or not), undecoded."""
        for index, row in enumerate(self.dataset):
            yield index, row

    def identity(self) -> dict[str, Any]:
        identity = {"kind": self.kind, **self.description, "image_column": self.image_column,
                    "box_columns": list(self.box_columns), "exif": self.exif}
        if not self.streaming:
            identity["count"] = len(self)
            identity["fingerprint"] = getattr(self.dataset, "_fingerprint", None)
        return identity


def load_dataset_source(
    path_or_id: str,
    *,
    split: str = "train",
    config: str | None = None,
    image_column: str = "image",
    box_columns: Sequence[str] | None = None,
    streaming: bool = False,
) -> DatasetSource:
    """Open ``path_or_id`` as a dataset split: a folder written by ``save_to_disk``, or anything
    ``datasets.load_dataset`` reads (a Hub id, a data folder of parquet/Arrow/images, a loader module).

    Raises:
        ValueError: the split does not exist, or a column is missing or of the wrong type (named).
    """
    import datasets

    description = {"dataset": path_or_id, "config": config, "split": split, "streaming": streaming}
    folder = Path(path_or_id)
    if folder.is_dir() and ((folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file()):
        loaded = datasets.load_from_disk(str(folder))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(f"{path_or_id} has no split {split!r}; its splits are {list(loaded)}")
            loaded = loaded[split]
        if streaming:
            loaded = loaded.to_iterable_dataset()
        description["dataset"] = str(folder.resolve())
    else:
        try:
            loaded = datasets.load_dataset(path_or_id, config, split=split, streaming=streaming)
        except (ValueError, KeyError) as error:  # an unknown split is a ValueError (or KeyError) naming it
            raise ValueError(f"{path_or_id}: cannot load split {split!r} ({error})") from None
    return DatasetSource(loaded, description, image_column, box_columns)


__all__ = ["DatasetSource", "FileSource", "load_dataset_source", "row_face_box"]

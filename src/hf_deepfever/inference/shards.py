"""A sharded, resumable output folder of ``deepfever extract --output DIR/``.

Inputs ``0 .. N-1`` are cut into chunks of ``shard_size`` inputs (:class:`~hf_deepfever.inference.BatchPlan`);
chunk ``k`` becomes ``part-{k:06d}.parquet``, written through :func:`~hf_deepfever.core.files.atomic_output` (a
hidden temporary name renamed into place when the shard is whole), so a shard that exists is complete and a kill
leaves at most a hidden temporary file. A chunk without rows (every input skipped) is recorded by a hidden marker
``.part-{k:06d}.empty.json`` instead: ``datasets`` cannot read a Parquet file of zero rows.

``.manifest.json`` (hidden, because ``datasets.load_dataset("parquet", data_dir=DIR)`` reads every other file)
holds the run: the model's identity (``"model"``, as ``ModelIdentity.to_dict()``),
what the inputs are, the shard size and the settings that decide the rows, and a digest of all that (``"run"``).
Every shard carries the same digest (and the model) in its Parquet metadata. A rerun with the same digest skips the
chunks already there; a folder of another run (other model, inputs, shard size or face settings) is refused unless
``overwrite``. When all chunks are there the manifest also lists the shards in order and the row count.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..core.files import atomic_output, atomic_write_json, is_temporary_name
from ..core.vocabulary import MODEL_METADATA_KEY

MANIFEST_NAME = ".manifest.json"
RUN_METADATA_KEY = "hf_deepfever.run"
SHARD_METADATA_KEY = "hf_deepfever.shard"
MANIFEST_FORMAT = 1
_SHARD = re.compile(r"part-(\d{6,})\.parquet")
_EMPTY = re.compile(r"\.part-(\d{6,})\.empty\.json")


class ForeignOutputError(ValueError):
    """The output folder holds another run's shards (or files this command did not write)."""


def shard_name(chunk: int) -> str:
    return f"part-{chunk:06d}.parquet"


def empty_marker_name(chunk: int) -> str:
    return f".part-{chunk:06d}.empty.json"


def run_digest(run: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(run, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def is_folder_output(output: str) -> bool:
    """Whether ``--output`` names a folder: a trailing slash, or an existing folder."""
    return output.endswith(("/", "\\")) or Path(output).is_dir()


@dataclass
class ShardFolder:
    """The output folder of one run (see the module docstring).

    Attributes:
        folder: where the shards go.
        run: what decides the rows (model, inputs, shard size, face settings); its digest keys the folder.
        model: the model's identity (``ModelIdentity.to_dict()``), stored with every shard.
    """

    folder: Path
    run: dict[str, Any]
    model: dict[str, Any]
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.digest = run_digest(self.run)

    # -- what is there ---------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        path = self.folder / MANIFEST_NAME
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ForeignOutputError(f"{path}: not a manifest of deepfever extract ({error})") from None
        return value if isinstance(value, dict) else {}

    def _own_files(self) -> list[Path]:
        """Files of this format in the folder (shards, empty markers, leftovers of killed writers)."""
        if not self.folder.is_dir():
            return []
        return [
            path for path in self.folder.iterdir()
            if _SHARD.fullmatch(path.name) or _EMPTY.fullmatch(path.name) or is_temporary_name(path.name)
        ]

    def check(self, *, overwrite: bool) -> str:
        """``"new"`` (nothing there), ``"resume"`` (this run's folder) or ``"overwrite"`` (another run's, and
        ``overwrite``). Raises :class:`ForeignOutputError` for another run's folder without ``overwrite``."""
        if self.folder.exists() and not self.folder.is_dir():
            raise ForeignOutputError(f"--output {self.folder} is a file, not a folder")
        manifest = self.manifest()
        others = [path for path in self.folder.glob("*") if path.name != MANIFEST_NAME] if self.folder.is_dir() else []
        if manifest is None:
            foreign = [path.name for path in others if path.suffix in (".parquet", ".csv", ".arrow", ".json") or _SHARD.fullmatch(path.name)]
            if not foreign:
                return "new"
            if overwrite:
                return "overwrite"
            raise ForeignOutputError(
                f"{self.folder} holds files that are not from a deepfever extract run ({', '.join(sorted(foreign)[:3])}"
                f"{', ...' if len(foreign) > 3 else ''}); choose another folder or pass --overwrite"
            )
        if manifest.get("run") == self.digest:
            return "resume"
        if overwrite:
            return "overwrite"
        raise ForeignOutputError(f"{self.folder} holds another run's shards: {self._difference(manifest)}; "
                                 "choose another folder, re-run that command to finish it, or pass --overwrite")

    def _difference(self, manifest: dict[str, Any]) -> str:
        theirs = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
        changed = [key for key in self.run if theirs.get(key) != self.run[key]]
        if not changed:
            return "made by another version of deepfever extract"
        words = {"model": "a different model", "inputs": "a different input list", "shard_size": "another --shard-size"}
        return ", ".join(words.get(key, f"another {key}") for key in changed)

    def clear(self) -> None:
        """Remove another run's shards, markers and manifest (``--overwrite``); other files stay."""
        for path in self._own_files():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.folder / MANIFEST_NAME).unlink()

    def remove_leftovers(self) -> None:
        """Temporary files of writers killed mid-shard: never read, removed before a run starts."""
        for path in self._own_files():
            if is_temporary_name(path.name):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def start(self, *, inputs: int | None) -> None:
        """Create the folder and its manifest (not yet complete)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_manifest({"complete": False, "inputs": inputs})

    def done_chunks(self) -> set[int]:
        """Chunks already written by this run (a shard or an empty marker)."""
        done: set[int] = set()
        for path in self._own_files():
            match = _SHARD.fullmatch(path.name) or _EMPTY.fullmatch(path.name)
            if match:
                done.add(int(match.group(1)))
        return done

    # -- writing ---------------------------------------------------------------------------------------------
    def metadata(self, chunk: int | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {MODEL_METADATA_KEY: self.model, RUN_METADATA_KEY: self.digest}
        if chunk is not None:
            metadata[SHARD_METADATA_KEY] = {"chunk": chunk}
        return metadata

    def open_shard(self, chunk: int, schema: pa.Schema) -> ShardWriter:
        """A writer of chunk ``chunk``: the shard appears complete at :meth:`ShardWriter.finish`, or not at all
        (:meth:`ShardWriter.abort`, an error, a kill)."""
        return ShardWriter(
            self.folder / shard_name(chunk), schema, self.folder / empty_marker_name(chunk),
            {"run": self.digest, "chunk": chunk, "rows": 0},
        )

    def shard_names(self) -> list[str]:
        """The shards there, in chunk order."""
        return sorted(path.name for path in self.folder.iterdir() if _SHARD.fullmatch(path.name))

    def finish(self, *, inputs: int | None, totals: dict[str, Any]) -> list[str]:
        """List the shards in the manifest, which says the folder is complete; returns the shard names."""
        shards = self.shard_names()
        self._write_manifest({"complete": True, "inputs": inputs, "shards": shards, **totals})
        return shards

    def _write_manifest(self, state: dict[str, Any]) -> None:
        atomic_write_json(
            self.folder / MANIFEST_NAME,
            {"format": MANIFEST_FORMAT, "run": self.digest, "model": self.model, "settings": self.run, **state},
            indent=2,
        )


class ShardWriter:
    """Rows of one chunk streamed into a hidden temporary Parquet file, renamed into place by :meth:`finish`
    (memory holds one batch, not the shard). A chunk without rows leaves its hidden empty marker instead."""

    def __init__(self, target: Path, schema: pa.Schema, empty_marker: Path, marker: dict[str, Any]) -> None:
        self.target, self.schema = target, schema
        self.empty_marker, self.marker = empty_marker, marker
        self.rows = 0
        self._output = atomic_output(target)
        self._temporary = self._output.__enter__()
        self._writer: Any = None
        self._open = True
        self.chunk: int | None = None

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self._writer is None:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(str(self._temporary), self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def abort(self) -> None:
        """Drop the temporary file; the chunk stays to do."""
        if not self._open:
            return
        self._open = False
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        with contextlib.suppress(Exception):
            self._output.__exit__(RuntimeError, RuntimeError("shard aborted"), None)

    def finish(self) -> None:
        """Rename the whole shard into place (or write the empty marker)."""
        if self._writer is None:
            self.abort()
            atomic_write_json(self.empty_marker, self.marker)
            return
        self._open = False
        self._writer.close()
        self._output.__exit__(None, None, None)


__all__ = [
    "MANIFEST_NAME",
    "ForeignOutputError",
    "ShardFolder",
    "ShardWriter",
    "empty_marker_name",
    "is_folder_output",
    "run_digest",
    "shard_name",
]

"""An extraction job: inputs -> rows, into one table file or into a sharded, resumable folder, by one process or
several (see :mod:`~hf_deepfever.inference.shards` and :mod:`~hf_deepfever.inference.processes`).

The rows of a folder do not depend on how the job was run: batches are planned inside shards
(:class:`~hf_deepfever.inference.BatchPlan`), so a resumed run, a run by several processes and one uninterrupted
run compute every batch from the same inputs and write the same vectors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.files import temporary_path
from .batching import BatchPlan
from .engines import Engine
from .extraction import ExtractionReport, FaceDetection, iter_extraction
from .processes import Processes
from .shards import ShardFolder
from .tables import RowLayout


@dataclass
class JobResult:
    """What this process did (rows, inputs, shards written now) and, for a folder, what the folder holds."""

    report: ExtractionReport
    inputs_done: int = 0
    rows_written: int = 0
    shards_written: int = 0
    folder_shards: list[str] = field(default_factory=list)
    folder_rows: int | None = None
    complete: bool = True
    inputs_total: int | None = None


def _count(source: Any) -> int | None:
    return None if getattr(source, "streaming", False) else len(source)


class TableFileWriter:
    """Rows streamed into a hidden temporary file (Parquet or CSV) renamed into place only when the run succeeds."""

    def __init__(self, output: Path, schema: Any, csv: bool) -> None:
        self.output, self.schema, self.csv = output, schema, csv
        self.tmp = temporary_path(output)
        self.rows = 0
        if csv:
            import pyarrow.csv as pacsv

            self._writer: Any = pacsv.CSVWriter(str(self.tmp), schema.remove_metadata())
        else:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(str(self.tmp), schema)

    def write(self, table: Any) -> None:
        if table.num_rows:
            self._writer.write_table(table if not self.csv else table.replace_schema_metadata(None))
            self.rows += table.num_rows

    def close(self, success: bool) -> None:
        self._writer.close()
        if success:
            os.replace(self.tmp, self.output)
        elif self.tmp.exists():
            self.tmp.unlink()


def extract_to_file(
    engine: Engine,
    processor: Any,
    source: Any,
    output: Path,
    layout: RowLayout,
    *,
    metadata: dict[str, Any],
    batch_size: int,
    workers: int | None,
    faces: FaceDetection | None,
    skip_bad: bool,
    threads: int | None = None,
    cores: int | None = None,
    progress: Callable[[int], None] = lambda done: None,
) -> JobResult:
    """Every input's rows into one table; the file appears only if at least one row was written.

    ``workers``, ``threads`` and ``cores``: see :func:`~hf_deepfever.inference.work_split.split_work`."""
    report = ExtractionReport()
    schema = layout.schema(metadata)
    writer = TableFileWriter(output, schema, layout.csv)
    success = False
    try:
        for batch in iter_extraction(engine, processor, source, batch_size=batch_size, num_workers=workers,
                                     num_threads=threads, cores=cores, skip_bad=skip_bad, report=report, faces=faces):
            writer.write(layout.table(batch, schema))
            progress(len(batch.done))
        success = writer.rows > 0
    finally:
        writer.close(success)
    total = _count(source) if _count(source) is not None else report.stream_rows
    return JobResult(report, inputs_done=total or 0, rows_written=writer.rows, inputs_total=total, folder_rows=writer.rows)


def extract_to_folder(
    engine: Engine,
    processor: Any,
    source: Any,
    folder: ShardFolder,
    layout: RowLayout,
    *,
    processes: Processes,
    shard_size: int,
    batch_size: int,
    workers: int | None,
    faces: FaceDetection | None,
    skip_bad: bool,
    overwrite: bool,
    threads: int | None = None,
    cores: int | None = None,
    stop_after_shards: int | None = None,
    progress: Callable[[int], None] = lambda done: None,
) -> JobResult:
    """This process's shards of ``source`` into ``folder`` (those not there yet); the main process then records
    the folder as complete once every shard is there.

    ``workers``, ``threads`` and ``cores``: see :func:`~hf_deepfever.inference.work_split.split_work`.
    ``stop_after_shards`` (tests, benchmarks): return after writing that many shards, as a killed run would.

    Raises:
        ForeignOutputError: the folder holds another run's shards and not ``overwrite`` (every process raises,
            before any writes).
    """
    state = folder.check(overwrite=overwrite)  # every process: same folder, same answer, nothing written yet
    processes.wait_for_everyone()
    count = _count(source)
    if processes.is_main:
        if state == "overwrite":
            folder.clear()
        folder.remove_leftovers()
        folder.start(inputs=count)
    processes.wait_for_everyone()
    done = frozenset(folder.done_chunks())
    plan = BatchPlan(batch_size, shard_size, rank=processes.rank, world=processes.world, done=done)
    report = ExtractionReport()
    schema = layout.schema(folder.metadata())
    result = JobResult(report, inputs_total=count)
    writer: Any = None  # the ShardWriter of the chunk being written
    try:
        for batch in iter_extraction(engine, processor, source, plan=plan, num_workers=workers, num_threads=threads,
                                     cores=cores, skip_bad=skip_bad, report=report, faces=faces):
            if not batch.done:
                continue
            chunk = plan.chunk_of(batch.done[0])
            if writer is None or writer.chunk != chunk:
                if writer is not None:
                    writer.finish()
                    result.shards_written += 1
                    writer = None
                if stop_after_shards is not None and result.shards_written >= stop_after_shards:
                    result.complete = False
                    return result
                writer = folder.open_shard(chunk, schema)
                writer.chunk = chunk
            table = layout.table(batch, schema)
            writer.write(table)
            result.rows_written += table.num_rows
            result.inputs_done += len(batch.done)
            progress(len(batch.done))
        if writer is not None:
            writer.finish()
            result.shards_written += 1
            writer = None
    finally:
        if writer is not None:  # an error (or a stop) mid-shard: it stays to do
            writer.abort()
    return _finish(folder, plan, processes, count, report, result)


def _finish(folder: ShardFolder, plan: BatchPlan, processes: Processes, count: int | None,
            report: ExtractionReport, result: JobResult) -> JobResult:
    import pyarrow.parquet as pq

    if count is None:  # a stream's length is known at its end, by every process
        count = max(value for value in processes.gather(report.stream_rows or 0))
    processes.wait_for_everyone()
    result.inputs_total = count
    missing = [chunk for chunk in plan.chunks(count) if chunk not in folder.done_chunks()]
    result.complete = not missing
    if processes.is_main and not missing:
        shards = folder.shard_names()
        rows = sum(pq.read_metadata(folder.folder / name).num_rows for name in shards)
        result.folder_shards = folder.finish(inputs=count, totals={"rows": rows})
        result.folder_rows = rows
    processes.wait_for_everyone()
    return result


__all__ = ["JobResult", "TableFileWriter", "extract_to_file", "extract_to_folder"]

"""A SYNTHETIC demo corpus in the exact layouts of AffectNet, FEC, RAF-DB and RECOLA (AVEC 2016).

The licensed corpora cannot ship with the package, so :func:`make_demo_corpus` draws stand-ins
with a procedural face renderer (:mod:`hf_deepfever.data.face_renderer`) and writes them where
each publisher puts its files, so that every loader, the demo and the tests run end to end.
None of it is real AffectNet, FEC, RAF-DB or RECOLA data.

Example::

    from hf_deepfever.data import make_demo_corpus, load_affectnet
    summary = make_demo_corpus("demo_data", seed=0, size="small")
    affectnet = load_affectnet(summary["affectnet"]["root"])
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Union

from .demo_faces import JobRunner
from .demo_image_corpora import write_affectnet, write_fec, write_rafdb, write_unlabelled
from .demo_recola import recording_jobs, run_recording_job, summarise_recordings

GENERATOR_VERSION = 1
MARKER_NAME = "demo_corpus.json"  # written last: its presence means the corpus is complete
_IN_PROGRESS_NAME = ".demo_corpus_in_progress"
PARTS = ("affectnet", "fec", "rafdb", "recola", "unlabelled")

README_TEXT = """\
SYNTHETIC DEMO CORPUS - NOT REAL DATA

Everything in this folder is synthetic: procedurally drawn faces and synthesised voices generated
by hf_deepfever (hf_deepfever.data.make_demo_corpus, seed {seed}, size "{size}"). It is NOT real
AffectNet, Google FEC, RAF-DB or RECOLA data and contains no real person. The folders only copy the
publishers' file layouts so that hf_deepfever's loaders, demo and tests run without the licensed
corpora:

  affectnet/   AffectNet layout (Manually_Annotated_file_lists, Manually_Annotated_Images, ...)
  fec/         FEC layout (FEC_dataset/*.csv with fake URLs; images/ named by fec_image_filename)
  rafdb/       RAF-DB basic layout (EmoLabel/list_patition_label.txt, Image/aligned, Image/original)
  recola/      RECOLA as released for AVEC 2016 (wav, mp4, arff gold standard, individual ratings)
  unlabelled/  a folder tree of unlabelled synthetic faces

Scores measured on this data say nothing about performance on the real corpora.
"""


@dataclass(frozen=True)
class DemoSize:
    """How much of each part to generate."""

    affectnet_train: int
    affectnet_validation_per_class: int
    affectnet_extra_labels: int  # rows of each of labels 8, 9, 10 per list
    affectnet_null_rows: int
    affectnet_automatic: int
    fec_faces: int
    fec_train_triplets: int
    fec_test_triplets: int
    fec_malformed_lines: int
    rafdb_train: int
    rafdb_test: int
    recola_per_split: int
    recola_duration_s: float
    recola_frame_size: int
    unlabelled: int


SIZES: dict[str, DemoSize] = {
    # For unit tests: a few seconds.
    "tiny": DemoSize(40, 3, 1, 2, 4, 32, 24, 8, 1, 14, 7, 1, 1.2, 48, 8),
    # For `make demo`: a minute or less on two cores.
    "small": DemoSize(2000, 50, 8, 5, 40, 900, 1300, 250, 3, 560, 140, 3, 20.0, 96, 1000),
    # For longer experiments.
    "medium": DemoSize(12000, 250, 40, 20, 400, 5000, 9000, 1500, 10, 3000, 750, 9, 60.0, 112, 6000),
}


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _prepare_folder(folder: Path, seed: int, size: str) -> dict[str, Any] | None:
    """Returns the stored summary when ``folder`` already holds this corpus; else clears our leftovers.

    Raises:
        FileExistsError: the folder holds a different demo corpus, or files of ours without a
            record that we wrote them (we never delete what we did not write).
    """
    marker = _read_marker(folder)
    if marker is not None:
        if marker.get("seed") == seed and marker.get("size") == size and marker.get("generator_version") == GENERATOR_VERSION:
            return marker["summary"]
        raise FileExistsError(
            f"{folder} already holds a demo corpus of seed {marker.get('seed')}, size {marker.get('size')!r} "
            f"(generator version {marker.get('generator_version')}); asked for seed {seed}, size {size!r}. "
            "Use another folder or delete this one."
        )
    leftovers = [name for name in (*PARTS, "README.txt") if (folder / name).exists()]
    if leftovers and not (folder / _IN_PROGRESS_NAME).exists():
        raise FileExistsError(
            f"{folder} already contains {', '.join(leftovers)} but no {MARKER_NAME}: it is not a demo corpus "
            "this generator started. Use an empty or new folder."
        )
    for name in leftovers:  # an interrupted run of ours: start over cleanly
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return None


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def make_demo_corpus(
    out_dir: Union[str, os.PathLike],
    *,
    seed: int = 0,
    size: str = "small",
    workers: int | None = None,
) -> dict[str, Any]:
    """Writes the SYNTHETIC demo corpus under ``out_dir`` and returns a summary of it.

    Layout (each part exactly as its publisher ships the real corpus, see ``docs/corpora.md``)::

        out_dir/README.txt      says the data is synthetic
        out_dir/affectnet/      load_affectnet(out_dir / "affectnet")
        out_dir/fec/            load_fec(out_dir / "fec")  (images in fec/images)
        out_dir/rafdb/          load_rafdb(out_dir / "rafdb")
        out_dir/recola/         load_recola(out_dir / "recola")
        out_dir/unlabelled/     load_face_folder(out_dir / "unlabelled")
        out_dir/demo_corpus.json  written last; the summary returned here

    The corpus is a pure function of ``seed`` and ``size`` (same seed: byte-identical lists,
    whatever ``workers``). Calling again on a complete corpus of the same seed and size returns its
    summary without regenerating; an interrupted run is cleared and redone.

    Args:
        out_dir: the folder to write (created if needed).
        seed: the random seed.
        size: ``"tiny"`` (unit tests, a few seconds), ``"small"`` (the demo) or ``"medium"``.
        workers: processes drawing pictures; default: up to 2, as many as there are CPUs.

    Returns:
        ``{"root", "seed", "size", "seconds", "affectnet", "fec", "rafdb", "recola", "unlabelled"}``;
        each part gives its root and its counts, including the rows a correct loader keeps.

    Raises:
        ValueError: an unknown ``size``.
        FileExistsError: ``out_dir`` holds a different corpus or unrelated files named like its parts.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    spec = SIZES[size]
    folder = Path(out_dir).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    stored = _prepare_folder(folder, seed, size)
    if stored is not None:
        return stored
    (folder / _IN_PROGRESS_NAME).write_text(json.dumps({"seed": seed, "size": size}), encoding="utf-8")
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    started = time.perf_counter()
    _write_atomic(folder / "README.txt", README_TEXT.format(seed=seed, size=size))
    summary: dict[str, Any] = {"root": str(folder), "seed": seed, "size": size}
    with JobRunner(workers) as runner:
        summary["affectnet"] = write_affectnet(
            folder / "affectnet", seed=seed, train_total=spec.affectnet_train,
            validation_per_class=spec.affectnet_validation_per_class, extra_labels_per_split=spec.affectnet_extra_labels,
            null_rows=spec.affectnet_null_rows, automatic_rows=spec.affectnet_automatic, runner=runner,
        )
        summary["fec"] = write_fec(
            folder / "fec", seed=seed, faces=spec.fec_faces, train_triplets=spec.fec_train_triplets,
            test_triplets=spec.fec_test_triplets, dead_share=0.02, malformed_lines=spec.fec_malformed_lines, runner=runner,
        )
        summary["rafdb"] = write_rafdb(folder / "rafdb", seed=seed, train_total=spec.rafdb_train, test_total=spec.rafdb_test, runner=runner)
        summary["unlabelled"] = write_unlabelled(folder / "unlabelled", seed=seed, count=spec.unlabelled, runner=runner)
        jobs = recording_jobs(
            folder / "recola", seed=seed, per_split=spec.recola_per_split, duration_s=spec.recola_duration_s,
            frame_size=spec.recola_frame_size,
        )
        summary["recola"] = summarise_recordings(folder / "recola", runner.map(run_recording_job, jobs, min_parallel=2))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    marker = {"seed": seed, "size": size, "generator_version": GENERATOR_VERSION, "sizes": asdict(spec), "summary": summary}
    _write_atomic(folder / MARKER_NAME, json.dumps(marker, indent=2, sort_keys=True) + "\n")
    (folder / _IN_PROGRESS_NAME).unlink()
    return summary

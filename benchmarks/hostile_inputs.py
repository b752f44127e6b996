"""Peak memory and time of hostile inputs: what a small or oversized file makes the readers allocate.

    python -m benchmarks.hostile_inputs [--scale 4]

Each case writes its files, then runs the reader in ONE fresh child process (so the figures are the readers'
alone) whose address space is capped at what it holds after warming up plus 1 GiB (``RLIMIT_AS``): a
regression fails with a MemoryError instead of exhausting the machine. For each case the child restarts the
peak-RSS high-water mark (``/proc/self/clear_refs``), runs the reader and reports how far the peak rose.

Cases (sizes at ``--scale 1``; ``tests/test_hostile_memory.py`` runs them at that scale and asserts the bound):

* ``affectnet_long_line``: an AffectNet list holding one 32 MiB line (and three good rows): skipped and counted
  while it streams past, never held whole (it used to stop Arrow's reader with ``ArrowInvalid``).
* ``affectnet_bomb_header``: a 67-byte PNG whose header claims 100,000 x 100,000 pixels: only the header is read.
* ``eval_results_oversized``: an ``eval_results.json`` of 80 MiB: refused by its size before it is read.
* ``card_huge_value``: an ``eval_results.json`` holding a 5 MB string: the card shows 80 characters of it.
* ``recola_label_oversized``: a 72 MiB gold-standard ARFF: the recording is skipped, the file not read.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

MIB = 1 << 20

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time, warnings
    from pathlib import Path

    from benchmarks.timing import current_rss_mb, peak_rss_mb, reset_peak_rss
    from benchmarks.hostile_inputs import run_case, warm_up

    folder = Path(sys.argv[1])
    cases = json.loads(sys.argv[2])
    warm_up(folder)

    def address_space():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    resource.setrlimit(resource.RLIMIT_AS, (address_space() + 2**30, resource.RLIM_INFINITY))
    results = {}
    for case in cases:
        reset_peak_rss()
        baseline = current_rss_mb()
        start = time.perf_counter()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                outcome = run_case(case, folder)
            except Exception as error:  # what an unfixed reader does (e.g. ArrowInvalid), reported, not fatal
                outcome = f"raised {type(error).__name__}: {str(error)[:80]}"
        results[case] = {"peak_growth_mib": round(peak_rss_mb() - baseline, 1),
                         "seconds": round(time.perf_counter() - start, 3), "outcome": outcome}
    print(json.dumps(results))
    """
)


def _png_header(width: int, height: int) -> bytes:
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + body
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(body)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _affectnet(root: Path, extra_rows: list[str], images: dict[str, bytes], long_line_bytes: int = 0) -> None:
    from hf_deepfever.synthetic import layouts

    folder = layouts.affectnet_images_dir(root, "train") / "1"
    folder.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    for index in range(3):
        Image.new("RGB", (32, 32), (index * 40, 90, 60)).save(folder / f"good_{index}.jpg")
    for name, data in images.items():
        (folder / name).write_bytes(data)
    landmarks = layouts.format_landmarks([5.0] * 136)
    good = [layouts.format_affectnet_row(f"1/good_{index}.jpg", (1, 2, 20, 20), landmarks, 1, 0.1, 0.2)
            for index in range(3)]
    rows = [*good, *(layouts.format_affectnet_row(row, (1, 2, 20, 20), landmarks, 1, 0.1, 0.2) for row in extra_rows)]
    train = layouts.affectnet_list_path(root, "train")
    layouts.write_affectnet_list(train, rows)
    if long_line_bytes:
        with open(train, "ab") as handle:  # streamed: the fixture never holds the line either
            for _ in range(long_line_bytes // MIB):
                handle.write(b"x" * MIB)
            handle.write(b"\n")
    layouts.write_affectnet_list(layouts.affectnet_list_path(root, "validation"), good)


def _model_folder(folder: Path, results: dict[str, Any] | None = None, raw: bytes | None = None) -> None:
    import torch

    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor

    torch.manual_seed(0)
    DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=32)).save_pretrained(folder)
    DeepFeverImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    path = folder / "eval_results.json"
    if raw is not None:
        with open(path, "wb") as handle:
            handle.write(b'{"a": "')
            for _ in range(len(raw) // MIB):
                handle.write(raw[:MIB])
            handle.write(b'"}')
    elif results is not None:
        path.write_text(json.dumps(results))


def write_cases(folder: Path, scale: int = 1) -> list[str]:
    """Write every case's files below ``folder``; returns the case names."""
    from hf_deepfever.synthetic import layouts

    _affectnet(folder / "affectnet_long_line", [], {}, long_line_bytes=32 * MIB * scale)
    _affectnet(folder / "affectnet_bomb_header", ["1/bomb.png"], {"bomb.png": _png_header(100_000, 100_000)})
    _model_folder(folder / "eval_results_oversized", raw=b"y" * (80 * MIB * scale))
    _model_folder(folder / "card_huge_value", {"dataset_kind": "real", "note": "z" * (5_000_000 * scale)})
    recola = folder / "recola_label_oversized"
    layouts.write_wav(layouts.recola_audio_path(recola, "train_1"), __import__("numpy").zeros(800, "float32"), 8000)
    for dimension in layouts.RECOLA_DIMENSIONS:
        rows = [layouts.format_arff_row("train_1", 0.04 * index, 0.1) for index in range(10)]
        path = layouts.recola_gold_standard_path(recola, dimension, "train_1")
        layouts.write_gold_standard(path, dimension, rows)
    with open(layouts.recola_gold_standard_path(recola, "arousal", "train_1"), "ab") as handle:
        for _ in range(72 * scale):
            handle.write((b"train_1,1.00,0.1\n" * (MIB // 17 + 1))[:MIB])
    return ["affectnet_long_line", "affectnet_bomb_header", "eval_results_oversized", "card_huge_value",
            "recola_label_oversized"]


def warm_up(folder: Path) -> None:
    """Import and run every reader once on good input, so that the measured peaks are the hostile files' alone."""
    from hf_deepfever.data import load_affectnet, load_recola  # noqa: F401
    from hf_deepfever.hub import render_model_card  # noqa: F401

    warm = folder / "warm"
    _affectnet(warm / "affectnet", [], {})
    load_affectnet(warm / "affectnet", cache_dir=warm / "cache")
    _model_folder(warm / "model", {"dataset_kind": "real", "fec_triplet_accuracy": 0.5})
    render_model_card(warm / "model")


def run_case(case: str, folder: Path) -> str:
    """Run one case's reader; returns what happened, in words."""
    from hf_deepfever.data import load_affectnet, load_recola
    from hf_deepfever.hub import render_model_card

    root = folder / case
    if case in ("affectnet_long_line", "affectnet_bomb_header"):
        dataset = load_affectnet(root, cache_dir=folder / "cache" / case)
        return f"{dataset['train'].num_rows} rows kept"
    if case in ("eval_results_oversized", "card_huge_value"):
        try:
            card = render_model_card(root)
        except ValueError as error:
            return f"refused: ...{str(error)[-60:]}"
        return f"card of {len(card):,} characters"
    if case == "recola_label_oversized":
        dataset = load_recola(root, cache_dir=folder / "cache" / case)
        return f"{dataset['train'].num_rows} train recordings kept"
    raise ValueError(f"unknown case {case!r}")


def measure(folder: Path, scale: int = 1) -> dict[str, Any]:
    """Write the cases below ``folder`` and measure them in a fresh process; returns the figures per case."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = write_cases(folder, scale)
    sizes = {case: sum(path.stat().st_size for path in (folder / case).rglob("*") if path.is_file()) for case in cases}
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), json.dumps(cases)],
        capture_output=True, text=True, timeout=600, cwd=root,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for case in cases:
        figures[case]["input_mib"] = round(sizes[case] / MIB, 1)
    return figures


PEAK_GROWTH_TARGET_MIB = 32.0  # what tests/test_hostile_memory.py asserts, whatever the file claims or weighs


def run(quick: bool) -> dict[str, Any]:
    """``benchmarks.run`` entry point: the largest peak-memory growth over the cases, against the bound."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hostile_inputs_") as folder:
        figures = measure(Path(folder), scale=1 if quick else 4)
    worst = max(case["peak_growth_mib"] for case in figures.values())
    return {
        "description": "peak memory of hostile files (oversized lines, records and label files; a bomb header), "
        "each read in a fresh, address-capped process",
        "threads": 1,  # the readers are single-threaded here
        "headline": {
            "metric": "largest peak RSS growth over the hostile cases (MiB)",
            "value": worst,
            "target": f"<= {PEAK_GROWTH_TARGET_MIB:g}",
            "holds": worst <= PEAK_GROWTH_TARGET_MIB,
        },
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="Multiply the hostile files' sizes.")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hostile_inputs_") as folder:
        print(json.dumps(measure(Path(folder), args.scale), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

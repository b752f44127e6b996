"""Precision and recall of the face detectors on real photos and on scikit-image's LFW subset; seconds per photo.

    python -m benchmarks.face_detection_precision [--output benchmarks/face_detection_precision.json] [--threads N]

Two sets, both shipped in wheels the dev environment installs (nothing is downloaded):

* **Real photos**: every ``*.png``/``*.jpg`` in ``skimage/data`` (26) and matplotlib's ``grace_hopper.jpg``, at
  full and half size (Lanczos: the faces become 45-100 px, the size of a face in a group photo), each also
  mirrored left to right (a mirrored photo is as real as the original, and the detectors' windows fall elsewhere
  on it): 108 images, 10 faces of 40 px or more (the cameraman at half size, 29 px, is below ``min_face_size``:
  a detection there counts neither way). The faces were boxed by hand in :data:`GROUND_TRUTH` (the photos
  zoomed 3-4x under a 20 px grid); every other photo was looked at and holds no human face of 40 px or more (the
  coins' profile heads are under 30 px). A detection is correct when its centre lies in a ground-truth box; each
  box matches at most one detection (the highest-scoring first); any other detection is a false positive.
* **LFW subset** (``skimage/data/lfw_subset.npy``: 100 face crops from Labeled Faces in the Wild, then 100
  non-face crops, 25x25 grayscale): each crop is upscaled (bicubic) to 200x200 and pasted at (50, 50) on a
  300x300 grey canvas. A face crop is found when the detector reports at least one face; a non-face crop with
  any detection is a false positive.

Each detector runs once per image at the lowest threshold of its sweep (``min_face_size`` 40, the default) and
the sweep filters those detections by score. That equals running at each threshold: both backends only drop
detections under the threshold after their own grouping (dlib's non-maximum suppression keeps a box by the
higher-scoring boxes alone). ``auto`` is measured directly, at its own defaults. Seconds per photo: each
detector at its default threshold on the 27 original photos, interleaved photo by photo, the median of
``--repeats`` runs per photo, summed; reported as a ratio against Haar, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import PIL.Image

Box = tuple[float, float, float, float]

# Hand-measured face boxes (x, y, w, h) in the original photos' pixels: cheek (or ear) to cheek (or nose tip),
# eyebrows to chin, as for tests/real_photos.py's HAND_FACE_BOX (copied from there for grace_hopper.jpg).
GROUND_TRUTH: dict[str, tuple[Box, ...]] = {
    "astronaut.png": ((183.0, 86.0, 90.0, 97.0),),  # frontal, smiling; x 183-273, y 86-183
    "camera.png": ((198.0, 133.0, 58.0, 65.0),),  # the cameraman, three-quarter profile behind the camera
    "grace_hopper.jpg": ((163.0, 160.0, 195.0, 170.0),),
}

SWEEPS: dict[str, tuple[float, ...]] = {
    # dlib's SVM margin: detections around 0 are weak; Haar's final-stage weight: faces score about 3 to 8.
    "dlib": (-0.25, 0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5),
    "haar": (-1.0, 0.0, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0),
}
MIN_FACE_SIZE = 40.0


class Photo(NamedTuple):
    name: str
    rgb: np.ndarray
    faces: tuple[Box, ...]  # the ground truth
    ignored: tuple[Box, ...] = ()  # faces under MIN_FACE_SIZE at this scale: detections there count neither way


def skimage_data() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def real_photo_paths() -> list[Path]:
    import matplotlib

    folder = skimage_data()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    return paths + [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]


def real_photos(mirror: bool = True, scales: Sequence[float] = (1.0, 0.5)) -> list[Photo]:
    """Every photo at each scale (Lanczos), then (with `mirror`) each of those mirrored.

    A ground-truth face whose shorter side falls under `MIN_FACE_SIZE` at a scale is one the detectors are asked
    not to report: it moves to the photo's ignored boxes (a detection there counts neither way).
    """
    photos = []
    for path in real_photo_paths():
        with PIL.Image.open(path) as opened:
            image = opened.convert("RGB")
        for scale in scales:
            resized = image if scale == 1.0 else image.resize(
                (round(image.width * scale), round(image.height * scale)), PIL.Image.Resampling.LANCZOS
            )
            boxes = tuple(tuple(v * scale for v in box) for box in GROUND_TRUTH.get(path.name, ()))
            name = path.name if scale == 1.0 else f"{path.name} at {scale:g}x"
            photos.append(Photo(name, np.asarray(resized), tuple(b for b in boxes if min(b[2:]) >= MIN_FACE_SIZE),
                                tuple(b for b in boxes if min(b[2:]) < MIN_FACE_SIZE)))
    if mirror:
        for photo in list(photos):
            width = photo.rgb.shape[1]

            def flip(boxes: tuple[Box, ...]) -> tuple[Box, ...]:
                return tuple((width - x - w, y, w, h) for x, y, w, h in boxes)

            photos.append(Photo(f"{photo.name} (mirrored)", np.ascontiguousarray(photo.rgb[:, ::-1]),
                                flip(photo.faces), flip(photo.ignored)))
    return photos


def lfw_canvases() -> tuple[list[np.ndarray], list[bool]]:
    """The 200 LFW-subset crops, each 200x200 on a 300x300 grey canvas; and whether each is a face."""
    crops = np.load(skimage_data() / "lfw_subset.npy")
    canvases = []
    for crop in crops:
        pixels = PIL.Image.fromarray(np.round(crop * 255).astype(np.uint8))
        face = pixels.resize((200, 200), PIL.Image.Resampling.BICUBIC)
        canvas = PIL.Image.new("L", (300, 300), 128)
        canvas.paste(face, (50, 50))
        canvases.append(np.asarray(canvas.convert("RGB")))
    return canvases, [i < 100 for i in range(len(crops))]


def _contains(box: Box, point: tuple[float, float]) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def matched(detections: Sequence[tuple[Box, float]], truth: Sequence[Box]) -> list[bool]:
    """Whether each detection is a face: its centre in a ground-truth box not yet taken, highest score first.

    A detection's outcome depends only on the higher-scoring ones, so it is the same at any threshold it passes.
    """
    free = list(truth)
    outcome = [False] * len(detections)
    for index in sorted(range(len(detections)), key=lambda i: -detections[i][1]):
        box = detections[index][0]
        centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        for candidate in free:
            if _contains(candidate, centre):
                free.remove(candidate)
                outcome[index] = True
                break
    return outcome


def match(detections: Sequence[tuple[Box, float]], photo: Photo) -> tuple[int, int]:
    """(true positives, false positives) of one photo's detections; those on an ignored face count neither way."""
    outcome = matched(detections, photo.faces)
    hits = sum(outcome)
    ignored = sum(
        1 for (box, _), face in zip(detections, outcome)
        if not face and any(_contains(b, (box[0] + box[2] / 2, box[1] + box[3] / 2)) for b in photo.ignored)
    )
    return hits, len(detections) - hits - ignored


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def photo_figures(per_photo: list[list[tuple[Box, float]]], photos, threshold: float) -> dict[str, Any]:
    tp = fp = 0
    false_positives = []
    for detections, photo in zip(per_photo, photos):
        hits, misses = match([d for d in detections if d[1] >= threshold], photo)
        tp, fp = tp + hits, fp + misses
        if misses:
            false_positives.append(photo.name)
    faces = sum(len(photo.faces) for photo in photos)
    return {"tp": tp, "fp": fp, "faces": faces, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, faces),
            "false_positive_photos": false_positives}


def lfw_figures(best_scores: list[float | None], is_face: list[bool], threshold: float) -> dict[str, Any]:
    fired = [s is not None and s >= threshold for s in best_scores]
    found = sum(f for f, face in zip(fired, is_face) if face)
    false = sum(f for f, face in zip(fired, is_face) if not face)
    faces = sum(is_face)
    return {"found": found, "faces": faces, "fp": false, "non_faces": len(is_face) - faces,
            "precision": _ratio(found, found + false), "recall": _ratio(found, faces)}


def _raw(detector: Any, rgb: np.ndarray, threshold: float | None) -> list[tuple[Box, float]]:
    return [(face.box, face.score) for face in detector(rgb, min_face_size=MIN_FACE_SIZE, score_threshold=threshold)]


def measure(repeats: int = 3, mirror: bool = True, scales: Sequence[float] = (1.0, 0.5)) -> dict[str, Any]:
    from hf_deepfever.models.deepfever.face_detection_deepfever import load_face_detector

    detectors = {name: load_face_detector(name) for name in ("haar", "dlib")}
    auto = load_face_detector("auto")
    photos = real_photos(mirror, scales)
    canvases, is_face = lfw_canvases()
    report: dict[str, Any] = {"auto": auto.name, "default_thresholds": {}, "sweeps": {}, "lfw_lowest_face_scores": {}}

    for name, detector in detectors.items():
        low = min(SWEEPS[name])
        per_photo = [_raw(detector, photo.rgb, low) for photo in photos]
        best = [max((s for _, s in _raw(detector, canvas, low)), default=None) for canvas in canvases]
        report["default_thresholds"][name] = detector.backend.default_score_threshold
        report["sweeps"][name] = [
            {"threshold": t, "photos": photo_figures(per_photo, photos, t), "lfw": lfw_figures(best, is_face, t)}
            for t in sorted({*SWEEPS[name], detector.backend.default_score_threshold})
        ]
        found = sorted(s for s, face in zip(best, is_face) if face and s is not None)
        report["lfw_lowest_face_scores"][name] = found[:8]
        report.setdefault("photo_detections", {})[name] = {
            photo.name: [
                [list(box), round(score, 3), face] for (box, score), face in zip(dets, matched(dets, photo.faces))
            ]
            for photo, dets in zip(photos, per_photo) if dets
        }

    # auto, measured at its own defaults (what `detect_faces(path)` does).
    auto_photos = [_raw(auto, photo.rgb, None) for photo in photos]
    auto_best = [max((s for _, s in _raw(auto, c, None)), default=None) for c in canvases]
    threshold = auto.backend.default_score_threshold
    report["auto_at_defaults"] = {
        "threshold": threshold,
        "photos": photo_figures(auto_photos, photos, threshold),
        "lfw": lfw_figures(auto_best, is_face, threshold),
    }

    # Seconds per photo: the originals, detectors interleaved photo by photo, median of `repeats` per photo.
    originals = [photo.rgb for photo in real_photos(mirror=False, scales=(1.0,))]
    seconds = {name: 0.0 for name in detectors}
    for detector in detectors.values():
        detector(originals[0], min_face_size=MIN_FACE_SIZE)  # warm-up; every photo was also run just above
    for rgb in originals:
        times: dict[str, list[float]] = {name: [] for name in detectors}
        for _ in range(repeats):
            for name, detector in detectors.items():
                start = time.perf_counter()
                detector(rgb, min_face_size=MIN_FACE_SIZE)
                times[name].append(time.perf_counter() - start)
        for name in detectors:
            seconds[name] += statistics.median(times[name])
    report["seconds_per_photo"] = {name: total / len(originals) for name, total in seconds.items()}
    report["time_ratio_vs_haar"] = {name: _ratio(s, report["seconds_per_photo"]["haar"]) for name, s in
                                    report["seconds_per_photo"].items()}
    report["counts"] = {"photos": len(photos), "photo_faces": sum(len(p.faces) for p in photos),
                        "scales": list(scales), "mirrored": mirror,
                        "timed_photos": len(originals), "repeats": repeats, "lfw_faces": 100, "lfw_non_faces": 100}
    return report


def versions() -> dict[str, Any]:
    import os
    import platform

    import cv2
    import dlib
    import skimage

    from .timing import cpu_model

    return {
        "python": platform.python_version(), "opencv": cv2.__version__, "dlib": dlib.__version__,
        "scikit-image": skimage.__version__, "opencv_threads": cv2.getNumThreads(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu_model(),
    }


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def markdown_tables(report: dict[str, Any]) -> str:
    counts = report["counts"]
    lines = [
        f"| detector | threshold | photos: TP / FP (of {counts['photo_faces']} faces) | photos precision "
        "| photos recall "
        f"| LFW faces found (of 100) | LFW non-faces fired (of 100) | LFW precision | LFW recall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(name, sweep) for name, sweeps in report["sweeps"].items() for sweep in sweeps]
    rows.append((f"auto -> {report['auto']}", report["auto_at_defaults"]))
    for name, row in rows:
        is_default = not name.startswith("auto") and row["threshold"] == report["default_thresholds"][name]
        default = " (default)" if is_default else ""
        p, lfw = row["photos"], row["lfw"]
        lines.append(
            f"| {name} | {row['threshold']:g}{default} | {p['tp']} / {p['fp']} | {_pct(p['precision'])} | "
            f"{_pct(p['recall'])} | {lfw['found']} | {lfw['fp']} | {_pct(lfw['precision'])} | {_pct(lfw['recall'])} |"
        )
    lines += ["", "| detector | seconds per photo (default threshold) | ratio vs haar |", "|---|---|---|"]
    for name, value in report["seconds_per_photo"].items():
        lines.append(f"| {name} | {value:.4f} | {report['time_ratio_vs_haar'][name]:.2f} |")
    lines += ["", "Detections on the photos at the lowest sweep threshold, box (x, y, w, h) and score:"]
    for name, per_photo in report["photo_detections"].items():
        for outcome, label in ((True, "faces"), (False, "false positives")):
            listed = [
                f"{photo} {tuple(round(v) for v in box)} {score:.2f}"
                for photo, dets in per_photo.items() for box, score, face in dets if face == outcome
            ]
            lines.append(f"- {name}, {label}: " + ("; ".join(listed) or "none"))
    for name, scores in report["lfw_lowest_face_scores"].items():
        lines.append(f"- {name}: lowest best-scores of the LFW faces found: {', '.join(f'{s:.2f}' for s in scores)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=None, help="Also write the full results as JSON to this file.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs per photo and detector (default 3).")
    parser.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: OpenCV's own).")
    parser.add_argument("--no-mirror", action="store_true", help="Only the original photos, not their mirror images.")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5], help="Photo scales (default: 1 0.5).")
    args = parser.parse_args(argv)
    import datetime

    import cv2

    from .timing import loadavg

    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.face_detection_precision", *sys.argv[1:]]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "loadavg_before": loadavg(),
    }
    report.update(measure(args.repeats, not args.no_mirror, args.scales))
    report["loadavg_after"] = loadavg()
    report["seconds"] = round(time.perf_counter() - started, 1)
    if args.output:
        from hf_deepfever.core.files import atomic_write_text

        atomic_write_text(args.output, json.dumps(report, indent=2, default=str))
    v = report["versions"]
    print(
        f"{report['date_utc']}: python {v['python']}, opencv {v['opencv']} ({v['opencv_threads']} threads), dlib "
        f"{v['dlib']}, scikit-image {v['scikit-image']}, {v['cores_usable']} cores ({v['cpu']}), load "
        f"{report['loadavg_before']} -> {report['loadavg_after']}, {report['seconds']} s; auto -> {report['auto']}\n"
    )
    print(markdown_tables(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The synthetic demo corpus: layouts exactly as the publishers ship them, determinism, idempotence, renderer
behaviour, and every loader reading it back with the counts the generator reports."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from hf_deepfever.synthetic import recola as demo_recola
from hf_deepfever.synthetic.corpus import MARKER_NAME, make_demo_corpus
from hf_deepfever.synthetic.face_renderer import (
    EXPRESSION_PROTOTYPES,
    ExpressionParams,
    render_face,
    sample_appearance,
    sample_scene,
    valence_arousal_of,
)
from hf_deepfever.data.fec import fec_image_filename
from hf_deepfever.synthetic import layouts
from hf_deepfever.synthetic.layouts import AFFECTNET_HEADER  # its text is pinned in test_synthetic_layouts.py
TEXT_SUFFIXES = {".csv", ".txt", ".arff"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo") / "corpus"
    summary = make_demo_corpus(root, seed=0, size="tiny", workers=1)
    return root, summary


def _text_files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.suffix in TEXT_SUFFIXES and path.is_file()
    }


@pytest.fixture
def micro_size(monkeypatch: pytest.MonkeyPatch) -> str:
    """An even smaller size than "tiny", for tests that generate several corpora."""
    from hf_deepfever.synthetic import corpus as demo

    monkeypatch.setitem(demo.SIZES, "micro", demo.DemoSize(16, 2, 1, 1, 2, 24, 6, 3, 1, 7, 7, 1, 0.4, 32, 3))
    return "micro"


def test_same_seed_gives_identical_files_another_seed_differs(tmp_path, micro_size, monkeypatch):
    from hf_deepfever.synthetic.faces import JobRunner

    make_demo_corpus(tmp_path / "a", seed=0, size=micro_size, workers=1)
    with monkeypatch.context() as patch:
        patch.setattr(JobRunner, "min_parallel_jobs", 2)  # two forked workers draw every part
        make_demo_corpus(tmp_path / "b", seed=0, size=micro_size, workers=2)
    make_demo_corpus(tmp_path / "c", seed=1, size=micro_size, workers=1)
    first, second, other = (_text_files(tmp_path / name) for name in "abc")
    assert len(first) >= 10 and first.keys() == second.keys() == other.keys()
    for name in first:
        assert first[name] == second[name], name
        if "list_patition_label" not in name:  # names and labels may coincide by chance at this size
            assert first[name] != other[name], name
    # Same pictures too (JPEG encoding is deterministic for identical pixels).
    aligned = tmp_path / "a" / "rafdb" / layouts.RAFDB_BASIC / layouts.RAFDB_ALIGNED_IMAGES
    for picture in sorted(aligned.iterdir())[:3]:
        assert picture.read_bytes() == (tmp_path / "b" / picture.relative_to(tmp_path / "a")).read_bytes()


def test_readme_says_synthetic(corpus):
    root, summary = corpus
    text = (root / "README.txt").read_text()
    assert "SYNTHETIC" in text and "NOT real" in text
    for part in ("affectnet", "fec", "rafdb", "recola", "unlabelled"):
        assert "NOT real" in (root / part / "SYNTHETIC_DATA.txt").read_text()
    marker = json.loads((root / MARKER_NAME).read_text())
    assert marker["seed"] == 0 and marker["size"] == "tiny" and marker["summary"] == summary


def test_affectnet_layout(corpus):
    root, summary = corpus
    base = root / "affectnet"
    for split in ("train", "validation"):
        lines = layouts.affectnet_list_path(base, split).read_text().splitlines()
        assert lines[0] == AFFECTNET_HEADER
        rows = [line.split(",") for line in lines[1:]]
        assert len(rows) == summary["affectnet"][split]["rows"]
        assert all(len(row) == 9 for row in rows)
        null_rows = [row for row in rows if "NULL" in row]
        assert len(null_rows) == summary["affectnet"][split]["null_rows"] > 0
        labels = {int(row[6]) for row in rows}
        assert set(range(11)) <= labels
        for row in rows:
            assert (layouts.affectnet_images_dir(base, split) / row[0]).is_file(), row[0]
            if "NULL" in row:
                continue
            expression, valence, arousal = int(row[6]), float(row[7]), float(row[8])
            if expression in (9, 10):
                assert valence == arousal == -2.0
            else:
                assert -1 <= valence <= 1 and -1 <= arousal <= 1
            x, y, w, h = (int(v) for v in row[1:5])
            landmarks = np.array([float(v) for v in row[5].split(";")]).reshape(68, 2)
            assert landmarks.shape == (68, 2) and w > 0 and h > 0
            if expression != 10:
                # The points sit on the face: inside its box, give or take a few pixels.
                inside = (
                    (landmarks[:, 0] >= x - 3)
                    & (landmarks[:, 0] <= x + w + 3)
                    & (landmarks[:, 1] >= y - 3)
                    & (landmarks[:, 1] <= y + h + 3)
                )
                assert inside.mean() > 0.9
    auto = layouts.affectnet_list_path(base, "automatic").read_text().splitlines()
    assert auto[0] == AFFECTNET_HEADER and len(auto) - 1 == summary["affectnet"]["automatic"]["rows"] > 0


def test_fec_layout(corpus):
    root, summary = corpus
    base = root / "fec"
    for split in ("train", "test"):
        lines = layouts.fec_list_path(base, split).read_text().splitlines()
        assert len(lines) == summary["fec"][split]["rows"]
        good = [line.split(",") for line in lines if len(line.split(",")) == 28]
        assert len(good) == summary["fec"][split]["parsable_rows"]
        for fields in good:
            for column in (0, 5, 10):
                url = fields[column]
                assert url.startswith('"http://farm') and url.endswith('.jpg"')
                assert (base / "images" / fec_image_filename(url)).is_file() or summary["fec"]["dead_urls"]
                left, right, top, bottom = (float(v) for v in fields[column + 1 : column + 5])
                assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
            assert fields[15] in {"ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"}
            assert all(fields[i].isdigit() for i in range(16, 28, 2))
            assert all(fields[i] in {"1", "2", "3"} for i in range(17, 28, 2))


def test_rafdb_layout(corpus):
    root, summary = corpus
    base = root / "rafdb"
    entries = [line.split(" ") for line in layouts.rafdb_list_path(base).read_text().splitlines()]
    assert len(entries) == summary["rafdb"]["train"]["rows"] + summary["rafdb"]["test"]["rows"]
    for name, label in entries:
        assert name.split("_")[0] in {"train", "test"} and 1 <= int(label) <= 7
        assert layouts.rafdb_original_path(base, name).is_file()
        with Image.open(layouts.rafdb_aligned_path(base, name)) as aligned:
            assert aligned.size == (100, 100)


def test_recola_layout(corpus):
    av = pytest.importorskip("av")
    root, summary = corpus
    base = root / "recola"
    for split in ("train", "dev", "test"):
        for name in summary["recola"][split]["ids"]:
            info = soundfile.info(str(layouts.recola_audio_path(base, name)))
            assert info.samplerate == 16000 and info.channels == 1
            with av.open(str(layouts.recola_video_path(base, name))) as container:
                stream = container.streams.video[0]
                assert stream.average_rate == 25
                frames = sum(1 for _ in container.decode(stream))
            assert frames == summary["recola"][split]["frames"][name]
            assert abs(info.duration - frames / 25) < 0.05
            labelled = split != "test"
            for dimension in ("arousal", "valence"):
                arff = layouts.recola_gold_standard_path(base, dimension, name)
                individual = layouts.recola_ratings_path(base, dimension, name)
                assert arff.is_file() == labelled and individual.is_file() == labelled
                if not labelled:
                    continue
                header, data = arff.read_text().split("@data\n")
                assert header.startswith("@relation ")
                assert (
                    "@attribute Instance_name string\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n"
                    in header
                )
                rows = [line.split(",") for line in data.strip().splitlines()]
                assert len(rows) == summary["recola"][split]["label_rows"][name] == frames + 1
                times = np.array([float(row[1]) for row in rows])
                np.testing.assert_allclose(times, np.arange(len(rows)) * 0.04, atol=1e-6)
                assert all(row[0] == name and -1 <= float(row[2]) <= 1 for row in rows)
                lines = individual.read_text().splitlines()
                assert lines[0].split(";")[0] == "time" and len(lines) == len(rows) + 1
                assert all(len(line.split(";")) == 7 for line in lines)


def test_second_call_reuses_and_foreign_folders_are_refused(corpus, tmp_path):
    root, summary = corpus
    csv = layouts.affectnet_list_path(root / "affectnet", "train")
    before = csv.stat().st_mtime_ns
    assert make_demo_corpus(root, seed=0, size="tiny") == summary
    assert csv.stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="seed 0"):
        make_demo_corpus(root, seed=3, size="tiny")
    foreign = tmp_path / "foreign"
    (foreign / "affectnet").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a demo corpus"):
        make_demo_corpus(foreign, size="tiny")
    with pytest.raises(ValueError, match="size"):
        make_demo_corpus(tmp_path / "x", size="huge")


def test_interrupted_run_is_redone(tmp_path, monkeypatch, micro_size):
    from hf_deepfever.synthetic import corpus as demo

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(demo, "write_fec", crash)
        with pytest.raises(KeyboardInterrupt):
            make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)
    assert (tmp_path / "affectnet").is_dir() and not (tmp_path / MARKER_NAME).exists()
    summary = make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)
    assert (tmp_path / MARKER_NAME).is_file() and summary["fec"]["train"]["rows"] > 0
    assert not (tmp_path / ".demo_corpus_in_progress").exists()

    # A corpus of an older generator version is regenerated, not reused; only files it wrote are removed.
    marker = json.loads((tmp_path / MARKER_NAME).read_text())
    assert "affectnet/" + layouts.AFFECTNET_LIST_FILES["train"][0] + "/training.csv" in marker["files"]
    marker["generator_version"] = -1
    stale = tmp_path / "affectnet" / "stale.txt"  # as if the old version wrote it
    stale.write_text("left by the old version")
    marker["files"].append("affectnet/stale.txt")
    (tmp_path / MARKER_NAME).write_text(json.dumps(marker))
    mine = tmp_path / "unlabelled" / "mine" / "my_photo.jpg"  # never written by the generator
    mine.parent.mkdir()
    mine.write_bytes(b"the user's own file")
    assert make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)["affectnet"] == summary["affectnet"]
    assert not stale.exists() and json.loads((tmp_path / MARKER_NAME).read_text())["generator_version"] != -1
    assert mine.read_bytes() == b"the user's own file"
    assert "unlabelled/mine/my_photo.jpg" not in json.loads((tmp_path / MARKER_NAME).read_text())["files"]


def test_only_files_the_generator_wrote_are_ever_removed(tmp_path, monkeypatch, micro_size):
    from hf_deepfever.synthetic import corpus as demo

    make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)
    marker = json.loads((tmp_path / MARKER_NAME).read_text())
    mine = tmp_path / "fec" / "notes.txt"
    mine.write_text("mine")
    # An older version's corpus whose marker did not list its files: nothing can be told apart, nothing is removed.
    legacy = {key: value for key, value in marker.items() if key != "files"} | {"generator_version": 1}
    (tmp_path / MARKER_NAME).write_text(json.dumps(legacy))
    before = sorted(path for path in tmp_path.rglob("*"))
    with pytest.raises(FileExistsError, match="cannot be told from yours"):
        make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)
    assert sorted(path for path in tmp_path.rglob("*")) == before

    # An interrupted regeneration keeps the user's file too, on every retry.
    (tmp_path / MARKER_NAME).write_text(json.dumps(marker | {"generator_version": 1}))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(demo, "write_rafdb", crash)
        with pytest.raises(KeyboardInterrupt):
            make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)
    assert mine.read_text() == "mine" and (tmp_path / ".demo_corpus_in_progress").is_file()
    make_demo_corpus(tmp_path, seed=0, size=micro_size, workers=1)
    assert mine.read_text() == "mine"
    assert "fec/notes.txt" not in json.loads((tmp_path / MARKER_NAME).read_text())["files"]


@pytest.mark.parametrize("content", ["[]", "not json", '"a string"'])
def test_a_marker_that_is_not_ours_is_a_clear_error(tmp_path, content):
    (tmp_path / MARKER_NAME).write_text(content)
    with pytest.raises(FileExistsError, match=r"demo_corpus\.json is not a record this generator wrote"):
        make_demo_corpus(tmp_path, seed=0, size="tiny")


def _render(params: ExpressionParams, style: str = "affectnet") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    appearance = sample_appearance(rng, style)
    scene = sample_scene(rng, style, width=128, height=128, aligned=True)
    rendered = render_face(params, appearance, scene, style=style, seed=1)
    return np.asarray(rendered.image, dtype=np.float64), rendered.landmarks


@pytest.mark.parametrize("style", ["affectnet", "rafdb"])
def test_each_expression_changes_the_face(style):
    neutral, neutral_points = _render(EXPRESSION_PROTOTYPES[0], style)
    for expression in range(1, 8):
        image, _ = _render(EXPRESSION_PROTOTYPES[expression], style)
        changed = np.abs(image - neutral).max(axis=2) > 30
        assert changed.sum() > 60, (style, expression)  # a visible change, not noise
    # Parameters act where they should: the smile lifts the mouth corners, raised brows go up,
    # wider eyes open the lids, and the contempt raise is one-sided.
    _, smile = _render(EXPRESSION_PROTOTYPES[1], style)
    assert smile[48, 1] < neutral_points[48, 1] - 2 and smile[54, 1] < neutral_points[54, 1] - 2
    _, surprise = _render(EXPRESSION_PROTOTYPES[3], style)
    assert surprise[19, 1] < neutral_points[19, 1] - 2
    assert (surprise[41, 1] - surprise[37, 1]) > (neutral_points[41, 1] - neutral_points[37, 1]) + 1
    _, contempt = _render(EXPRESSION_PROTOTYPES[7], style)
    assert contempt[54, 1] < neutral_points[54, 1] - 2 and abs(contempt[48, 1] - neutral_points[48, 1]) < 1


def test_valence_arousal_follow_the_expression():
    valence = [valence_arousal_of(p)[0] for p in EXPRESSION_PROTOTYPES]
    arousal = [valence_arousal_of(p)[1] for p in EXPRESSION_PROTOTYPES]
    assert valence[1] > 0.5 and all(valence[i] < -0.2 for i in (2, 5, 6))
    assert arousal[3] > 0.6 and arousal[4] > 0.4 and arousal[2] < 0 and abs(arousal[0]) < 0.05


def _pitch_and_loudness(wave: np.ndarray) -> tuple[float, float]:
    """Median pitch (autocorrelation peak, 80-400 Hz) and RMS over the loudest 64 ms frames."""
    frames = wave[: len(wave) // 1024 * 1024].reshape(-1, 1024).astype(np.float64)
    energy = np.sqrt((frames**2).mean(axis=1))
    loud = frames[energy >= np.quantile(energy, 0.75)]
    pitches = []
    for frame in loud:
        frame = frame - frame.mean()
        correlation = np.correlate(frame, frame, mode="full")[len(frame) - 1 :]
        lag = 40 + int(np.argmax(correlation[40:200]))  # 16 kHz / 400 Hz .. 16 kHz / 80 Hz
        pitches.append(16000 / lag)
    return float(np.median(pitches)), float(energy.mean())


def test_voice_follows_arousal():
    rng = np.random.default_rng(0)
    steps = 376  # 15 s
    arousal = np.where(np.arange(steps) < steps // 2, -0.7, 0.7)
    wave, mouth = demo_recola.synthesise_voice(rng, np.zeros(steps), arousal, 15.0)
    assert wave.dtype == np.float32 and len(wave) == 15 * 16000 and np.abs(wave).max() < 1
    calm_pitch, calm_loudness = _pitch_and_loudness(wave[: len(wave) // 2])
    excited_pitch, excited_loudness = _pitch_and_loudness(wave[len(wave) // 2 :])
    assert excited_loudness > 1.3 * calm_loudness
    assert excited_pitch > 1.15 * calm_pitch
    assert len(mouth) == steps and 0 <= mouth.min() and mouth.max() <= 1 and mouth.std() > 0.05


def test_every_loader_reads_the_demo_corpus(corpus):
    from hf_deepfever.data import load_affectnet, load_face_folder, load_fec, load_rafdb, load_recola

    root, summary = corpus
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        affectnet = load_affectnet(root / "affectnet")
        affectnet7 = load_affectnet(root / "affectnet", protocol=7)
        fec = load_fec(root / "fec")
        rafdb = load_rafdb(root / "rafdb")
        recola = load_recola(root / "recola")
        faces = load_face_folder(root / "unlabelled")
    messages = " ".join(str(w.message) for w in caught)
    assert "AffectNet" in messages and "NULL" in messages  # the NULL rows were skipped and counted
    for split in ("train", "validation"):
        expected = summary["affectnet"][split]
        assert len(affectnet[split]) == expected["rows_protocol_8"]
        assert len(affectnet7[split]) == expected["rows_protocol_7"]
        labels = np.array(affectnet[split]["expression"])
        assert labels.min() >= 0 and labels.max() == 7
        valence = np.array(affectnet[split]["valence"], dtype=np.float64)
        assert np.all(np.abs(valence) <= 1)
    for split in ("train", "test"):
        assert len(fec[split]) == summary["fec"][split]["loadable_rows"]
        assert set(fec[split]["odd_one_out"]) <= {0, 1, 2}
        assert len(rafdb[split]) == summary["rafdb"][split]["rows"]
        assert set(rafdb[split]["expression"]) <= set(range(7))
    for split in ("train", "dev", "test"):
        assert sorted(recola[split]["id"]) == sorted(summary["recola"][split]["ids"])
        for row in recola[split]:
            assert len(row["arousal"]) == summary["recola"][split]["label_rows"][row["id"]]
    assert len(faces) == summary["unlabelled"]["images"]
    image = affectnet["train"][0]["image"]
    assert os.path.isabs(affectnet["train"].with_format("arrow")[0]["image"][0]["path"].as_py()) and image.size[0] > 0

"""hf_deepfever.synthetic.layouts, the one writer of each publisher's layout: the exact bytes each function writes
(pinned here against the publishers' documented formats), raw lines kept as given, and atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from hf_deepfever.core.files import is_temporary_name
from hf_deepfever.data import fec_image_filename
from hf_deepfever.synthetic import layouts


def test_affectnet_list_bytes_and_paths(tmp_path):
    good = layouts.format_affectnet_row("1/a.jpg", (10, 12, 200, 210), [1.0, 2.5, 3.125], 1, 0.5, -2)
    null = layouts.format_affectnet_row("1/b.jpg", None, None, np.int64(3), np.float64(-0.25), "0.1")
    assert good == "1/a.jpg,10,12,200,210,1.00;2.50;3.12,1,0.500000,-2"
    assert null == "1/b.jpg,NULL,NULL,NULL,NULL,NULL,3,-0.250000,0.1"
    path = layouts.affectnet_list_path(tmp_path / "affectnet", "validation")
    assert path == tmp_path / "affectnet" / "Manually_Annotated_file_lists" / "validation.csv"
    layouts.write_affectnet_list(path, [good, "NULL", "1/c.jpg,1,2"], newline="\r\n")  # bad lines as given
    assert path.read_bytes() == (
        b"subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\r\n"
        b"1/a.jpg,10,12,200,210,1.00;2.50;3.12,1,0.500000,-2\r\nNULL\r\n1/c.jpg,1,2\r\n"
    )
    assert layouts.affectnet_list_path("r", "train") == Path("r/Manually_Annotated_file_lists/training.csv")
    assert layouts.affectnet_list_path("r", "automatic") == Path(
        "r/Automatically_Annotated_file_lists/automatically_annotated.csv"
    )
    assert layouts.affectnet_images_dir("r", "train") == Path("r/Manually_Annotated_Images")
    assert layouts.affectnet_images_dir("r", "automatic") == Path("r/Automatically_Annotated_Images")


def test_fec_line_bytes_and_paths(tmp_path):
    row = layouts.format_fec_row(
        ["http://x/1.jpg", "http://x/2.jpg", "http://x/3.jpg"],
        [(0.1, 0.9, 0.2, 0.8), ("0.1", "zz", "0.2", "0.8"), (0, 1, 0, 1)],
        "TWO_CLASS_TRIPLET",
        [(1234, 1), ("rater1", np.int64(3))],
    )
    assert row == (
        '"http://x/1.jpg",0.1000,0.9000,0.2000,0.8000,"http://x/2.jpg",0.1,zz,0.2,0.8,"http://x/3.jpg",0,1,0,1,'
        "TWO_CLASS_TRIPLET,1234,1,rater1,3"
    )
    path = layouts.write_fec_list(layouts.fec_list_path(tmp_path, "test"), [row, "NULL"])
    assert path == tmp_path / "FEC_dataset" / "faceexp-comparison-data-test-public.csv"
    assert path.read_text() == row + "\nNULL\n"  # no header line
    assert layouts.fec_image_path(tmp_path / "images", "http://x/1.jpg") == (
        tmp_path / "images" / fec_image_filename("http://x/1.jpg")
    )
    with pytest.raises(ValueError):  # three URLs need three boxes
        layouts.format_fec_row(["a", "b", "c"], [(0, 1, 0, 1)] * 2, "ONE_CLASS_TRIPLET", [])


def test_rafdb_list_bytes_and_paths(tmp_path):
    path = layouts.write_rafdb_list(
        layouts.rafdb_list_path(tmp_path), [layouts.format_rafdb_row("train_00001.jpg", 5), "test_0001.jpg x"]
    )
    assert path == tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt"
    assert path.read_text() == "train_00001.jpg 5\ntest_0001.jpg x\n"
    assert layouts.rafdb_aligned_path("r", "test_0001.jpg") == Path("r/basic/Image/aligned/test_0001_aligned.jpg")
    assert layouts.rafdb_original_path("r", "test_0001.jpg") == Path("r/basic/Image/original/test_0001.jpg")


def test_recola_files_bytes_and_paths(tmp_path):
    gold = layouts.recola_gold_standard_path(tmp_path, "arousal", "dev_1")
    assert gold == tmp_path / "ratings_gold_standard" / "arousal" / "dev_1.arff"
    rows = [layouts.format_arff_row("dev_1", time, value) for time, value in ((0.0, 0.5), (0.04, -0.25))]
    layouts.write_gold_standard(gold, "arousal", [*rows, layouts.format_arff_row("dev_1", 0.08, 0.0, quoted=True)])
    assert gold.read_text() == (
        "@relation GOLDSTANDARD_arousal\n\n@attribute Instance_name string\n@attribute frameTime numeric\n"
        "@attribute GoldStandard numeric\n\n@data\n\ndev_1,0.00,0.500000\ndev_1,0.04,-0.250000\n'dev_1',0.08,0.000000\n"
    )

    individual = layouts.recola_ratings_path(tmp_path, "valence", "dev_1")
    assert individual == tmp_path / "ratings_individual" / "valence" / "dev_1.csv"
    layouts.write_individual_ratings(individual, [layouts.format_ratings_row(0.04, np.arange(6) / 10)])
    assert individual.read_text() == (
        "time;FM1;FM2;FM3;FF1;FF2;FF3\n0.04;0.000000;0.100000;0.200000;0.300000;0.400000;0.500000\n"
    )
    original = layouts.recola_ratings_path(tmp_path, "valence", "P16", layout="original")
    assert original == tmp_path / "RECOLA-Annotation" / "emotional_behaviour" / "valence" / "P16.csv"
    layouts.write_individual_ratings(original, ["0.00;0.1;0.2"], raters=("FM1", "FF1"), layout="original")
    assert original.read_text() == "time;FM1 ;FF1 \n0.00;0.1;0.2\n"  # the original release's trailing spaces

    assert layouts.recola_audio_path("r", "P16", layout="original") == Path("r/RECOLA-Audio-recordings/P16.wav")
    assert layouts.recola_video_path("r", "train_1") == Path("r/recordings_video/train_1.mp4")
    for wrong in (lambda: layouts.recola_audio_path("r", "train_1", layout="avec2018"),
                  lambda: layouts.write_individual_ratings(tmp_path / "x.csv", [], layout="avec2018")):
        with pytest.raises(ValueError, match="layout must be one of"):
            wrong()

    wav = layouts.write_wav(layouts.recola_audio_path(tmp_path, "dev_1"), np.zeros(800, dtype=np.float32), 16000)
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 800, "PCM_16")


def test_writes_are_atomic_and_streamed(tmp_path):
    path = layouts.affectnet_list_path(tmp_path, "train")
    layouts.write_affectnet_list(path, ["1/a.jpg,1,2,3,4,NULL,1,0,0"])
    before = path.read_bytes()

    def failing_rows():
        yield "1/b.jpg,1,2,3,4,NULL,1,0,0"
        raise RuntimeError("stopped half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        layouts.write_affectnet_list(path, failing_rows())
    assert path.read_bytes() == before  # never a truncated list
    assert not [entry.name for entry in path.parent.iterdir() if is_temporary_name(entry.name)]
    layouts.write_affectnet_list(path, (f"{index}/x.jpg,NULL,NULL,NULL,NULL,NULL,1,0,0" for index in range(1000)))
    assert len(path.read_text().splitlines()) == 1001

"""`deepfever video` on tiny generated files: DeepFEVER-AV with audio, without audio, audio only; a DeepFEVER image
model; real faces followed by the package's detectors; rotation; bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_deepfever import DeepFeverConfig
from hf_deepfever.cli import main as cli
from hf_deepfever.models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.models.deepfever.image_processing_deepfever import DeepFeverImageProcessor
from hf_deepfever.models.deepfever.modeling_deepfever import DeepFeverForExpressionRecognition
from hf_deepfever.models.deepfever.modeling_deepfever_av import DeepFeverAVModel
from hf_deepfever.models.deepfever.processing_deepfever_av import DeepFeverAVProcessor
from hf_deepfever.video import FaceLocator, frames_at_steps, probe_video
from hf_deepfever.video.faces import centre_box

av = pytest.importorskip("av")

import video_media  # noqa: E402
from video_media import FPS, RATE, SECONDS, write_clip, write_media  # noqa: E402,F401  (write_media: test_app_video)

AV_COLUMNS = ["time_s", "valence", "arousal", "face_found", "audio_present", "face_x", "face_y", "face_w", "face_h",
              "detection_score"]  # fmt: skip


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("av_model")
    torch.manual_seed(0)
    vision = DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16)
    config = DeepFeverAVConfig(
        vision_config=vision, num_mel_bins=16, audio_context_frames=20, audio_channels=[4, 8],
        audio_embedding_dim=8, visual_projection_dim=8, fusion_dim=16, hidden_size=8,
    )
    DeepFeverAVModel(config).save_pretrained(folder)
    DeepFeverAVProcessor(
        DeepFeverImageProcessor(size={"height": 32, "width": 32}), DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def image_model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("image_model")
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16))
    model.save_pretrained(folder)
    DeepFeverImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _video(args: list[str], model: Path, output: Path, *extra: str) -> int:
    return cli(["video", *args, "--model", str(model), "--output", str(output), "--device", "cpu", *extra])


def test_decoding_helpers(tmp_path):
    media = write_media(tmp_path / "clip.mp4")
    info = probe_video(media)
    assert info.has_video and info.has_audio and info.frame_rate == FPS
    steps = [step for step, _ in frames_at_steps(media, 0.04)]
    assert steps == list(range(int(SECONDS * FPS) + 1))  # 30 frames at 25 fps: steps 0 ... 1.2 s
    # The audio track through the feature extractor's one reader: 1.2 s of AAC at 16 kHz.
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    assert abs(extractor.count_steps(media) - (SECONDS / 0.04 + 1)) <= 2
    assert not probe_video(write_media(tmp_path / "silent.mp4", audio=False)).has_audio


def test_video_with_audio_writes_trace_and_plot(tmp_path, model_dir, capsys):
    media = write_media(tmp_path / "clip.mp4")
    output, plot = tmp_path / "trace.csv", tmp_path / "trace.png"
    code = _video([str(media), "--plot", str(plot), "--face-detector", "centre"], model_dir, output)
    assert code == 0  # the generated video's face is a square: the centre crop stands in for a detector
    rows = _read(output)
    assert list(rows[0]) == AV_COLUMNS  # valence first, like extract
    times = [float(r["time_s"]) for r in rows]
    assert times[0] == 0.0 and np.allclose(np.diff(times), 0.04)  # one row every 40 ms
    assert len(rows) == 31 and times[-1] == SECONDS
    assert all(np.isfinite(float(r["arousal"])) and np.isfinite(float(r["valence"])) for r in rows)
    assert sum(int(r["face_found"]) for r in rows) == 31 and sum(int(r["audio_present"]) for r in rows) >= 30
    boxes = np.array([[float(r[k]) for k in ("face_x", "face_y", "face_w", "face_h")] for r in rows])
    assert np.allclose(boxes, centre_box(64, 64), atol=0.005)  # written with 2 decimals
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert "31 steps (1.20 s)" in capsys.readouterr().out


@pytest.mark.parametrize("output_names", [["valence", "arousal"], ["arousal", "valence"]])
def test_csv_columns_hold_what_they_name(tmp_path, model_dir, output_names):
    """A model whose head says valence 0.25 and arousal -0.5 at every step (in either unit order of its config)."""
    folder = tmp_path / "constant"
    model = DeepFeverAVModel.from_pretrained(model_dir)
    model.config.output_names = output_names
    values = {"valence": 0.25, "arousal": -0.5}
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([values[name] for name in output_names]))
    model.save_pretrained(folder)
    for name in ("processor_config.json", "preprocessor_config.json"):
        if (model_dir / name).is_file():
            (folder / name).write_text((model_dir / name).read_text())
    assert json.loads((folder / "config.json").read_text())["output_names"] == output_names
    output = tmp_path / "trace.csv"
    media = write_media(tmp_path / "clip.mp4")
    assert _video([str(media), "--face-detector", "centre"], folder, output) == 0
    rows = _read(output)
    assert {float(r["valence"]) for r in rows} == {0.25} and {float(r["arousal"]) for r in rows} == {-0.5}


def test_video_without_audio_runs_on_the_face(tmp_path, model_dir, capsys):
    media = write_media(tmp_path / "silent.mp4", audio=False)
    output = tmp_path / "trace.csv"
    assert _video([str(media), "--face-detector", "centre"], model_dir, output) == 0
    assert "no audio track" in capsys.readouterr().err
    rows = _read(output)
    assert len(rows) == 31 and all(r["audio_present"] == "0" for r in rows)
    assert all(r["face_found"] == "1" for r in rows)


def test_audio_only_file_runs_on_the_voice(tmp_path, model_dir, capsys):
    media = write_media(tmp_path / "voice.m4a", video=False)
    output = tmp_path / "trace.csv"
    assert _video([str(media), "--face-detector", "centre"], model_dir, output) == 0
    assert "no video stream" in capsys.readouterr().err
    rows = _read(output)
    assert len(rows) >= SECONDS * FPS - 1 and all(r["face_found"] == "0" for r in rows)
    assert all(r["face_x"] == "" for r in rows)


def test_image_model_traces_expressions_of_the_followed_face(tmp_path, image_model_dir, capsys):
    """A plain DeepFEVER image model: per step the expression probabilities, valence, arousal and the face box of
    the person chosen first (the other one grows larger halfway through)."""
    pytest.importorskip("cv2", reason="the [face] extra is part of the test install")
    media = write_clip(tmp_path / "two.mp4", video_media.two_people_frames(8), video_media.tone(8 / FPS))
    output, plot = tmp_path / "faces.csv", tmp_path / "faces.png"
    assert _video([str(media), "--face-detector", "haar", "--plot", str(plot)], image_model_dir, output) == 0
    err = capsys.readouterr().err
    assert "the audio track is not used" in err
    rows = _read(output)
    model = DeepFeverForExpressionRecognition.from_pretrained(image_model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert list(rows[0]) == ["time_s", "valence", "arousal", "expression", "probability", "face_found", "face_x",
                             "face_y", "face_w", "face_h", "detection_score", *(f"probability_{l}" for l in labels)]
    assert len(rows) == 9 and all(r["face_found"] == "1" for r in rows)
    assert all(float(r["face_x"]) < 200 for r in rows)  # the first-chosen (left) person all along
    for row in rows:
        probabilities = [float(row[f"probability_{label}"]) for label in labels]
        assert abs(sum(probabilities) - 1) < 1e-4 and row["expression"] == labels[int(np.argmax(probabilities))]
        assert -1 <= float(row["valence"]) <= 1 and -1 <= float(row["arousal"]) <= 1
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_image_model_predictions_are_those_of_the_face_crop(tmp_path, image_model_dir):
    """The trace's numbers are the model's on processor(frame, face_boxes=[box]) of the decoded frame: one path."""
    from hf_deepfever.video import predict_trace

    frames = video_media.one_person_frames(3)
    media = write_clip(tmp_path / "one.mp4", frames, video_codec="libx264rgb")
    model = DeepFeverForExpressionRecognition.from_pretrained(image_model_dir).eval()
    processor = DeepFeverImageProcessor.from_pretrained(image_model_dir)
    trace = predict_trace(model, processor, media, face_locator=FaceLocator("centre"))
    box = centre_box(300, 300)
    with torch.no_grad():
        expected = model(**processor(frames[1], face_boxes=[box], return_tensors="pt"))
    assert np.allclose(trace.probabilities[1], expected.logits.softmax(-1)[0].numpy(), atol=1e-5)
    assert np.isclose(trace.valence[1], float(expected.valence_arousal[0, 0]), atol=1e-5)
    assert np.isclose(trace.arousal[1], float(expected.valence_arousal[0, 1]), atol=1e-5)


def test_a_video_without_a_face_marks_every_step(tmp_path, model_dir, image_model_dir, capsys):
    pytest.importorskip("cv2")
    media = write_media(tmp_path / "squares.mp4")  # no face for a real detector
    output = tmp_path / "trace.csv"
    assert _video([str(media), "--face-detector", "haar"], model_dir, output) == 0
    assert "no face found in any frame: predicting from the voice alone" in capsys.readouterr().err
    rows = _read(output)
    assert len(rows) == 31 and all(r["face_found"] == "0" and r["face_x"] == "" for r in rows)
    assert all(np.isfinite(float(r["valence"])) for r in rows)  # the voice still speaks
    assert _video([str(media), "--face-detector", "haar"], image_model_dir, output) == 0
    assert "no face found in any frame: no predictions" in capsys.readouterr().err
    rows = _read(output)
    assert len(rows) == 31 and all(r["face_found"] == "0" and r["valence"] == "" and r["expression"] == "" for r in rows)


def test_faces_below_min_face_size_are_not_used(tmp_path, image_model_dir):
    pytest.importorskip("cv2")
    media = write_clip(tmp_path / "one.mp4", video_media.one_person_frames(3))
    output = tmp_path / "trace.csv"
    assert _video([str(media), "--face-detector", "haar", "--min-face-size", "40"], image_model_dir, output) == 0
    found = _read(output)
    assert all(r["face_found"] == "1" and 60 < float(r["face_w"]) < 160 for r in found)
    assert _video([str(media), "--face-detector", "haar", "--min-face-size", "200"], image_model_dir, output) == 0
    assert all(r["face_found"] == "0" for r in _read(output))


def test_a_missing_detector_extra_is_named(tmp_path, model_dir, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("no dlib (blocked by the test)")
        return real_import(name, *args, **kwargs)

    from hf_deepfever.models.deepfever import face_detection_deepfever as fd

    fd._cached_detector.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_dlib)
    media = write_media(tmp_path / "clip.mp4")
    assert _video([str(media), "--face-detector", "dlib"], model_dir, tmp_path / "t.csv") == 2
    assert "pip install dlib-bin" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_nan_audio_names_the_file_and_the_time(tmp_path, model_dir, capsys):
    audio = video_media.tone(1.0)
    audio[8000:8010] = np.nan  # 0.5 s in
    media = write_clip(tmp_path / "broken.mkv", video_media.square_frames(25), audio, audio_codec="pcm_f32le")
    assert _video([str(media), "--face-detector", "centre"], model_dir, tmp_path / "t.csv") == 2
    err = capsys.readouterr().err
    assert f"{media}: audio holds 10 NaN/infinite samples (first: NaN at 0.500 s, sample 8000 at 16000 Hz)" in err
    assert not (tmp_path / "t.csv").exists()


def test_rotated_video_gives_the_trace_of_the_upright_one(tmp_path, image_model_dir):
    """An MP4 stored sideways with a 90-degree display matrix: frames, boxes and predictions of the upright clip."""
    from hf_deepfever.video import predict_trace

    pytest.importorskip("cv2")
    upright = video_media.one_person_frames(4, size=(300, 340))  # portrait-shaped frames
    stored = [np.ascontiguousarray(np.rot90(frame, k=-1)) for frame in upright]  # turned clockwise on disk
    plain = write_clip(tmp_path / "upright.mp4", upright, video_codec="libx264rgb")
    rotated = write_clip(tmp_path / "rotated.mp4", stored, video_codec="libx264rgb", rotation=90)
    with av.open(str(rotated)) as container:  # the metadata is really in the file
        assert next(container.decode(video=0)).rotation == 90
    notes: list[str] = []
    decoded = [frame for _, frame in frames_at_steps(rotated, 0.04, notes=notes)]
    assert decoded[0].shape == upright[0].shape and np.array_equal(decoded[0], upright[0])
    assert notes == ["frames turned 90 degrees counter-clockwise by the stream's display matrix"]
    model = DeepFeverForExpressionRecognition.from_pretrained(image_model_dir).eval()
    processor = DeepFeverImageProcessor.from_pretrained(image_model_dir)
    traces = [predict_trace(model, processor, path, face_locator=FaceLocator("haar")) for path in (plain, rotated)]
    assert traces[0].face_found.all() and np.array_equal(traces[0].face_boxes, traces[1].face_boxes)
    assert np.allclose(traces[0].probabilities, traces[1].probabilities, atol=1e-6)
    assert np.allclose(traces[0].valence, traces[1].valence, atol=1e-6)


def test_bad_inputs_are_clear_errors(tmp_path, model_dir, image_model_dir, capsys):
    missing = ["video", str(tmp_path / "nope.mp4"), "--model", str(model_dir), "--output", str(tmp_path / "t.csv")]
    assert cli(missing) == 2 and "no such video file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    assert cli(["video", str(junk), "--model", str(model_dir), "--output", str(tmp_path / "t.csv")]) == 2
    assert "not a readable media file" in capsys.readouterr().err
    media = write_media(tmp_path / "clip.mp4")
    assert cli(["video", str(media), "--model", str(model_dir), "--output", str(tmp_path / "t.txt")]) == 2
    assert ".csv" in capsys.readouterr().err
    assert _video([str(media), "--face-detector", "hog"], model_dir, tmp_path / "t.csv") == 2
    assert "unknown face detector 'hog'" in capsys.readouterr().err
    assert _video([str(media), "--warmup-seconds", "-1"], model_dir, tmp_path / "t.csv") == 2
    assert "--warmup-seconds" in capsys.readouterr().err
    voice = write_media(tmp_path / "voice.m4a", video=False)
    assert _video([str(voice), "--face-detector", "centre"], image_model_dir, tmp_path / "t.csv") == 2
    assert "no video stream; a DeepFEVER image model reads faces" in capsys.readouterr().err


def test_runtime_options_are_checked_before_anything_is_read(tmp_path, model_dir, capsys):
    """--device goes through inference.devices.validate_runtime_arguments, like extract: named, before the model."""
    media = write_media(tmp_path / "clip.mp4")
    output = tmp_path / "t.csv"
    assert cli(["video", str(media), "--model", str(tmp_path / "no_model"), "--output", str(output), "--device", "bogus"]) == 2
    assert "--device 'bogus' is not a device" in capsys.readouterr().err  # refused before the missing model is read
    if not torch.cuda.is_available():
        assert _video([str(media)], model_dir, output, "--device", "cuda") == 2
        assert "--device cuda: CUDA is not available" in capsys.readouterr().err
    assert not output.exists()


@pytest.mark.parametrize("claimed_s", [1e7, 3600.0])
def test_steps_come_from_what_decodes_not_from_the_claimed_duration(tmp_path, model_dir, image_model_dir, capsys, claimed_s):
    """5 frames (0.2 s) in an MKV whose header claims 1e7 s (it used to try to allocate 16 GB) or one hour (it used
    to write 90,001 rows without a word): the trace has the steps that decode, and a note says what was claimed."""
    media = write_clip(tmp_path / "short.mkv", video_media.square_frames(5), video_media.tone(0.2), container_format="matroska")
    video_media.set_matroska_duration(media, claimed_s)
    assert probe_video(media).duration_s == pytest.approx(claimed_s)  # the claim is really in the file
    output = tmp_path / "trace.csv"
    note = f"the container claims {claimed_s:.2f} s but"
    assert _video([str(media), "--face-detector", "centre"], image_model_dir, output) == 0
    assert note in capsys.readouterr().err
    assert len(_read(output)) == 6  # steps 0 ... 0.2 s: the 5 frames, the last shown for one frame interval
    assert _video([str(media), "--face-detector", "centre"], model_dir, output) == 0
    assert note in capsys.readouterr().err
    rows = _read(output)
    # The AAC track decodes to 0.256 s (whole 1024-sample frames): 7 steps, the last one past the frames.
    assert len(rows) == 7 and [r["face_found"] for r in rows] == ["1"] * 6 + ["0"]
    assert all(r["audio_present"] == "1" for r in rows)

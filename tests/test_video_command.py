"""`deepfever video` on tiny generated files: with audio, without audio, audio only; bad inputs."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_deepfever import DeepFeverConfig
from hf_deepfever.cli import main as cli
from hf_deepfever.models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.models.deepfever.image_processing_deepfever import DeepFeverImageProcessor
from hf_deepfever.models.deepfever.modeling_deepfever_av import DeepFeverAVModel
from hf_deepfever.models.deepfever.processing_deepfever_av import DeepFeverAVProcessor
from hf_deepfever.video import decode_audio, frames_at_steps, probe_video

av = pytest.importorskip("av")

SECONDS, FPS, RATE = 1.2, 25, 16000


def write_media(path: Path, *, video: bool = True, audio: bool = True) -> Path:
    """A SECONDS-long file: a moving bright square on dark (25 fps), and/or a 220 Hz tone (AAC, 16 kHz)."""
    frames = int(SECONDS * FPS)
    with av.open(str(path), mode="w") as container:
        video_stream = audio_stream = None
        if video:
            video_stream = container.add_stream("mpeg4", rate=FPS)
            video_stream.width = video_stream.height = 64
            video_stream.pix_fmt = "yuv420p"
        if audio:
            audio_stream = container.add_stream("aac", rate=RATE)
            audio_stream.layout = "mono"
        if video_stream is not None:
            for index in range(frames):
                pixels = np.full((64, 64, 3), 30, dtype=np.uint8)
                pixels[10 + index % 20 : 40 + index % 20, 16:48] = 220
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, FPS)
                for packet in video_stream.encode(frame):
                    container.mux(packet)
            for packet in video_stream.encode():
                container.mux(packet)
        if audio_stream is not None:
            tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(SECONDS * RATE)) / RATE)).astype(np.float32)
            for start in range(0, tone.size, 1024):
                block = tone[start : start + 1024][None]
                frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                frame.sample_rate = RATE
                frame.pts = start
                frame.time_base = Fraction(1, RATE)
                for packet in audio_stream.encode(frame):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return path


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


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_decoding_helpers(tmp_path):
    media = write_media(tmp_path / "clip.mp4")
    info = probe_video(media)
    assert info.has_video and info.has_audio and info.frame_rate == FPS
    steps = [step for step, _ in frames_at_steps(media, 0.04)]
    assert steps[:3] == [0, 1, 2] and steps == sorted(set(steps)) and len(steps) >= SECONDS * FPS
    audio = decode_audio(media)
    assert audio.dtype == np.float32 and abs(audio.size - SECONDS * RATE) < 0.1 * RATE
    assert decode_audio(write_media(tmp_path / "silent.mp4", audio=False)) is None


def test_video_with_audio_writes_trace_and_plot(tmp_path, model_dir, capsys):
    media = write_media(tmp_path / "clip.mp4")
    output, plot = tmp_path / "trace.csv", tmp_path / "trace.png"
    code = cli(["video", str(media), "--model", str(model_dir), "--output", str(output), "--plot", str(plot), "--device", "cpu",
               "--face-detector", "centre"])  # the generated video's face is synthetic: no Haar detection
    assert code == 0
    rows = _read(output)
    assert list(rows[0]) == ["time_s", "valence", "arousal", "face_found", "audio_present"]  # valence first, like extract
    times = [float(r["time_s"]) for r in rows]
    assert times[0] == 0.0 and np.allclose(np.diff(times), 0.04)  # one row every 40 ms
    assert abs(times[-1] - SECONDS) <= 0.1
    assert all(np.isfinite(float(r["arousal"])) and np.isfinite(float(r["valence"])) for r in rows)
    assert sum(int(r["face_found"]) for r in rows) >= SECONDS * FPS - 1
    assert sum(int(r["audio_present"]) for r in rows) >= SECONDS * FPS - 1
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("output_names", [["valence", "arousal"], ["arousal", "valence"]])
def test_csv_columns_hold_what_they_name(tmp_path, model_dir, output_names):
    """A model whose head says valence 0.25 and arousal -0.5 at every step (in either unit order of its config)."""
    import json

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
    assert cli(["video", str(media), "--model", str(folder), "--output", str(output), "--device", "cpu",
                "--face-detector", "centre"]) == 0
    rows = _read(output)
    assert {float(r["valence"]) for r in rows} == {0.25} and {float(r["arousal"]) for r in rows} == {-0.5}


def test_video_without_audio_runs_on_the_face(tmp_path, model_dir, capsys):
    media = write_media(tmp_path / "silent.mp4", audio=False)
    output = tmp_path / "trace.csv"
    assert cli(["video", str(media), "--model", str(model_dir), "--output", str(output), "--device", "cpu",
                "--face-detector", "centre"]) == 0
    assert "no audio track" in capsys.readouterr().err
    rows = _read(output)
    assert len(rows) >= SECONDS * FPS and all(r["audio_present"] == "0" for r in rows)
    assert all(r["face_found"] == "1" for r in rows[: int(SECONDS * FPS)])


def test_audio_only_file_runs_on_the_voice(tmp_path, model_dir, capsys):
    media = write_media(tmp_path / "voice.m4a", video=False)
    output = tmp_path / "trace.csv"
    assert cli(["video", str(media), "--model", str(model_dir), "--output", str(output), "--device", "cpu",
                "--face-detector", "centre"]) == 0
    assert "no video stream" in capsys.readouterr().err
    rows = _read(output)
    assert len(rows) >= SECONDS * FPS - 1 and all(r["face_found"] == "0" for r in rows)


def test_bad_inputs_are_clear_errors(tmp_path, model_dir, capsys):
    missing = ["video", str(tmp_path / "nope.mp4"), "--model", str(model_dir), "--output", str(tmp_path / "t.csv")]
    assert cli(missing) == 2 and "no such video file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    assert cli(["video", str(junk), "--model", str(model_dir), "--output", str(tmp_path / "t.csv")]) == 2
    assert "not a readable media file" in capsys.readouterr().err
    media = write_media(tmp_path / "clip.mp4")
    assert cli(["video", str(media), "--model", str(model_dir), "--output", str(tmp_path / "t.txt")]) == 2
    assert ".csv" in capsys.readouterr().err

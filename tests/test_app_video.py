"""The app with a DeepFEVER-AV model: video traces (plot + CSV) and photos through its visual stream."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib
import PIL.Image
import pytest
import torch

pytest.importorskip("av")

from test_video_command import write_media  # noqa: E402  (the tiny media files of the video tests)

GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def av_model_dir(tmp_path_factory) -> str:
    from hf_deepfever import DeepFeverConfig
    from hf_deepfever.models.deepfever import (
        DeepFeverAudioFeatureExtractor,
        DeepFeverAVConfig,
        DeepFeverAVModel,
        DeepFeverAVProcessor,
        DeepFeverImageProcessor,
    )

    folder = tmp_path_factory.mktemp("av_model")
    torch.manual_seed(0)
    config = DeepFeverAVConfig(
        vision_config=DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16),
        num_mel_bins=16, audio_context_frames=20, audio_channels=[4, 8], audio_embedding_dim=8,
        visual_projection_dim=8, fusion_dim=16, hidden_size=8,
    )
    DeepFeverAVModel(config).save_pretrained(folder)
    DeepFeverAVProcessor(
        DeepFeverImageProcessor(size={"height": 32, "width": 32}), DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    ).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def service(av_model_dir, tmp_path_factory):
    from hf_deepfever.app import ExpressionApp

    return ExpressionApp(av_model_dir, work_dir=str(tmp_path_factory.mktemp("app_work")))


def test_video_gives_the_trace_plot_and_its_csv(service, tmp_path):
    assert service.supports_video
    view = service.video(str(write_media(tmp_path / "clip.mp4")))
    assert view.status.startswith("**31 steps (1.2 s)**"), view.status
    with open(view.csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 31 and list(rows[0]) == [
        "time_s", "valence", "arousal", "face_found", "audio_present", "face_x", "face_y", "face_w", "face_h",
        "detection_score",
    ]
    assert all(-1 <= float(row["valence"]) <= 1 for row in rows)
    assert PIL.Image.open(view.plot).format == "PNG"
    assert Path(view.csv).parent == service.work_dir


def test_unreadable_video_says_so(service, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    view = service.video(str(broken))
    assert view.status.startswith("**Cannot read this file as a video:**") and view.csv is None


def test_photos_go_through_the_visual_stream_as_vectors_only(service):
    view = service.photo(str(GRACE_HOPPER))
    assert view.status.startswith("**1 face found.** This model has no expression heads"), view.status
    assert view.table[0][1] == "(no expression heads)" and view.scores is None and view.circumplex is None

"""DeepFEVER-AV traces without seams: a long file runs in windows of ``chunk_steps`` with ``warmup_steps`` of context
on both sides, and the joined trace equals one pass over the whole file.

Measured on the 8 s clip below (201 steps, windows of 30 steps, the tiny random model with its head scaled so the
trace moves by up to 0.13 from one step to the next): largest difference to the single pass 0.154 without warm-up
(at steps 30, 60, 90 ...: the borders, what restarting the recurrent network every window did), 2.5e-3 with 10 steps,
3.3e-5 with 20, 7e-8 with 40, 0 with the default 250.
"""

from __future__ import annotations

import csv

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
from hf_deepfever.video import FaceLocator, predict_trace

pytest.importorskip("av")

import video_media  # noqa: E402

CHUNK = 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("windows")
    media = video_media.write_clip(
        folder / "long.mkv", video_media.square_frames(200), video_media.voice_like(8.0), audio_codec="pcm_s16le"
    )
    torch.manual_seed(0)
    config = DeepFeverAVConfig(
        vision_config=DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16),
        num_mel_bins=16, audio_context_frames=20, audio_channels=[4, 8], audio_embedding_dim=8,
        visual_projection_dim=8, fusion_dim=16, hidden_size=8,
    )  # fmt: skip
    model = DeepFeverAVModel(config).eval()
    assert config.bidirectional  # context from both sides of a border matters
    with torch.no_grad():
        model.head.weight.mul_(5000.0)  # a random model's trace barely moves; make it move so a seam shows
    processor = DeepFeverAVProcessor(
        DeepFeverImageProcessor(size={"height": 32, "width": 32}), DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    )
    single = predict_trace(model, processor, media, face_locator=FaceLocator("centre"), chunk_steps=10**6)
    assert len(single.time) == 201 and np.abs(np.diff(single.valence)).max() > 0.05
    return media, model, processor, single


def _difference(trace, single) -> np.ndarray:
    assert len(trace.time) == len(single.time)
    assert np.array_equal(trace.face_found, single.face_found) and np.array_equal(trace.audio_present, single.audio_present)
    return np.maximum(np.abs(trace.valence - single.valence), np.abs(trace.arousal - single.arousal))


@pytest.mark.parametrize("warmup_steps", [40, 250])
def test_windows_with_warmup_join_without_seams(clip, warmup_steps):
    media, model, processor, single = clip
    trace = predict_trace(
        model, processor, media, face_locator=FaceLocator("centre"), chunk_steps=CHUNK, warmup_steps=warmup_steps
    )
    assert _difference(trace, single).max() <= 1e-5


def test_without_warmup_the_borders_show_the_seams_that_warmup_removes(clip):
    """What restarting the network at every window did: the largest errors sit at the window borders."""
    media, model, processor, single = clip
    trace = predict_trace(model, processor, media, face_locator=FaceLocator("centre"), chunk_steps=CHUNK, warmup_steps=0)
    difference = _difference(trace, single)
    assert difference.max() > 0.05
    borders = {step for border in range(CHUNK, len(difference), CHUNK) for step in (border - 1, border)}
    assert set(np.argsort(difference)[-3:].tolist()) <= borders


def test_the_command_line_windows_match_one_pass(clip, tmp_path):
    """`--chunk-seconds 1.2` (30 steps) with the default `--warmup-seconds` gives the CSV of one 60 s window."""
    media, model, processor, _ = clip
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)

    def rows(*options: str) -> list[dict[str, str]]:
        output = tmp_path / "trace.csv"
        arguments = ["video", str(media), "--model", str(folder), "--output", str(output), "--device", "cpu"]
        assert cli([*arguments, "--face-detector", "centre", *options]) == 0
        with open(output, newline="") as handle:
            return list(csv.DictReader(handle))

    one_pass, windowed = rows(), rows("--chunk-seconds", "1.2")
    assert len(one_pass) == 201
    for name in ("valence", "arousal"):
        difference = max(abs(float(a[name]) - float(b[name])) for a, b in zip(one_pass, windowed))
        assert difference <= 2e-6, name  # the CSV's 6 decimals
    seams = rows("--chunk-seconds", "1.2", "--warmup-seconds", "0")
    assert max(abs(float(a["valence"]) - float(b["valence"])) for a, b in zip(one_pass, seams)) > 1e-3

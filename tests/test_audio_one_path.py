"""One audio path: a recording gives the same DeepFEVER-AV features through training (``RecordingChunks``), the
processor (arrays or files) and ``deepfever video`` (``predict_trace``'s model inputs), at 16 kHz and at 44.1 kHz.

The decoder is one reader (``open_audio``): soundfile for uncompressed / lossless sound files, PyAV for every other
container. For the files both can read, the two give identical samples (checked here for every lossless subtype),
so which one reads a WAV does not matter; the resampler is one (``SincResampler``).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

import video_media
from hf_deepfever import DeepFeverConfig
from hf_deepfever.models.deepfever import feature_extraction_deepfever_av as fe
from hf_deepfever.models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.models.deepfever.image_processing_deepfever import DeepFeverImageProcessor
from hf_deepfever.models.deepfever.modeling_deepfever_av import DeepFeverAVModel
from hf_deepfever.models.deepfever.processing_deepfever_av import DeepFeverAVProcessor
from hf_deepfever.training.av_data import RecordingChunks, recordings_from_split
from hf_deepfever.video import FaceLocator, predict_trace

pytest.importorskip("av")

TOLERANCE = 1e-5  # the bound; measured: 0 (bit-identical) for these paths


@pytest.mark.parametrize(
    ("container", "subtype"),
    [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "PCM_U8"), ("WAV", "FLOAT"), ("WAV", "DOUBLE"),
     ("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("AIFF", "PCM_16")],
)  # fmt: skip
def test_soundfile_and_pyav_read_identical_samples(tmp_path, container, subtype):
    stereo = np.clip(np.random.default_rng(0).standard_normal((5000, 2)) * 0.3, -1, 1).astype(np.float32)
    path = tmp_path / f"clip.{container.lower()}"
    soundfile.write(path, stereo, 22050, format=container, subtype=subtype)
    by_soundfile = fe._SoundFileAudio.open(str(path))
    by_pyav = fe._MediaAudio(str(path))
    try:
        assert by_soundfile is not None and by_soundfile.rate == by_pyav.rate == 22050
        a, b = by_soundfile.read(0, 10**6), by_pyav.read(0, 10**6)
    finally:
        by_soundfile.close()
        by_pyav.close()
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape == (5000,)
    assert np.array_equal(a, b)
    # ... and both are what soundfile's own float conversion gives.
    assert np.array_equal(a, soundfile.read(path, dtype="float32", always_2d=True)[0].mean(axis=1, dtype=np.float32))


def test_lossy_and_video_files_go_through_pyav(tmp_path):
    media = video_media.write_media(tmp_path / "clip.mp4")
    assert fe._SoundFileAudio.open(str(media)) is None
    with fe.open_audio(media) as source:
        assert isinstance(source, fe._MediaAudio) and source.rate == 16000 and source.total is None
    with fe.open_audio(tmp_path / "clip.mp4") as source:
        source.read(0, 10**7)
        assert abs(source.total - 1.2 * 16000) < 0.1 * 16000


@pytest.fixture(scope="module")
def av_parts():
    torch.manual_seed(0)
    config = DeepFeverAVConfig(
        vision_config=DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16),
        num_mel_bins=16, audio_context_frames=20, audio_channels=[4, 8], audio_embedding_dim=8,
        visual_projection_dim=8, fusion_dim=16, hidden_size=8,
    )
    processor = DeepFeverAVProcessor(
        DeepFeverImageProcessor(size={"height": 32, "width": 32}), DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    )
    return DeepFeverAVModel(config).eval(), processor


def _video_path_features(model, processor, media, chunk_steps):
    """The audio features `deepfever video` feeds the model (predict_trace's windows, without warm-up), per step."""
    seen = []
    forward = model.forward

    def spy(**inputs):
        keep = inputs["audio_mask"][0]
        seen.append(inputs["input_features"][0][keep])
        return forward(**inputs)

    model.forward = spy
    try:
        trace = predict_trace(model, processor, media, face_locator=FaceLocator("centre"), chunk_steps=chunk_steps, warmup_steps=0)
    finally:
        del model.forward
    assert len(seen) >= 3  # the recording spans several windows
    return torch.cat(seen), trace


@pytest.mark.parametrize("rate", [16000, 44100])
def test_one_recording_gives_the_same_features_everywhere(tmp_path, av_parts, rate):
    model, processor = av_parts
    extractor = processor.feature_extractor
    samples = np.round(video_media.voice_like(3.3, rate) * 32767).astype(np.int16)
    wav = tmp_path / "recording.wav"
    soundfile.write(wav, samples, rate, subtype="PCM_16")
    # The same samples as the audio track of a video (PCM in Matroska), next to 25 fps frames.
    media = video_media.write_clip(
        tmp_path / "recording.mkv", video_media.square_frames(82), samples, audio_rate=rate, audio_codec="pcm_s16le"
    )

    # Training: recordings on the extractor's step grid, chunks read by RecordingChunks.
    row = {"id": "r", "audio": str(wav), "video": None, "time": [], "valence": [], "arousal": []}
    (recording,) = recordings_from_split([row], extractor)
    recording.visual, recording.face_mask = torch.zeros((recording.num_steps, 16)), torch.zeros(recording.num_steps, dtype=torch.bool)
    chunks = RecordingChunks([recording], extractor, chunk_steps=20)
    training = torch.cat([chunks[i]["input_features"][chunks[i]["attention_mask"].bool()] for i in range(len(chunks))])

    # The processor, from the array and from the file.
    from_array = processor(audio=samples, sampling_rate=rate)["input_features"][0]
    from_file = processor(audio=str(wav))["input_features"][0]

    # deepfever video on the Matroska file.
    video, trace = _video_path_features(model, processor, media, chunk_steps=30)

    assert recording.num_steps == from_array.shape[0] == 83 == video.shape[0] == int(trace.audio_present.sum())
    for name, features in (("training", training), ("processor file", from_file), ("deepfever video", video)):
        difference = float((features - from_array).abs().max())
        assert difference <= TOLERANCE, (name, difference)


def test_iter_chunks_of_a_video_track_equal_its_whole_features(tmp_path):
    """A compressed (AAC) track read as the chunks go equals the processor's features of the same file."""
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    media = video_media.write_clip(tmp_path / "clip.mp4", video_media.square_frames(40), video_media.voice_like(1.6))
    whole = extractor(str(media))["input_features"][0]
    chunks = list(extractor.iter_chunks(media, chunk_steps=7))
    assert [chunk["first_step"] for chunk in chunks] == list(range(0, whole.shape[0], 7))
    assert torch.equal(torch.cat([chunk["input_features"][0] for chunk in chunks]), whole)
    assert extractor.count_steps(media) == whole.shape[0]

"""DeepFeverAudioFeatureExtractor: shapes, 40 ms step alignment, padding, resampling, chunking, bad audio."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor, resample

RATE = 16000


@pytest.fixture(scope="module")
def extractor() -> DeepFeverAudioFeatureExtractor:
    return DeepFeverAudioFeatureExtractor(feature_size=32, context_ms=200)


def _noise(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def test_shapes_and_step_count(extractor):
    out = extractor(_noise(2.0), sampling_rate=RATE)
    # Steps centred at 0, 40, ..., 2000 ms: 51 of them (RECOLA's 300 s give 7,501 like its label rows).
    assert out["input_features"].shape == (1, 51, 32, 20)
    assert out["input_features"].dtype == torch.float32
    assert out["attention_mask"].tolist() == [[1] * 51]
    assert extractor.num_steps(300 * RATE) == 7501


def test_windows_are_centred_on_their_step(extractor):
    # A click at exactly 1.0 s: its energy must peak in the centre column of step 25 (= 1000 ms / 40 ms).
    audio = np.zeros(2 * RATE, dtype=np.float32)
    audio[RATE] = 1.0
    features = extractor(audio, sampling_rate=RATE)["input_features"][0]  # (steps, mels, context)
    energy = features.mean(dim=1)  # (steps, context)
    centre = extractor.context_frames // 2
    assert int(energy[:, centre].argmax()) == 25
    # One step later the click sits 40 ms (4 frames of 10 ms) earlier in the window.
    assert int(energy[26].argmax()) == centre - 4
    # Context before the start of the recording is silence.
    assert torch.allclose(features[0, :, :centre - 2], torch.full_like(features[0, :, :centre - 2], extractor.silence_value))


def test_step_size_is_configurable():
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, step_ms=100, context_ms=300)
    out = extractor(_noise(1.0), sampling_rate=RATE)
    assert out["input_features"].shape == (1, 11, 16, 30)


def test_batch_is_padded_with_a_per_step_mask(extractor):
    out = extractor([_noise(1.0), _noise(0.4, seed=1)], sampling_rate=RATE)
    assert out["input_features"].shape == (2, 26, 32, 20)
    assert out["attention_mask"].sum(1).tolist() == [26, 11]
    assert torch.all(out["input_features"][1, 11:] == extractor.padding_value)
    single = extractor(_noise(0.4, seed=1), sampling_rate=RATE)["input_features"][0]
    assert torch.allclose(out["input_features"][1, :11], single)
    as_numpy = extractor([_noise(1.0)], sampling_rate=RATE, return_tensors="np")
    assert isinstance(as_numpy["input_features"], np.ndarray)


def test_stereo_and_integer_audio_become_mono_float(extractor):
    mono = _noise(0.5)
    stereo = np.stack([mono, mono], axis=1)
    assert torch.allclose(
        extractor(stereo, sampling_rate=RATE)["input_features"], extractor(mono, sampling_rate=RATE)["input_features"]
    )
    as_int16 = (mono * 32767).astype(np.int16)
    features = extractor(as_int16, sampling_rate=RATE)["input_features"]
    assert torch.allclose(features, extractor(mono, sampling_rate=RATE)["input_features"], atol=1e-2)


def test_resampler_matches_a_native_16k_signal():
    seconds = 1.0
    native = np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE).astype(np.float32)
    at_44k = np.sin(2 * np.pi * 440 * np.arange(int(seconds * 44100)) / 44100).astype(np.float32)
    converted = resample(at_44k, 44100, RATE)
    assert converted.shape[0] == RATE
    assert float((converted[50:-50] - torch.from_numpy(native)[50:-50]).abs().max()) < 1e-3
    # A tone above the new Nyquist (10 kHz > 8 kHz) must be filtered out, not aliased to 6 kHz.
    high = np.sin(2 * np.pi * 10000 * np.arange(44100) / 44100).astype(np.float32)
    assert float(resample(high, 44100, RATE)[100:-100].abs().max()) < 0.02


def test_features_at_other_rates_equal_16k_features():
    extractor = DeepFeverAudioFeatureExtractor(feature_size=32, context_ms=200)
    rng = np.random.default_rng(3)
    # Band-limited noise (below 4 kHz) so both rates hold the same signal.
    spectrum = np.zeros(RATE // 2 + 1, dtype=complex)
    spectrum[100:4000] = rng.standard_normal(3900) + 1j * rng.standard_normal(3900)
    at_16k = np.fft.irfft(spectrum, n=RATE).astype(np.float32)
    at_48k = resample(at_16k, RATE, 48000).numpy()
    a = extractor(at_16k, sampling_rate=RATE)["input_features"]
    b = extractor(at_48k, sampling_rate=48000)["input_features"]
    assert a.shape == b.shape
    assert float((a - b).abs()[:, 2:-2].mean()) < 0.05


def test_iter_chunks_equals_whole_recording(extractor, tmp_path):
    audio = _noise(3.0)
    whole = extractor(audio, sampling_rate=RATE)["input_features"][0]
    chunks = list(extractor.iter_chunks(audio, RATE, chunk_steps=16))
    assert [c["first_step"] for c in chunks] == list(range(0, whole.shape[0], 16))
    assert torch.allclose(torch.cat([c["input_features"][0] for c in chunks]), whole, atol=1e-4)
    # From a file: read block by block with soundfile, same result.
    path = tmp_path / "clip.wav"
    soundfile.write(path, audio, RATE, subtype="FLOAT")
    from_file = torch.cat([c["input_features"][0] for c in extractor.iter_chunks(path, chunk_steps=40)])
    assert torch.allclose(from_file, whole, atol=1e-4)


def test_iter_chunks_reads_blocks_not_the_whole_file(extractor, tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    soundfile.write(path, _noise(4.0), RATE)
    largest: list[int] = []
    original_read = soundfile.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        largest.append(frames)
        return original_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", spy)
    steps = sum(c["input_features"].shape[1] for c in extractor.iter_chunks(path, chunk_steps=10))
    assert steps == extractor.num_steps(4 * RATE)
    assert largest and max(largest) < RATE  # each block < 1 s of the 4 s file


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        ([], "empty"),
        (np.array([0.0, np.nan, 0.1], dtype=np.float32), "NaN"),
        (np.array([0.0, 0.1, np.inf], dtype=np.float32), "infinite"),
        (np.zeros((3, 3, 3), dtype=np.float32), "1-D"),
        (np.array(["a", "b"]), "numeric"),
    ],
)
def test_bad_audio_is_rejected_clearly(extractor, audio, message):
    with pytest.raises((ValueError, TypeError), match=message):
        extractor(audio, sampling_rate=RATE)


def test_bad_item_in_a_batch_is_named(extractor):
    with pytest.raises(ValueError, match="audio item 1.*NaN"):
        extractor([_noise(0.2), np.full(100, np.nan, dtype=np.float32)], sampling_rate=RATE)


def test_too_long_audio_points_to_the_chunking_api():
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, max_duration_s=1.0)
    with pytest.raises(ValueError, match="iter_chunks"):
        extractor(_noise(1.5), sampling_rate=RATE)
    # The chunking API has no such limit.
    assert sum(c["attention_mask"].shape[1] for c in extractor.iter_chunks(_noise(1.5), RATE, chunk_steps=8)) == 38


def test_save_and_reload_keep_settings_not_arrays(extractor, tmp_path):
    extractor.save_pretrained(tmp_path)
    saved = (tmp_path / "preprocessor_config.json").read_text()
    assert "mel_filters" not in saved and '"window"' not in saved
    loaded = DeepFeverAudioFeatureExtractor.from_pretrained(tmp_path)
    audio = _noise(0.5)
    assert torch.equal(loaded(audio, sampling_rate=RATE)["input_features"], extractor(audio, sampling_rate=RATE)["input_features"])


def test_step_features_read_any_step_range(extractor, tmp_path):
    audio = _noise(2.0)
    whole = extractor(audio, sampling_rate=RATE)["input_features"][0]
    path = tmp_path / "clip.wav"
    soundfile.write(path, audio, RATE, subtype="FLOAT")
    assert torch.allclose(extractor.step_features(path, 7, 12), whole[7:19], atol=1e-4)
    assert torch.allclose(extractor.step_features(audio, 0, 5, sampling_rate=RATE), whole[:5], atol=1e-4)
    # Steps past the end of the recording: context is silence.
    beyond = extractor.step_features(path, whole.shape[0] + 10, 2)
    assert torch.allclose(beyond, torch.full_like(beyond, extractor.silence_value))


# ---------------------------------------------------------------------------------------------------------------
# The resampler: quality, agreement with a direct evaluation of its definition, any rate
# ---------------------------------------------------------------------------------------------------------------

from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import (  # noqa: E402
    EmptyAudioError,
    SincResampler,
    samples_to_float,
)

RATES = [44100, 48000, 8000, 22050, 16001, 44101]


def _sine(rate: int, seconds: float, start_hz: float, stop_hz: float | None = None) -> np.ndarray:
    """A tone, or a linear sweep from start_hz to stop_hz."""
    t = np.arange(int(round(seconds * rate))) / rate
    stop_hz = start_hz if stop_hz is None else stop_hz
    return np.sin(2 * np.pi * (start_hz * t + (stop_hz - start_hz) * t**2 / (2 * seconds))).astype(np.float32)


def _reference(signal: np.ndarray, orig: int, new: int, width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """The resampler's definition evaluated directly in float64: output n = sum over the input samples k within
    `width` zero crossings of the Hann-windowed sinc low-pass (cutoff rolloff * min rate / 2) at k/orig - n/new."""
    cutoff = min(orig, new) * rolloff
    length = -(-len(signal) * new // orig)
    out = np.zeros(length)
    k = np.arange(len(signal))
    for n in range(length):
        u = cutoff * (k / orig - n / new)
        near = np.abs(u) < width
        x = np.pi * u[near]
        sinc = np.where(x == 0, 1.0, np.sin(x) / np.where(x == 0, 1.0, x))
        out[n] = (signal[near] * sinc * np.cos(x / (2 * width)) ** 2).sum() * cutoff / orig
    return out


@pytest.mark.parametrize("orig", RATES)
def test_resampler_equals_its_definition(orig):
    signal = np.random.default_rng(orig).standard_normal(orig // 40).astype(np.float32)  # 25 ms of noise
    expected = _reference(signal.astype(np.float64), orig, RATE)
    assert float(np.abs(resample(signal, orig, RATE).numpy() - expected).max()) < 1e-5
    # Both evaluations (a polyphase convolution when the rates have few phases, blocks of gathered taps otherwise)
    # give the same samples.
    by_blocks = SincResampler(orig, RATE)
    by_blocks._polyphase = None
    assert float(np.abs(by_blocks(signal, 0, 0, len(expected)).numpy() - expected).max()) < 1e-5


@pytest.mark.parametrize("orig", RATES)
def test_resampler_keeps_tones_and_sweeps_and_removes_what_would_alias(orig):
    seconds, edge = 0.5, 200  # the first and last samples see the recording's zero padding
    for start, stop, bound in ((440.0, None, 2e-3), (100.0, min(5000.0, 0.3 * orig), 0.015)):
        converted = resample(_sine(orig, seconds, start, stop), orig, RATE).numpy()
        native = _sine(RATE, seconds, start, stop)
        assert converted.shape == native.shape
        assert float(np.abs(converted - native)[edge:-edge].max()) < bound, (start, stop)
    if orig > 2 * 10_000:  # a 10 kHz tone is above the new Nyquist frequency (8 kHz): removed, not folded to 6 kHz
        assert float(np.abs(resample(_sine(orig, seconds, 10_000.0), orig, RATE).numpy())[edge:-edge].max()) < 0.01


def test_any_range_of_outputs_equals_the_whole():
    signal = np.random.default_rng(1).standard_normal(44101).astype(np.float32)
    for orig in (44100, 44101):
        resampler = SincResampler(orig, RATE)
        whole = resampler(signal, 0, 0, resampler.output_length(len(signal)))
        start, stop = resampler.input_span(5000, 7000)
        part = resampler(signal[start:stop], start, 5000, 2000)
        assert torch.equal(part, whole[5000:7000])


def test_resampler_rates_are_checked():
    with pytest.raises(ValueError, match="orig_sr must be a whole number of Hz"):
        resample(np.zeros(10), 44100.5, RATE)
    with pytest.raises(ValueError, match="orig_sr"):
        resample(np.zeros(10), 0, RATE)
    with pytest.raises(ValueError, match="1-1000000"):
        resample(np.zeros(10), 4_000_000_000, RATE)


# ---------------------------------------------------------------------------------------------------------------
# Samples, files, counts
# ---------------------------------------------------------------------------------------------------------------


def test_integer_samples_are_scaled_by_their_type_like_sound_files(tmp_path):
    assert samples_to_float(np.array([-32768, 0, 16384], dtype=np.int16)).tolist() == [-1.0, 0.0, 0.5]
    assert samples_to_float(np.array([0, 128, 192], dtype=np.uint8)).tolist() == [-1.0, 0.0, 0.5]
    assert samples_to_float(np.array([-(2**31), 2**30], dtype=np.int32)).tolist() == [-1.0, 0.5]
    ints = (np.random.default_rng(0).standard_normal(RATE) * 5000).astype(np.int16)
    path = tmp_path / "ints.wav"
    soundfile.write(path, ints, RATE, subtype="PCM_16")
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    assert torch.equal(extractor(ints, sampling_rate=RATE)["input_features"], extractor(str(path))["input_features"])


def test_files_are_read_at_their_own_rate(extractor, tmp_path):
    audio = _noise(1.0, 44100)
    path = tmp_path / "clip.wav"
    soundfile.write(path, audio, 44100, subtype="FLOAT")
    assert torch.equal(extractor(str(path))["input_features"], extractor(audio, sampling_rate=44100)["input_features"])
    assert extractor.count_steps(path) == extractor.num_steps(44100, 44100) == 26
    with pytest.raises(ValueError, match="the file's sampling rate is 44100 Hz, not the 16000 Hz given"):
        extractor.step_features(path, 0, 2, sampling_rate=RATE)


def test_empty_files_and_missing_files_are_named(extractor, tmp_path):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), RATE)
    with pytest.raises(EmptyAudioError, match="empty.wav: audio is empty"):
        next(extractor.iter_chunks(empty))
    with pytest.raises(EmptyAudioError, match="empty.wav: audio is empty"):
        extractor(str(empty))
    with pytest.raises(FileNotFoundError, match="nope.wav: no such audio or video file"):
        extractor.count_steps(tmp_path / "nope.wav")


def test_nan_in_a_file_names_the_file_and_the_time(extractor, tmp_path):
    audio = _noise(2.0)
    audio[24000] = np.nan
    path = tmp_path / "bad.wav"
    soundfile.write(path, audio, RATE, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"bad\.wav: audio holds 1 NaN/infinite samples \(first: NaN at 1\.500 s"):
        extractor.step_features(path, 30, 10)
    assert extractor.step_features(path, 0, 5).shape[0] == 5  # the first steps do not read that sample


def test_pad_is_transformers_own(extractor):
    """`pad()` (inherited from SequenceFeatureExtractor) works: the extractor's batching helper does not shadow the
    `_pad` it calls (it once did, so `pad` raised a TypeError)."""
    from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor

    assert DeepFeverAudioFeatureExtractor._pad is SequenceFeatureExtractor._pad
    sequences = [np.ones((3, 32), dtype=np.float32), np.full((5, 32), 2.0, dtype=np.float32)]
    padded = extractor.pad({"input_features": sequences}, padding="longest", return_tensors="np")
    assert padded["input_features"].shape == (2, 5, 32)
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1] * 5]
    assert (padded["input_features"][0, 3:] == extractor.padding_value).all()

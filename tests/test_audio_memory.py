"""Resampling costs memory proportional to the audio at any sampling rate, and is correct there too.

The old resampler tabulated one kernel per output phase, ``orig_sr / gcd(orig_sr, new_sr)`` of them: one second of
WAV at 16,001 Hz needed more than 9 GB. The memory cases run in a fresh child process whose address space is capped
at what it holds after warming up plus 1 GiB (``RLIMIT_AS``, as ``benchmarks.hostile_inputs`` does), so a
regression fails with a MemoryError instead of exhausting the machine; each case reports how far the peak resident
set rose (``/proc/self/clear_refs`` restarts the high-water mark).

Measured here (``pytest -s tests/test_audio_memory.py``, torch 2.14.1 CPU), peak growth for one second: resampling
16,001 Hz 12.0 MiB, 44,101 Hz 13.9 MiB, 47,999 Hz 17.9 MiB (mostly the kernel table of 16,000 phases, built once,
a block of phases at a time); features of a WAV at 16,001 Hz 8.0 MiB, at 44,101 Hz 12.8 MiB. The bound asserted is
``BOUND_MIB``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import (
    DeepFeverAudioFeatureExtractor,
    SincResampler,
    resample,
)

BOUND_MIB = 64
ODD_RATES = [16001, 44101, 47999, 8009]  # 16,001 and 44,101: the issue's; 47,999 and 8,009 are prime

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path

    import numpy as np
    import soundfile

    from benchmarks.timing import current_rss_mb, peak_rss_mb, reset_peak_rss
    from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor, resample

    folder = Path(sys.argv[1])
    extractor = DeepFeverAudioFeatureExtractor()
    warm = np.zeros(1600, dtype=np.float32)
    resample(warm, 16000, 44100)
    extractor(warm, sampling_rate=16000)

    def address_space():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    resource.setrlimit(resource.RLIMIT_AS, (address_space() + 2**30, resource.RLIM_INFINITY))

    def case(name, run):
        reset_peak_rss()
        baseline = current_rss_mb()
        start = time.perf_counter()
        try:
            outcome = run()
        except MemoryError:
            outcome = "MemoryError"
        return name, {"peak_growth_mib": round(peak_rss_mb() - baseline, 1),
                      "seconds": round(time.perf_counter() - start, 3), "outcome": outcome}

    results = dict(
        [case(f"resample_{rate}", lambda rate=rate: list(resample(
            np.random.default_rng(0).standard_normal(rate).astype(np.float32), rate, 16000).shape))
         for rate in (16001, 44101, 47999)]
        + [case(f"features_{path.stem}", lambda path=path: list(extractor(str(path))["input_features"].shape))
           for path in sorted(folder.glob("*.wav"))]
    )
    print(json.dumps(results))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_odd_sampling_rates_resample_in_bounded_memory(tmp_path):
    rng = np.random.default_rng(1)
    for rate in (16001, 44101):  # one second of WAV, what the issue measured
        soundfile.write(tmp_path / f"wav_{rate}.wav", (0.3 * rng.standard_normal(rate)).astype(np.float32), rate)
    repository = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repository), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, text=True, timeout=300, env=env, cwd=repository
    )
    assert child.returncode == 0, child.stderr[-3000:]
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(figures)
    assert set(figures) == {"resample_16001", "resample_44101", "resample_47999", "features_wav_16001", "features_wav_44101"}
    for name, values in figures.items():
        assert values["outcome"] != "MemoryError", (name, values)
        assert values["peak_growth_mib"] < BOUND_MIB, (name, values)
    for rate in (16001, 44101, 47999):
        assert figures[f"resample_{rate}"]["outcome"] == [16000]  # ceil(rate * 16000 / rate)
    assert figures["features_wav_16001"]["outcome"] == [1, 26, 64, 40]  # 1 s: steps 0 ... 1.0 s


@pytest.mark.parametrize("rate", ODD_RATES)
def test_odd_rates_resample_correctly(rate):
    """A 440 Hz tone at an odd rate becomes the 440 Hz tone at 16 kHz, and back."""
    seconds = 0.5
    at_rate = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate).astype(np.float32)
    native = np.sin(2 * np.pi * 440 * np.arange(int(seconds * 16000)) / 16000).astype(np.float32)
    converted = resample(at_rate, rate, 16000)
    assert converted.shape[0] == math.ceil(at_rate.size * 16000 / rate)
    n = min(converted.shape[0], native.size)
    assert float((converted[100 : n - 100] - torch.from_numpy(native[100 : n - 100])).abs().max()) < 2e-3
    back = resample(native, 16000, rate)
    m = min(back.shape[0], at_rate.size)
    assert float((back[200 : m - 200] - torch.from_numpy(at_rate[200 : m - 200])).abs().max()) < 2e-3


@pytest.mark.parametrize("rate", [16001, 44101])
def test_odd_rates_resample_by_blocks_like_the_whole(rate):
    """Any range of outputs from a block covering its taps equals the whole recording's, bit for bit (chunked
    features need this), and the resampler holds no per-phase table of the rate's size."""
    resampler = SincResampler(rate, 16000)
    signal = torch.from_numpy(np.random.default_rng(2).standard_normal(rate).astype(np.float32))
    whole = resampler(signal, 0, 0, resampler.output_length(signal.shape[0]))
    for out_start, count in ((0, 17), (5000, 3000), (15990, 10)):
        first, stop = resampler.input_span(out_start, out_start + count)
        part = resampler(signal[first:stop], first, out_start, count)
        assert torch.equal(part, whole[out_start : out_start + count])
    held = sum(t.numel() for t in (resampler._table, *(resampler._polyphase or ())) if isinstance(t, torch.Tensor))
    assert held <= 1 << 20  # elements: bounded, whatever orig_sr / gcd is


def test_a_16001_hz_file_gives_the_features_of_its_16k_resampling(tmp_path):
    """The features of a file at 16,001 Hz are those of the same samples resampled to 16 kHz by the one resampler."""
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    samples = (0.3 * np.random.default_rng(4).standard_normal(2 * 16001)).astype(np.float32)
    path = tmp_path / "odd.wav"
    soundfile.write(path, samples, 16001, subtype="FLOAT")
    from_file = extractor(str(path))["input_features"]
    resampled = resample(samples, 16001, 16000)
    assert torch.allclose(from_file, extractor(resampled, sampling_rate=16000)["input_features"], atol=1e-4)
    chunks = torch.cat([c["input_features"][0] for c in extractor.iter_chunks(path, chunk_steps=7)])
    assert torch.equal(chunks, from_file[0])

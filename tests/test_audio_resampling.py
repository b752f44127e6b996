"""The one resampler (``SincResampler``): quality against the exact computation and against the true signals, and
memory bounded for any rate (one second of WAV at 16,001 Hz used to need more than 9 GB: the old kernel had
``orig_sr / gcd`` phases of taps).

"Exact" is the resampler's documented formula evaluated directly in float64, one output sample at a time (output
``n`` at input position ``n * orig_sr / new_sr``, Hann-windowed sinc at the distance of every input sample within
reach): each of the resampler's three ways of computing it (polyphase convolution, tabulated phases, kernels per
block) must give it to float32 round-off.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.signal import chirp

from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import SincResampler, resample

TO = 16000
SECONDS = 0.5
EDGE = 160  # output samples at each end where the recording's edges (zeros outside) take part


def exact(samples: np.ndarray, orig: int, new: int, width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """The windowed-sinc resampling formula, directly in float64 (slow, independent of the resampler's code)."""
    x = np.asarray(samples, dtype=np.float64)
    scale = min(orig, new) * rolloff / orig  # zero crossings per input sample
    reach = math.ceil(width / scale)
    out = np.zeros(-(-len(x) * new // orig))
    for n in range(out.size):
        floor, remainder = divmod(n * orig, new)
        taps = np.arange(floor - reach, floor + reach + 2)
        taps = taps[(taps >= 0) & (taps < len(x))]
        t = np.clip((taps - floor - remainder / new) * scale, -width, width)
        out[n] = (np.sinc(t) * np.cos(t * np.pi / (2 * width)) ** 2 * scale * x[taps]).sum()
    return out


def tone(times: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * 1000 * times + 0.3)


def sweep(times: np.ndarray) -> np.ndarray:
    return chirp(times, f0=50, t1=SECONDS, f1=3000)  # 50 Hz to 3 kHz: inside every rate's pass band here


def _way(resampler: SincResampler) -> str:
    if resampler._polyphase is not None:
        return "convolution"
    return "table" if resampler._table is not None else "kernels"


# Measured (max abs error vs the true signal away from the edges): tone 1.6e-4 to 7.0e-4; sweep 8.8e-4
# (44.1k/48k/44,101), 1.7e-3 (16,001), 1.2e-2 for 8 kHz, whose 3 kHz end lies in the filter's roll-off
# (the cutoff is 0.99 x 4 kHz and the Hann window widens the transition).
@pytest.mark.parametrize(
    ("orig", "way", "tone_bound", "sweep_bound"),
    [(44100, "convolution", 1e-3, 3e-3), (48000, "convolution", 1e-3, 3e-3), (8000, "convolution", 1e-3, 2e-2),
     (16001, "table", 2e-3, 3e-3), (44101, "table", 1e-3, 3e-3)],
)  # fmt: skip
def test_tones_and_sweeps_match_the_exact_formula_and_the_true_signal(orig, way, tone_bound, sweep_bound):
    resampler = SincResampler(orig, TO)
    assert _way(resampler) == way
    times_in = np.arange(int(SECONDS * orig)) / orig
    for signal, bound in ((tone, tone_bound), (sweep, sweep_bound)):
        samples = signal(times_in).astype(np.float32)
        out = resample(samples, orig, TO).numpy()
        assert out.shape == (math.ceil(samples.size * TO / orig),)
        assert np.abs(out - exact(samples, orig, TO)).max() < 1e-5, (orig, signal.__name__)
        truth = signal(np.arange(out.size) / TO)
        assert np.abs(out - truth)[EDGE:-EDGE].max() < bound, (orig, signal.__name__)


@pytest.mark.parametrize(("orig", "new"), [(999_983, TO), (TO, 999_983)])
def test_rates_without_a_table_compute_kernels_per_block_exactly(orig, new):
    """A prime rate near the 1 MHz limit: too many phases x taps to tabulate, so each block evaluates its own."""
    resampler = SincResampler(orig, new)
    assert _way(resampler) == "kernels"
    samples = (np.random.default_rng(0).standard_normal(int(0.01 * orig)) * 0.3).astype(np.float32)
    out = resample(samples, orig, new).numpy()
    assert np.abs(out - exact(samples, orig, new)).max() < 1e-5


def test_downsampling_removes_what_the_new_rate_cannot_hold():
    """10 kHz is above 16 kHz's Nyquist frequency: it must be filtered out, not aliased to 6 kHz."""
    for orig in (44100, 48000, 44101):
        high = np.sin(2 * np.pi * 10000 * np.arange(orig // 2) / orig).astype(np.float32)
        assert float(resample(high, orig, TO)[EDGE:-EDGE].abs().max()) < 0.01  # measured 0.0054


@pytest.mark.parametrize("orig", [44100, 16001, 999_983])
def test_any_output_range_equals_the_whole_recording(orig):
    """Chunks need no alignment to the rates: a range from a block covering its taps equals the whole result."""
    resampler = SincResampler(orig, TO)
    samples = (np.random.default_rng(1).standard_normal(orig // 5) * 0.3).astype(np.float32)
    whole = resampler(samples, 0, 0, resampler.output_length(samples.size))
    for out_start, count in ((0, 1), (37, 501), (1234, 977), (whole.shape[0] - 5, 5)):
        lo, hi = resampler.input_span(out_start, out_start + count)
        part = resampler(samples[lo:hi], lo, out_start, count)
        assert np.array_equal(part.numpy(), whole[out_start : out_start + count].numpy()), (out_start, count)


_MEMORY_CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, soundfile
    from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024

    rate, path, warm = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    extractor = DeepFeverAudioFeatureExtractor()
    extractor(warm)  # warm up at 16 kHz: torch's and soundfile's first-call allocations are not the resampler's
    resource.setrlimit(resource.RLIMIT_AS, (status("VmSize:") + 2**30, resource.RLIM_INFINITY))
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # restart the peak-RSS mark (VmHWM) here
    before = status("VmRSS:")
    features = extractor(path)["input_features"]
    assert features.shape == (1, 26, 64, 40), features.shape
    print(f"peak RSS grew by {(status('VmHWM:') - before) / 2**20:.1f} MiB")
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.parametrize("rate", [16001, 44101])
def test_one_second_at_an_odd_rate_resamples_in_bounded_memory(tmp_path, rate):
    """One second of WAV at 16,001 or 44,101 Hz (gcd 1 with 16 kHz), in a fresh process whose address space is
    capped at +1 GiB. Measured here: +11 to +15 MiB (16,001 Hz) and +18 MiB (44,101 Hz), mostly the phase table
    built once per rate pair. The resampler before f66c0fa, in the same capped process, asked for 2.05 GB in one
    allocation at 16,001 Hz and 5.65 GB at 44,101 Hz (refused by the cap)."""
    import soundfile

    path, warm = tmp_path / "odd.wav", tmp_path / "warm.wav"
    soundfile.write(path, (np.random.default_rng(0).standard_normal(rate) * 0.1).astype(np.float32), rate, subtype="PCM_16")
    soundfile.write(warm, np.zeros(TO, dtype=np.float32), TO, subtype="PCM_16")
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(rate), str(path), str(warm)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    grown = float(result.stdout.split("grew by")[1].split()[0])
    print(rate, f"+{grown} MiB")
    assert grown < 64

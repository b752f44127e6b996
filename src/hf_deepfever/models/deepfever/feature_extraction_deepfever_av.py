"""DeepFEVER-AV audio features: 16 kHz mono log-mel frames, one context window per label step.

Each label step ``k`` (every ``step_ms``, 40 ms for RECOLA) is centred at time ``k * step_ms`` and gets the
``context_ms`` of log-mel frames around it, so a recording of ``D`` seconds gives
``floor(D / step) + 1`` steps (7,501 for RECOLA's 300 s, matching its 7,501 label rows). Context that reaches
before the start or past the end of the recording is filled with the log-mel value of silence.

One path for every recording: ``__call__`` (arrays or files), ``iter_chunks`` (long recordings, chunk by chunk)
and ``step_features`` (any range of steps) all read samples through one reader (:func:`open_audio`), resample
them with one resampler (:class:`SincResampler`) and compute the features of a block of steps with one method,
so the features of a step do not depend on which entry point, chunk size or file container produced them.

This file travels to the Hub as remote code: it imports only numpy, torch and transformers (soundfile and PyAV
are imported when a file is read).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

logger = logging.get_logger(__name__)

# A 2-D array is (samples, channels) or (channels, samples): the short axis is taken as channels if it has at most this many.
_MAX_CHANNELS = 8
# Highest sampling rate accepted (a header claiming more is refused, not resampled with millions of taps).
MAX_SAMPLING_RATE = 1_000_000
# Resampling works on blocks of output samples of about this many (output x tap) elements: memory stays a few
# MB whatever the rates. Kernels of all output phases are tabulated when the table is at most this big.
_RESAMPLE_BLOCK_ELEMENTS = 1 << 18
_RESAMPLE_TABLE_ELEMENTS = 1 << 20


# ---------------------------------------------------------------------------------------------------------------
# Resampling
# ---------------------------------------------------------------------------------------------------------------


def _check_rate(rate: Any, name: str = "sampling_rate") -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of samples per second, got {type(rate).__name__}")
    if not (math.isfinite(rate) and rate == int(rate) and 0 < rate <= MAX_SAMPLING_RATE):
        raise ValueError(f"{name} must be a whole number of Hz in 1-{MAX_SAMPLING_RATE}, got {rate}")
    return int(rate)


class SincResampler:
    r"""Band-limited resampling from `orig_sr` to `new_sr` (Hann-windowed sinc), in memory proportional to the audio.

    Output sample `n` sits at input position `n * orig_sr / new_sr` (kept as an exact fraction); its value is the
    sum of the input samples within `lowpass_filter_width` zero crossings of the low-pass filter, weighted by the
    windowed sinc at their distance. Frequencies above `rolloff * min(orig_sr, new_sr) / 2` are removed, so
    downsampling does not alias. Samples outside the recording count as zeros.

    The kernel is evaluated per block of output samples from their fractional positions (tabulated once when the
    rates have few output phases, e.g. 441 -> 160 for 44.1 kHz -> 16 kHz), so memory is bounded by the block, not
    by `orig_sr / gcd(orig_sr, new_sr)`: 16,001 Hz or a prime rate cost what 16 kHz costs. Any range of output
    samples can be computed from any block of input that covers its taps (see `input_span`), with the same result
    as resampling the whole recording: chunked features need no alignment of chunks to the rates.
    """

    def __init__(self, orig_sr: int, new_sr: int, lowpass_filter_width: int = 6, rolloff: float = 0.99) -> None:
        self.orig_sr, self.new_sr = _check_rate(orig_sr, "orig_sr"), _check_rate(new_sr, "new_sr")
        if lowpass_filter_width < 1 or not 0 < rolloff <= 1:
            raise ValueError(f"need lowpass_filter_width >= 1 and 0 < rolloff <= 1, got {lowpass_filter_width}, {rolloff}")
        gcd = math.gcd(self.orig_sr, self.new_sr)
        # Input position of output n: n * num / den, exactly.
        self._num, self._den = self.orig_sr // gcd, self.new_sr // gcd
        self._width = float(lowpass_filter_width)
        # Sinc argument (in zero crossings) per input sample of distance: twice the cutoff over the input rate.
        self._scale = min(self.orig_sr, self.new_sr) * rolloff / self.orig_sr
        reach = math.ceil(self._width / self._scale)  # input samples on each side with a non-zero weight
        self._taps = torch.arange(-reach, reach + 2)  # offsets from floor(position)
        self._table = None
        if self._den * len(self._taps) <= _RESAMPLE_TABLE_ELEMENTS:
            # Built a block of phases at a time: the float64 temporaries stay at the size of one block.
            rows = max(1, _RESAMPLE_BLOCK_ELEMENTS // len(self._taps))
            phases = torch.arange(self._den)
            self._table = torch.cat([self._kernels(phases[lo : lo + rows]) for lo in range(0, self._den, rows)])
        # With few phases the same weights also form a polyphase convolution kernel (den, 1, num + taps): output
        # phase i of each period reads the taps around input position floor(i * num / den) of that period.
        self._polyphase = None
        if self._table is not None and self._den * (self._num + len(self._taps)) <= _RESAMPLE_TABLE_ELEMENTS:
            kernels = torch.zeros((self._den, 1, self._num + len(self._taps)), dtype=torch.float32)
            for phase in range(self._den):
                shift = phase * self._num // self._den
                kernels[phase, 0, shift : shift + len(self._taps)] = self._table[phase * self._num % self._den]
            self._polyphase = (kernels, int(self._taps[0]))
        # Outputs per block: a whole number of periods (den outputs) for the convolution, about a second of audio.
        per_period = self._den if self._polyphase is not None else 1
        self._block = per_period * max(1, (1 << 14) // per_period)

    @property
    def identity(self) -> bool:
        return self.orig_sr == self.new_sr

    def _kernels(self, remainders: torch.Tensor) -> torch.Tensor:
        """`(B,)` phases (position = floor + remainder / den) -> `(B, taps)` float32 weights."""
        distance = self._taps[None, :].double() - remainders[:, None].double() / self._den
        t = (distance * self._scale).clamp(-self._width, self._width)
        window = torch.cos(t * (math.pi / (2 * self._width))) ** 2
        t = t * math.pi
        sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
        return (sinc * window * self._scale).float()

    def output_length(self, num_samples: int) -> int:
        """Output samples of a recording of `num_samples` input samples: `ceil(num_samples * new_sr / orig_sr)`."""
        return -(-int(num_samples) * self._den // self._num)

    def input_span(self, out_start: int, out_stop: int) -> tuple[int, int]:
        """The input samples `[start, stop)` that outputs `[out_start, out_stop)` read (start clipped at 0)."""
        if self.identity:
            return max(0, out_start), max(0, out_stop)
        first = out_start * self._num // self._den + int(self._taps[0])
        last = (max(out_stop, out_start + 1) - 1) * self._num // self._den + int(self._taps[-1])
        return max(0, first), max(0, last + 1)

    def __call__(self, block: Any, block_start: int, out_start: int, count: int) -> torch.Tensor:
        """Outputs `[out_start, out_start + count)` of the recording whose input samples
        `[block_start, block_start + len(block))` are `block`; input outside the block counts as zeros (so the
        block must cover `input_span` wherever the recording has samples). Returns a float32 tensor."""
        signal = torch.as_tensor(block, dtype=torch.float32).reshape(-1)
        count = max(0, int(count))
        if self.identity:
            out = torch.zeros(count, dtype=torch.float32)
            lo, hi = max(out_start, block_start), min(out_start + count, block_start + signal.shape[0])
            if hi > lo:
                out[lo - out_start : hi - out_start] = signal[lo - block_start : hi - block_start]
            return out
        if signal.shape[0] == 0 or count == 0:
            return torch.zeros(count, dtype=torch.float32)
        # Outputs are computed in blocks at fixed positions of the recording (multiples of `_block`), each with the
        # same shapes whichever range was asked for: a sample's round-off, too, is the same in a chunk as in the
        # whole recording, so chunked features equal whole ones bit for bit.
        compute = self._by_convolution if self._polyphase is not None else self._by_blocks
        first_block, stop_block = out_start // self._block, -(-(out_start + count) // self._block)
        pieces = [compute(signal, block_start, index * self._block, self._block) for index in range(first_block, stop_block)]
        skip = out_start - first_block * self._block
        return torch.cat(pieces)[skip : skip + count].contiguous()

    def _window(self, signal: torch.Tensor, block_start: int, first: int, stop: int) -> torch.Tensor:
        """Input samples `[first, stop)` of the recording, zeros where `signal` (starting at `block_start`) has none."""
        lo, hi = first - block_start, stop - block_start
        inner = signal[max(0, lo) : max(0, min(hi, signal.shape[0]))]
        left = min(max(0, -lo), stop - first)
        return torch.nn.functional.pad(inner, (left, (stop - first) - left - inner.shape[0]))

    def _by_convolution(self, signal: torch.Tensor, block_start: int, out_start: int, count: int) -> torch.Tensor:
        """Few phases: one strided convolution whose output channels are the phases of a period of `den` outputs."""
        kernels, offset = self._polyphase
        first_period, stop_period = out_start // self._den, -(-(out_start + count) // self._den)
        first = first_period * self._num + offset
        stop = (stop_period - 1) * self._num + offset + kernels.shape[-1]
        window = self._window(signal, block_start, first, stop)
        out = torch.nn.functional.conv1d(window[None, None], kernels, stride=self._num)  # (1, den, periods)
        out = out[0].T.reshape(-1)
        skip = out_start - first_period * self._den
        return out[skip : skip + count].contiguous()

    def _by_blocks(self, signal: torch.Tensor, block_start: int, out_start: int, count: int) -> torch.Tensor:
        """Many phases (e.g. 16,001 Hz): each block of outputs gathers its taps and their weights."""
        taps = len(self._taps)
        first_tap = (out_start * self._num) // self._den + int(self._taps[0])
        last_tap = ((out_start + count - 1) * self._num) // self._den + int(self._taps[-1])
        rows = self._window(signal, block_start, first_tap, last_tap + 1).unfold(0, taps, 1)  # (windows, taps) view
        out = torch.empty(count, dtype=torch.float32)
        step = max(1, _RESAMPLE_BLOCK_ELEMENTS // taps)
        for lo in range(0, count, step):
            positions = torch.arange(out_start + lo, out_start + min(count, lo + step), dtype=torch.int64) * self._num
            floor, remainder = positions // self._den, positions % self._den
            kernels = self._table[remainder] if self._table is not None else self._kernels(remainder)
            out[lo : lo + positions.shape[0]] = (rows[floor + int(self._taps[0]) - first_tap] * kernels).sum(dim=1)
        return out


@lru_cache(maxsize=16)
def _resampler(orig_sr: int, new_sr: int, lowpass_filter_width: int = 6, rolloff: float = 0.99) -> SincResampler:
    return SincResampler(orig_sr, new_sr, lowpass_filter_width, rolloff)


def resample(
    waveform: np.ndarray | torch.Tensor, orig_sr: int, new_sr: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> torch.Tensor:
    """Band-limited resampling of a whole 1-D waveform (see [`SincResampler`]); returns a float32 tensor.

    Output length is `ceil(len * new_sr / orig_sr)`.
    """
    signal = torch.as_tensor(waveform, dtype=torch.float32).reshape(-1)
    resampler = _resampler(_check_rate(orig_sr, "orig_sr"), _check_rate(new_sr, "new_sr"), lowpass_filter_width, rolloff)
    return resampler(signal, 0, 0, resampler.output_length(signal.shape[0]))


# ---------------------------------------------------------------------------------------------------------------
# Samples: any array, sound file or media file -> float32 mono at the recording's own rate
# ---------------------------------------------------------------------------------------------------------------


def samples_to_float(array: np.ndarray) -> np.ndarray:
    """Samples of any numeric dtype -> float32 in [-1, 1): integers are scaled by their type's range (int16 by
    32768, int32 by 2**31; unsigned ones centred first), as sound-file libraries and FFmpeg convert PCM."""
    if array.dtype == bool:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        bits = np.iinfo(array.dtype).bits
        if np.issubdtype(array.dtype, np.unsignedinteger):
            array = array.astype(np.int64) - (1 << (bits - 1))
        # A power-of-two scale after rounding to float32: exact, whichever library did the conversion.
        return array.astype(np.float32) * np.float32(2.0 ** -(bits - 1))
    return array.astype(np.float32, copy=False)


def downmix(samples_by_channel: np.ndarray) -> np.ndarray:
    """`(samples, channels)` float32 -> `(samples,)`: the mean of the channels (every reader uses this one)."""
    return np.ascontiguousarray(samples_by_channel, dtype=np.float32).mean(axis=1, dtype=np.float32)


def _to_float_mono(audio: Any, name: str) -> np.ndarray:
    """Any 1-D/2-D array-like -> float32 mono numpy array (integers scaled by their type's range)."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    array = np.asarray(audio)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name}: audio must be numeric samples, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name}: audio must be real-valued, got complex samples")
    array = samples_to_float(array)
    if array.ndim == 2:
        short_axes = [axis for axis in (0, 1) if array.shape[axis] <= _MAX_CHANNELS]
        if len(short_axes) != 1 and not (array.shape[0] == array.shape[1] == 1):
            raise ValueError(
                f"{name}: cannot tell channels from samples in a {array.shape} array; pass mono 1-D audio or "
                f"(samples, channels) with at most {_MAX_CHANNELS} channels"
            )
        array = downmix(array.T if short_axes and short_axes[0] == 0 else array)
    elif array.ndim != 1:
        raise ValueError(f"{name}: audio must be 1-D (mono) or 2-D (multi-channel), got shape {array.shape}")
    return array


class EmptyAudioError(ValueError):
    """A recording (array or file) holds no samples."""


def _check_finite(array: np.ndarray, name: str, first_sample: int, rate: int) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        kind = "NaN" if np.isnan(array[first]) else "infinite"
        at = first_sample + first
        raise ValueError(
            f"{name}: audio holds {int(bad.sum())} NaN/infinite samples (first: {kind} at {at / rate:.3f} s, "
            f"sample {at} at {rate} Hz)"
        )


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, bytes)) or hasattr(value, "__fspath__")


class _ArrayAudio:
    """A recording already in memory."""

    def __init__(self, audio: Any, sampling_rate: Any, name: str) -> None:
        if sampling_rate is None:
            raise ValueError(f"{name}: reading features from an array needs its sampling_rate")
        self.name, self.rate = name, _check_rate(sampling_rate)
        self._array = _to_float_mono(audio, name)
        self.total: int | None = self._array.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._array[start:stop]

    def close(self) -> None:
        self._array = np.zeros(0, dtype=np.float32)


# Subtypes whose samples are exact integers or floats in the file: every correct decoder gives the same values,
# so soundfile (random access) reads them; anything lossy or compressed otherwise goes through PyAV (FFmpeg).
_LOSSLESS_SUBTYPES = {"PCM_S8": "int16", "PCM_U8": "int16", "PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32",
                      "FLOAT": "float32", "DOUBLE": "float64"}  # fmt: skip


class _SoundFileAudio:
    """An uncompressed or losslessly compressed sound file (WAV, FLAC, AIFF, ...), read by blocks with soundfile.

    Samples are read in the file's own integer or float type and converted by `samples_to_float`, exactly as the
    PyAV reader converts what FFmpeg decodes: both readers give identical samples for these files.
    """

    def __init__(self, handle: Any, name: str) -> None:
        self._handle, self.name = handle, name
        self._dtype = _LOSSLESS_SUBTYPES[handle.subtype]
        self.rate = _check_rate(handle.samplerate, f"{name}: sampling rate")
        self.total: int | None = int(handle.frames)

    @classmethod
    def open(cls, path: str) -> _SoundFileAudio | None:
        """The file through soundfile, or None when it is not one soundfile reads losslessly."""
        try:
            import soundfile
        except ImportError:
            return None
        try:
            handle = soundfile.SoundFile(path)
        except (RuntimeError, ValueError, TypeError, OSError):  # soundfile.LibsndfileError is a RuntimeError
            return None
        if handle.subtype not in _LOSSLESS_SUBTYPES:
            handle.close()
            return None
        return cls(handle, path)

    def read(self, start: int, stop: int) -> np.ndarray:
        start = min(start, self.total)
        self._handle.seek(start)
        block = self._handle.read(max(0, min(stop, self.total) - start), dtype=self._dtype, always_2d=True)
        if block.shape[0] < min(stop, self.total) - start:  # a header that claims more than the file holds
            self.total = start + block.shape[0]
        return downmix(samples_to_float(block))

    def close(self) -> None:
        self._handle.close()


class _MediaAudio:
    """The first audio track of any file FFmpeg reads (MP4, MKV, M4A, MP3, ...), decoded by PyAV in order.

    Samples are taken in decoding order from time 0 at the track's own rate (no rate conversion here: the one
    resampler is `SincResampler`). Reads must move forward (each read's start at or after the previous one's), so
    only the block being read is held in memory; the total is known once the track has been decoded to its end.
    """

    def __init__(self, path: str) -> None:
        try:
            import av
        except ImportError as error:
            raise ImportError(
                f"{path}: reading audio from this kind of file needs PyAV ({error}): pip install 'av>=12'"
            ) from None
        self.name = path
        try:
            self._container = av.open(path)
        except av.error.FFmpegError as error:
            raise ValueError(f"{path}: not a readable media file ({error})") from None
        if not self._container.streams.audio:
            self._container.close()
            raise ValueError(f"{path}: the file has no audio track")
        stream = self._container.streams.audio[0]
        try:
            self.rate = _check_rate(stream.codec_context.sample_rate or stream.rate, f"{path}: sampling rate")
        except (TypeError, ValueError):
            self._container.close()
            raise
        self._av_error = av.error.FFmpegError
        self._frames = self._container.decode(stream)
        self._pieces: list[np.ndarray] = []
        self._held_start = 0  # first sample held in _pieces
        self._decoded = 0  # samples decoded so far
        self.total: int | None = None

    def _decode_until(self, stop: int) -> None:
        while self.total is None and self._decoded < stop:
            try:
                frame = next(self._frames)
            except StopIteration:
                self.total = self._decoded
                break
            except self._av_error as error:
                raise ValueError(f"{self.name}: cannot decode the audio track after {self._decoded / self.rate:.2f} s "
                                 f"({error})") from None
            if frame.sample_rate != self.rate:
                raise ValueError(f"{self.name}: the audio track changes its sampling rate from {self.rate} to "
                                 f"{frame.sample_rate} Hz at {self._decoded / self.rate:.2f} s")
            array = frame.to_ndarray()
            channels = frame.layout.nb_channels
            by_channel = array.T if frame.format.is_planar else array.reshape(-1, channels)
            samples = downmix(samples_to_float(by_channel))
            self._pieces.append(samples)
            self._decoded += samples.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        if start < self._held_start:
            raise RuntimeError(f"{self.name}: audio reads must move forward (sample {start} < {self._held_start})")
        self._decode_until(stop)
        held = np.concatenate(self._pieces) if len(self._pieces) != 1 else self._pieces[0]
        keep_from = min(start, self._decoded) - self._held_start
        # Keep only what later reads may still ask for (they start at or after this one).
        self._pieces = [held[keep_from:]] if keep_from < held.shape[0] else []
        self._held_start += keep_from
        return held[keep_from : keep_from + max(0, stop - start)]

    def close(self) -> None:
        self._container.close()


class _AudioReader:
    """Context manager over one recording's samples (see `open_audio`)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __enter__(self) -> Any:
        return self.source

    def __exit__(self, *exc: Any) -> None:
        self.source.close()


def open_audio(path_or_array: Any, sampling_rate: int | None = None, name: str = "audio") -> _AudioReader:
    """The one reader of recordings: `with open_audio(x) as source: source.read(start, stop)`.

    `path_or_array` is an array (1-D mono or 2-D multi-channel, with its `sampling_rate`) or a file: soundfile reads
    uncompressed and lossless sound files (WAV, FLAC, AIFF ... with integer or float samples) by random access;
    PyAV reads everything else (the audio track of MP4/MKV/MOV videos, M4A, MP3, Ogg ...). Either way the samples
    are converted to float32 by `samples_to_float` and channels averaged by `downmix`, at the file's own rate.
    `source.rate` is that rate, `source.total` the number of samples (None for a PyAV track not yet decoded to
    its end), `source.name` what error messages call it.
    """
    if not _is_path(path_or_array):
        return _AudioReader(_ArrayAudio(path_or_array, sampling_rate, name))
    path = os.fsdecode(path_or_array)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such audio or video file")
    source = _SoundFileAudio.open(path) or _MediaAudio(path)
    if sampling_rate is not None and _check_rate(sampling_rate) != source.rate:
        source.close()
        raise ValueError(f"{path}: the file's sampling rate is {source.rate} Hz, not the {sampling_rate} Hz given")
    return _AudioReader(source)


# ---------------------------------------------------------------------------------------------------------------
# The feature extractor
# ---------------------------------------------------------------------------------------------------------------


class DeepFeverAudioFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Log-mel context windows aligned to label steps, for [`DeepFeverAVModel`].

    Args:
        feature_size (`int`, *optional*, defaults to 64):
            Number of mel bands.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Rate the features are computed at; other rates are resampled to it ([`SincResampler`]).
        step_ms (`float`, *optional*, defaults to 40.0):
            Label step: one output step every `step_ms` (RECOLA's labels come every 40 ms).
        context_ms (`float`, *optional*, defaults to 400.0):
            Width of the log-mel window centred on each step.
        hop_ms (`float`, *optional*, defaults to 10.0):
            Hop between log-mel frames.
        win_ms (`float`, *optional*, defaults to 25.0):
            Analysis window of each log-mel frame (Hann).
        n_fft (`int`, *optional*, defaults to 512):
            FFT size (at least the window in samples).
        min_frequency / max_frequency (`float`, *optional*, defaults to 20.0 / 8000.0):
            Range of the mel filter bank.
        log_floor (`float`, *optional*, defaults to 1e-6):
            Added before the log; `log(log_floor)` is the value of silence (and of context outside the recording).
        max_duration_s (`float`, *optional*, defaults to 600.0):
            Longest recording `__call__` accepts; longer audio raises and must go through [`iter_chunks`].
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of padded steps in a batch (the attention mask marks them).

    Outputs of `__call__`: `input_features` `(batch, steps, feature_size, context_frames)` float32 and
    `attention_mask` `(batch, steps)` (1 = real step, 0 = padding; padding is on the right).
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 64,
        sampling_rate: int = 16000,
        step_ms: float = 40.0,
        context_ms: float = 400.0,
        hop_ms: float = 10.0,
        win_ms: float = 25.0,
        n_fft: int = 512,
        min_frequency: float = 20.0,
        max_frequency: float = 8000.0,
        log_floor: float = 1e-6,
        max_duration_s: float = 600.0,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            feature_size=feature_size,
            sampling_rate=_check_rate(sampling_rate),
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.step_ms = float(step_ms)
        self.context_ms = float(context_ms)
        self.hop_ms = float(hop_ms)
        self.win_ms = float(win_ms)
        self.n_fft = int(n_fft)
        self.min_frequency = float(min_frequency)
        self.max_frequency = float(max_frequency)
        self.log_floor = float(log_floor)
        self.max_duration_s = float(max_duration_s)
        if self.hop_length < 1 or self.win_length < self.hop_length or self.win_length > self.n_fft:
            raise ValueError(
                f"need 1 <= hop ({self.hop_length} samples) <= window ({self.win_length}) <= n_fft ({self.n_fft})"
            )
        if self.step_ms <= 0 or self.context_ms < self.hop_ms:
            raise ValueError(f"step_ms must be > 0 and context_ms >= hop_ms, got {step_ms} and {context_ms}")
        if not 0 <= self.min_frequency < self.max_frequency <= sampling_rate / 2:
            raise ValueError(f"mel range {min_frequency}-{max_frequency} Hz must lie within 0-{sampling_rate / 2} Hz")
        # Not saved to JSON (transformers drops these two names): rebuilt from the fields above.
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=self.n_fft // 2 + 1,
            num_mel_filters=feature_size,
            min_frequency=self.min_frequency,
            max_frequency=self.max_frequency,
            sampling_rate=sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        ).astype(np.float32)
        self.window = np.hanning(self.win_length + 1)[:-1].astype(np.float32)

    # ----- geometry -------------------------------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        return int(round(self.sampling_rate * self.hop_ms / 1000))

    @property
    def win_length(self) -> int:
        return int(round(self.sampling_rate * self.win_ms / 1000))

    @property
    def context_frames(self) -> int:
        """Log-mel frames per step window (the last dimension of `input_features`)."""
        return max(1, int(round(self.context_ms / self.hop_ms)))

    @property
    def silence_value(self) -> float:
        return float(np.log(self.log_floor))

    def num_steps(self, num_samples: int, sampling_rate: int | None = None) -> int:
        """Label steps of a recording with `num_samples` samples at `sampling_rate` (centres 0, step, 2·step, ...)."""
        rate = sampling_rate or self.sampling_rate
        return int(math.floor(num_samples / rate * 1000.0 / self.step_ms + 1e-9)) + 1

    def count_steps(self, path_or_array: Any, sampling_rate: int | None = None) -> int:
        """Label steps of a recording (a file or an array with its `sampling_rate`), from the samples it holds.

        A sound file's length comes from its header (checked against what it holds when read); a media file's audio
        track is decoded to its end (streamed: nothing is kept), since container durations are claims.
        """
        with open_audio(path_or_array, sampling_rate) as source:
            position = 0
            while source.total is None:
                position += source.read(position, position + (1 << 20)).shape[0]
            if source.total == 0:
                raise EmptyAudioError(f"{source.name}: audio is empty (0 samples)")
            return self.num_steps(source.total, source.rate)

    def _step_frames(self, first: int, count: int) -> torch.Tensor:
        """Index of the log-mel frame at the centre of each step in `[first, first + count)`."""
        return torch.round(torch.arange(first, first + count, dtype=torch.float64) * (self.step_ms / self.hop_ms)).long()

    # ----- core -----------------------------------------------------------------------------------------------
    def _log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(samples,) at `sampling_rate` -> (frames, n_mels); frame i is centred on sample i·hop."""
        spectrum = torch.stft(
            waveform,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=torch.from_numpy(self.window).to(waveform.device),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spectrum.abs().pow(2)  # (freq, frames)
        mel = torch.from_numpy(self.mel_filters).to(waveform.device).T @ power
        return torch.log(mel + self.log_floor).T

    def _windows(self, log_mel: torch.Tensor, centres: torch.Tensor, frame_offset: int) -> torch.Tensor:
        """Context windows around the frames `centres` (recording frame indices) from `log_mel`, whose row 0 is
        recording frame `frame_offset`; frames outside `log_mel` are silence."""
        context = self.context_frames
        index = (centres - context // 2 - frame_offset)[:, None] + torch.arange(context)[None, :]  # (steps, context)
        margin_left = int(max(0, -int(index.min())))
        margin_right = int(max(0, int(index.max()) - log_mel.shape[0] + 1))
        padded = torch.nn.functional.pad(log_mel.T, (margin_left, margin_right), value=self.silence_value)
        windows = padded[:, index + margin_left]  # (mels, steps, context)
        return windows.permute(1, 0, 2).contiguous()

    def _block_features(self, source: Any, first: int, count: int) -> torch.Tensor:
        """`(count, feature_size, context_frames)` features of steps `[first, first + count)` of `source`.

        Reads only the samples those steps need: the log-mel frames of their windows, the STFT window around each
        frame and the resampler's taps. Steps past the end of the recording hold silence. The one computation
        behind `__call__`, `iter_chunks` and `step_features`.
        """
        hop, half = self.hop_length, self.n_fft // 2
        centres = self._step_frames(first, count)
        frame_lo = int(centres[0]) - self.context_frames // 2
        frame_hi = int(centres[-1]) - self.context_frames // 2 + self.context_frames - 1
        # Output (feature-rate) samples of the block; it starts on the frame grid so its frames are the recording's.
        out_start = max(0, (frame_lo * hop - half) // hop * hop)
        out_stop = max(out_start + 1, frame_hi * hop + half + 1)
        resampler = _resampler(source.rate, self.sampling_rate)
        in_start, in_stop = resampler.input_span(out_start, out_stop)
        block = source.read(in_start, in_stop)
        if source.total is not None:
            out_stop = min(out_stop, resampler.output_length(source.total))
        if out_stop <= out_start:  # entirely past the end of the recording
            return torch.full((count, self.feature_size, self.context_frames), self.silence_value, dtype=torch.float32)
        _check_finite(block, source.name, in_start, source.rate)
        waveform = resampler(block, in_start, out_start, out_stop - out_start)
        return self._windows(self._log_mel(waveform), centres, out_start // hop)

    def __call__(
        self,
        raw_speech: Any,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        return_attention_mask: bool | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """
        Args:
            raw_speech: one recording or a list of them; a recording is a 1-D array/list/tensor, a 2-D
                multi-channel one (averaged to mono), or the path of an audio or video file (read by [`open_audio`]
                at its own rate).
            sampling_rate: rate of array recordings; resampled to `self.sampling_rate` when different. Pass it:
                when omitted, `self.sampling_rate` is assumed (with a warning). Files carry their own rate.
            return_tensors: "pt" (default) or "np".
        """
        batch = self._as_batch(raw_speech)
        if sampling_rate is None and not all(_is_path(item) for item in batch):
            logger.warning(
                f"No sampling_rate given to {type(self).__name__}; assuming {self.sampling_rate} Hz. "
                "Pass sampling_rate to avoid silently wrong features."
            )
            sampling_rate = self.sampling_rate
        if sampling_rate is not None:
            _check_rate(sampling_rate)
        per_item = []
        for index, audio in enumerate(batch):
            name = f"audio item {index}" if len(batch) > 1 else "audio"
            with open_audio(audio, None if _is_path(audio) else sampling_rate, name) as source:
                if source.total is None:  # a media file's track: decode it whole (bounded by max_duration_s)
                    limit = int(self.max_duration_s * source.rate) + 1
                    source.read(0, limit + 1)
                    if source.total is None:
                        source.total = limit + 1  # longer than the limit: refused below
                if source.total == 0:
                    raise EmptyAudioError(f"{source.name}: audio is empty (0 samples)")
                duration = source.total / source.rate
                if duration > self.max_duration_s:
                    raise ValueError(
                        f"{source.name}: {duration:.1f} s of audio is longer than max_duration_s="
                        f"{self.max_duration_s:g} s; use DeepFeverAudioFeatureExtractor.iter_chunks(path_or_array, "
                        "sampling_rate, chunk_steps) for long recordings (or raise max_duration_s knowingly)"
                    )
                per_item.append(self._block_features(source, 0, self.num_steps(source.total, source.rate)))
        features, mask = self._pad_steps(per_item)
        data: dict[str, Any] = {"input_features": features}
        if return_attention_mask if return_attention_mask is not None else self.return_attention_mask:
            data["attention_mask"] = mask
        if return_tensors == "np":
            data = {key: value.numpy() for key, value in data.items()}
        elif return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        return BatchFeature(data=data, tensor_type=None)

    @staticmethod
    def _as_batch(raw_speech: Any) -> list[Any]:
        if _is_path(raw_speech):
            return [raw_speech]
        if isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise EmptyAudioError("audio is empty (an empty list)")
            if all(isinstance(item, (list, tuple, np.ndarray, torch.Tensor)) or _is_path(item) for item in raw_speech):
                return list(raw_speech)
            return [raw_speech]  # a plain list of samples
        if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
            return [raw_speech]
        raise TypeError(f"audio must be an array, tensor, file path or a list of them, got {type(raw_speech).__name__}")

    def _pad_steps(self, items: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad per-recording step windows to a batch (not `SequenceFeatureExtractor._pad`, which `pad` uses)."""
        longest = max(item.shape[0] for item in items)
        features = torch.full(
            (len(items), longest, self.feature_size, self.context_frames), self.padding_value, dtype=torch.float32
        )
        mask = torch.zeros((len(items), longest), dtype=torch.long)
        for row, item in enumerate(items):
            features[row, : item.shape[0]] = item
            mask[row, : item.shape[0]] = 1
        return features, mask

    # ----- long recordings ------------------------------------------------------------------------------------
    def iter_chunks(
        self, path_or_array: Any, sampling_rate: int | None = None, chunk_steps: int = 1500
    ) -> Iterator[BatchFeature]:
        """Features of a recording of any length, `chunk_steps` steps at a time.

        A file is read by [`open_audio`] block by block (only one chunk plus its context margin is in memory; a
        video's audio track is decoded as the chunks go, so its length comes from what decodes, not from what the
        container claims); an array is sliced. Each chunk's context reaches into its neighbours, so the
        concatenated chunks equal the features of the whole recording (`__call__`), whatever `chunk_steps`.

        Yields:
            `BatchFeature` with `input_features` `(1, n, feature_size, context_frames)`, `attention_mask` `(1, n)`,
            and `first_step` (int): the index of the chunk's first step in the recording.
        """
        if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
            raise ValueError(f"chunk_steps must be an integer >= 1, got {chunk_steps!r}")
        with open_audio(path_or_array, sampling_rate) as source:
            if source.total == 0:
                raise EmptyAudioError(f"{source.name}: audio is empty (0 samples)")
            first = 0
            while True:
                windows = self._block_features(source, first, chunk_steps)
                if source.total == 0:
                    raise EmptyAudioError(f"{source.name}: audio is empty (0 samples)")
                # Still decoding: the block reached past this chunk's last step, so every step of it exists.
                count = chunk_steps if source.total is None else min(chunk_steps, self.num_steps(source.total, source.rate) - first)
                if count <= 0:
                    return
                yield BatchFeature(
                    data={
                        "input_features": windows[None, :count],
                        "attention_mask": torch.ones((1, count), dtype=torch.long),
                        "first_step": first,
                    }
                )
                first += count

    def step_features(
        self, path_or_array: Any, first_step: int, num_steps: int, sampling_rate: int | None = None
    ) -> torch.Tensor:
        """`(num_steps, feature_size, context_frames)` features of steps `[first_step, first_step + num_steps)`.

        Reads only the samples those steps need (a sound file by random access), so training on chunks of a long
        recording never loads it whole. Steps past the end of the recording hold silence.
        """
        if first_step < 0 or num_steps < 1:
            raise ValueError(f"need first_step >= 0 and num_steps >= 1, got {first_step} and {num_steps}")
        with open_audio(path_or_array, sampling_rate) as source:
            if source.total == 0:
                raise EmptyAudioError(f"{source.name}: audio is empty (0 samples)")
            return self._block_features(source, first_step, num_steps)


DeepFeverAudioFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

__all__ = [
    "DeepFeverAudioFeatureExtractor",
    "EmptyAudioError",
    "SincResampler",
    "downmix",
    "open_audio",
    "resample",
    "samples_to_float",
]

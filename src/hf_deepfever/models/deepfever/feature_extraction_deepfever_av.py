"""DeepFEVER-AV audio features: 16 kHz mono log-mel frames, one context window per label step.

Each label step ``k`` (every ``step_ms``, 40 ms for RECOLA) is centred at time ``k * step_ms`` and gets the
``context_ms`` of log-mel frames around it, so a recording of ``D`` seconds gives
``floor(D / step) + 1`` steps (7,501 for RECOLA's 300 s, matching its 7,501 label rows). Context that reaches
before the start or past the end of the recording is filled with the log-mel value of silence.

This file travels to the Hub as remote code: it imports only numpy, torch and transformers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from transformers.audio_utils import mel_filter_bank
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

logger = logging.get_logger(__name__)

# A 2-D array is (samples, channels) or (channels, samples): the short axis is taken as channels if it has at most this many.
_MAX_CHANNELS = 8


@lru_cache(maxsize=8)
def _sinc_resample_kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float) -> tuple[torch.Tensor, int]:
    """Hann-windowed sinc interpolation kernels, one per output phase (``orig``/``new`` already divided by their gcd)."""
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    index = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float64)[:, None, None] / new + index
    t = (t * base_freq).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    kernels = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t) * window * (base_freq / orig)
    return kernels.float(), width


def resample(
    waveform: np.ndarray | torch.Tensor, orig_sr: int, new_sr: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> torch.Tensor:
    """Band-limited (windowed-sinc, polyphase) resampling of a 1-D waveform; returns a float32 tensor.

    Output length is ``ceil(len * new_sr / orig_sr)``. Frequencies above ``rolloff * min(orig_sr, new_sr) / 2``
    are removed, so downsampling does not alias.
    """
    signal = torch.as_tensor(waveform, dtype=torch.float32).reshape(-1)
    if orig_sr == new_sr:
        return signal
    gcd = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // gcd, int(new_sr) // gcd
    kernels, width = _sinc_resample_kernel(orig, new, lowpass_filter_width, rolloff)
    length = signal.shape[0]
    padded = F.pad(signal[None, None], (width, width + orig))
    out = F.conv1d(padded, kernels.to(signal.device), stride=orig)  # (1, new, frames)
    out = out.transpose(1, 2).reshape(-1)
    return out[: math.ceil(new * length / orig)]


def _to_float_mono(audio: Any, name: str) -> np.ndarray:
    """Any 1-D/2-D array-like -> float32 mono numpy array (integers are scaled to [-1, 1])."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    array = np.asarray(audio)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name}: audio must be numeric samples, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name}: audio must be real-valued, got complex samples")
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    array = array.astype(np.float32, copy=False)
    if array.ndim == 2:
        short_axes = [axis for axis in (0, 1) if array.shape[axis] <= _MAX_CHANNELS]
        if len(short_axes) != 1 and not (array.shape[0] == array.shape[1] == 1):
            raise ValueError(
                f"{name}: cannot tell channels from samples in a {array.shape} array; pass mono 1-D audio or "
                f"(samples, channels) with at most {_MAX_CHANNELS} channels"
            )
        array = array.mean(axis=short_axes[0] if short_axes else 1)
    elif array.ndim != 1:
        raise ValueError(f"{name}: audio must be 1-D (mono) or 2-D (multi-channel), got shape {array.shape}")
    return array


def _check_finite_nonempty(array: np.ndarray, name: str) -> None:
    if array.size == 0:
        raise ValueError(f"{name}: audio is empty (0 samples)")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        kind = "NaN" if np.isnan(array[first]) else "infinite"
        raise ValueError(f"{name}: audio holds {int(bad.sum())} NaN/infinite samples (first: {kind} at sample {first})")


class DeepFeverAudioFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Log-mel context windows aligned to label steps, for [`DeepFeverAVModel`].

    Args:
        feature_size (`int`, *optional*, defaults to 64):
            Number of mel bands.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Rate the features are computed at; other rates are resampled to it.
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
            sampling_rate=sampling_rate,
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

    def _windows(self, log_mel: torch.Tensor, first_step: int, num_steps: int, offset_s: float = 0.0) -> torch.Tensor:
        """Context windows for steps [first_step, first_step + num_steps) from frames whose frame 0 is at `offset_s`."""
        context = self.context_frames
        step_times = (torch.arange(first_step, first_step + num_steps, dtype=torch.float64) * self.step_ms / 1000.0)
        centres = torch.round((step_times - offset_s) * 1000.0 / self.hop_ms).long()
        starts = centres - context // 2
        index = starts[:, None] + torch.arange(context)[None, :]  # (steps, context)
        margin_left = int(max(0, -int(index.min())))
        margin_right = int(max(0, int(index.max()) - log_mel.shape[0] + 1))
        padded = F.pad(log_mel.T, (margin_left, margin_right), value=self.silence_value)  # (mels, frames)
        windows = padded[:, index + margin_left]  # (mels, steps, context)
        return windows.permute(1, 0, 2).contiguous()

    def _prepare(self, audio: Any, sampling_rate: int, name: str) -> torch.Tensor:
        array = _to_float_mono(audio, name)
        _check_finite_nonempty(array, name)
        duration = array.shape[0] / sampling_rate
        if duration > self.max_duration_s:
            raise ValueError(
                f"{name}: {duration:.1f} s of audio is longer than max_duration_s={self.max_duration_s:g} s; "
                "use DeepFeverAudioFeatureExtractor.iter_chunks(path_or_array, sampling_rate, chunk_steps) for long "
                "recordings (or raise max_duration_s knowingly)"
            )
        return resample(array, sampling_rate, self.sampling_rate)

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
            raw_speech: one recording (1-D array/list/tensor, or 2-D multi-channel, averaged to mono) or a list of them.
            sampling_rate: rate of `raw_speech`; resampled to `self.sampling_rate` when different. Pass it: when
                omitted, `self.sampling_rate` is assumed (with a warning).
            return_tensors: "pt" (default) or "np".
        """
        if sampling_rate is None:
            logger.warning(
                f"No sampling_rate given to {type(self).__name__}; assuming {self.sampling_rate} Hz. "
                "Pass sampling_rate to avoid silently wrong features."
            )
            sampling_rate = self.sampling_rate
        if sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
        batch = self._as_batch(raw_speech)
        per_item = []
        for index, audio in enumerate(batch):
            name = f"audio item {index}" if len(batch) > 1 else "audio"
            mono = _to_float_mono(audio, name)
            num_steps = self.num_steps(mono.shape[0], sampling_rate)
            waveform = self._prepare(mono, sampling_rate, name)
            per_item.append(self._windows(self._log_mel(waveform), 0, num_steps))
        features, mask = self._pad(per_item)
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
        if isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("audio is empty (an empty list)")
            if all(isinstance(item, (list, tuple, np.ndarray, torch.Tensor)) for item in raw_speech):
                return list(raw_speech)
            return [raw_speech]  # a plain list of samples
        if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
            return [raw_speech]
        raise TypeError(f"audio must be an array, tensor or a list of them, got {type(raw_speech).__name__}")

    def _pad(self, items: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
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

        A file path is read with `soundfile` block by block (only one chunk plus its context margin is in memory);
        an array is sliced. Each chunk's context reaches into its neighbours, so the concatenated chunks equal the
        features of the whole recording (up to resampling round-off at chunk edges for non-16 kHz audio).

        Yields:
            `BatchFeature` with `input_features` `(1, n, feature_size, context_frames)`, `attention_mask` `(1, n)`,
            and `first_step` (int): the index of the chunk's first step in the recording.
        """
        if chunk_steps < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {chunk_steps}")
        with _AudioSource(path_or_array, sampling_rate) as source:
            num_steps = self.num_steps(source.total, source.rate)
            for first in range(0, num_steps, chunk_steps):
                count = min(chunk_steps, num_steps - first)
                windows = self._block_features(source, first, count)
                yield BatchFeature(
                    data={
                        "input_features": windows[None],
                        "attention_mask": torch.ones((1, count), dtype=torch.long),
                        "first_step": first,
                    }
                )

    def step_features(
        self, path_or_array: Any, first_step: int, num_steps: int, sampling_rate: int | None = None
    ) -> torch.Tensor:
        """`(num_steps, feature_size, context_frames)` features of steps `[first_step, first_step + num_steps)`.

        Reads only the samples those steps need (a file through `soundfile`), so training on chunks of a long
        recording never loads it whole. Steps past the end of the recording hold silence.
        """
        if first_step < 0 or num_steps < 1:
            raise ValueError(f"need first_step >= 0 and num_steps >= 1, got {first_step} and {num_steps}")
        with _AudioSource(path_or_array, sampling_rate) as source:
            return self._block_features(source, first_step, num_steps)

    def _block_features(self, source: _AudioSource, first: int, count: int) -> torch.Tensor:
        rate = source.rate
        # Context of the outermost steps + the STFT window + the resampler's filter reach.
        margin_s = self.context_ms / 2000.0 + self.n_fft / self.sampling_rate + 64.0 / min(rate, self.sampling_rate)
        # Start on the whole-recording frame grid (a multiple of hop) so the block's frames coincide with it.
        hop_s = self.hop_ms / 1000.0
        start_s = max(0.0, math.floor((first * self.step_ms / 1000.0 - margin_s) / hop_s) * hop_s)
        stop_s = (first + count - 1) * self.step_ms / 1000.0 + margin_s
        start = min(int(round(start_s * rate)), source.total - 1)
        stop = min(source.total, int(math.ceil(stop_s * rate)) + 1)
        block = source.read(start, max(stop, start + 1))
        _check_finite_nonempty(block, f"{source.name} (samples {start}-{stop})")
        waveform = resample(block, rate, self.sampling_rate)
        # Frame 0 of this block sits at start / rate seconds of the recording.
        return self._windows(self._log_mel(waveform), first, count, offset_s=start / rate)


class _AudioSource:
    """Random access to a recording's samples: a sound file (read with soundfile, by blocks) or an array."""

    def __init__(self, path_or_array: Any, sampling_rate: int | None) -> None:
        self._handle = None
        if isinstance(path_or_array, (str, bytes)) or hasattr(path_or_array, "__fspath__"):
            import soundfile  # only needed for files

            self.name = str(path_or_array)
            self._handle = soundfile.SoundFile(path_or_array)
            self.total, self.rate = self._handle.frames, self._handle.samplerate
            self._array = None
        else:
            if sampling_rate is None:
                raise ValueError("reading features from an array needs its sampling_rate")
            self.name = "audio"
            self._array = _to_float_mono(path_or_array, self.name)
            self.total, self.rate = self._array.shape[0], int(sampling_rate)
        if self.total == 0:
            self.close()
            raise ValueError(f"{self.name}: audio is empty (0 samples)")

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._array is not None:
            return self._array[start:stop]
        self._handle.seek(start)
        return self._handle.read(stop - start, dtype="float32", always_2d=True).mean(axis=1)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> _AudioSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

DeepFeverAudioFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

__all__ = ["DeepFeverAudioFeatureExtractor", "resample"]

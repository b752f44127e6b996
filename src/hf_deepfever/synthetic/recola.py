"""The synthetic demo corpus's RECOLA part, in the AVEC 2016 layout.

Each recording follows two smooth traces, valence and arousal (low-pass filtered noise). They
drive, every 40 ms, the expression of a rendered face (video, 25 fps) and the pitch, loudness,
brightness and syllable rate of a voice-like signal (audio, 16 kHz mono); the mouth also moves
with the syllables. Six simulated raters follow the traces with their own lag, bias and noise
(``ratings_individual``); the gold standard is their lag-compensated mean
(``ratings_gold_standard``). Test labels are withheld, as in AVEC 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dependencies import require_module
from ..core.files import atomic_output
from . import layouts
from .face_renderer import (
    ExpressionParams,
    FaceAppearance,
    SceneParams,
    draw_background,
    expression_from_valence_arousal,
    render_face,
    sample_appearance,
    sample_scene,
)

_RECOLA = 16  # part id of the seed stream
LABEL_STEP_S = layouts.RECOLA_LABEL_STEP_S
FRAME_RATE = 25
SAMPLE_RATE = 16_000
RATER_NAMES = layouts.RECOLA_RATER_NAMES
SPLITS = ("train", "dev", "test")
CENTRE_BOX_FRACTION = 0.8
"""The share of the frame's shorter side that a recording's face box spans, centred: the square the ``centre`` face
locator crops (``hf_deepfever.video.faces.centre_box``; synthetic/ does not import video/)."""
LABELLED_SPLITS = ("train", "dev")

# Vowel formants (F1, F2, F3) in Hz, one vowel per syllable.
_VOWELS = np.array(
    [[800, 1200, 2500], [500, 1800, 2500], [300, 2200, 2900], [500, 900, 2400], [350, 800, 2300]], dtype=np.float64
)


@dataclass(frozen=True)
class RecordingJob:
    """One recording to synthesise: ``<split>_<number>`` lasting ``duration_s`` seconds."""

    root: str
    split: str
    number: int
    seed: tuple[int, ...]
    duration_s: float
    frame_size: int


def lowpass_noise(rng: np.random.Generator, length: int, step_s: float, cutoff_hz: float) -> np.ndarray:
    """Gaussian noise of unit standard deviation with no energy above ``cutoff_hz`` (smooth rolloff)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length, d=step_s)
    spectrum *= np.exp(-0.5 * (frequencies / cutoff_hz) ** 2)
    signal = np.fft.irfft(spectrum, n=length)
    return (signal - signal.mean()) / (signal.std() + 1e-12)


def emotion_traces(rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth (valence, arousal) traces sampled every 40 ms, in [-1, 1]."""
    traces = []
    for spread in (0.35, 0.32):
        slow = lowpass_noise(rng, steps, LABEL_STEP_S, cutoff_hz=0.04)
        faster = lowpass_noise(rng, steps, LABEL_STEP_S, cutoff_hz=0.2)
        offset = rng.uniform(-0.25, 0.3)
        traces.append(np.clip(offset + spread * (0.85 * slow + 0.35 * faster), -1.0, 1.0))
    return traces[0], traces[1]


def _speech_mask(rng: np.random.Generator, duration_s: float, arousal_at: np.ndarray, rate: int) -> np.ndarray:
    """1 while the speaker talks, 0 in pauses (longer pauses when calm), with 30 ms ramps."""
    mask = np.zeros(int(round(duration_s * rate)))
    time = rng.uniform(0.1, 0.8)
    while time < duration_s:
        talk = rng.uniform(1.0, 3.5)
        start, stop = int(time * rate), min(len(mask), int((time + talk) * rate))
        mask[start:stop] = 1.0
        calm = 1.0 - 0.5 * float(arousal_at[min(stop, len(mask) - 1)])
        time += talk + rng.uniform(0.25, 1.0) * calm
    ramp = max(1, int(0.03 * rate))
    kernel = np.ones(ramp) / ramp
    return np.convolve(mask, kernel, mode="same")


def synthesise_voice(
    rng: np.random.Generator, valence: np.ndarray, arousal: np.ndarray, duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """A voice-like signal whose pitch, loudness, brightness and syllable rate follow the traces.

    Returns the 16 kHz waveform (float32, peak below 1) and the syllable envelope sampled every
    40 ms (0-1, what the mouth follows).
    """
    samples = int(round(duration_s * SAMPLE_RATE))
    t = np.arange(samples) / SAMPLE_RATE
    label_times = np.arange(len(valence)) * LABEL_STEP_S
    v = np.interp(t, label_times, valence)
    a = np.interp(t, label_times, arousal)
    speaking = _speech_mask(rng, duration_s, a, SAMPLE_RATE)

    # Syllables: rate rises with arousal; one vowel per syllable.
    syllable_rate = np.clip(3.2 + 1.6 * a + 0.3 * v, 1.5, 6.5)
    syllable_phase = 2 * math.pi * np.cumsum(syllable_rate) / SAMPLE_RATE
    syllable_envelope = (0.5 - 0.5 * np.cos(syllable_phase)) ** 1.2
    syllable_index = (syllable_phase // (2 * math.pi)).astype(np.int64)
    vowels = rng.integers(len(_VOWELS), size=int(syllable_index[-1]) + 2)
    formants = _VOWELS[vowels[syllable_index]] * (1.0 + 0.05 * v)[:, None]  # smiling raises formants

    # Pitch: speaker's base, raised by arousal (and a little by valence), with a wider range when aroused.
    base_f0 = rng.uniform(100, 130) if rng.uniform() < 0.5 else rng.uniform(180, 230)
    contour = np.interp(t, label_times, lowpass_noise(rng, len(valence), LABEL_STEP_S, cutoff_hz=2.5))
    f0 = base_f0 * (1.0 + 0.22 * a + 0.06 * v) * (1.0 + (0.05 + 0.05 * (a + 1)) * contour)
    f0 *= 1.0 + 0.004 * rng.standard_normal(samples).cumsum() / np.sqrt(np.arange(1, samples + 1))  # jitter
    glottal_phase = 2 * math.pi * np.cumsum(f0) / SAMPLE_RATE

    # Harmonic amplitudes (spectral tilt times formant resonances) change slowly: compute them
    # every 4 ms and interpolate, rather than at every sample.
    control = np.arange(0, samples, 64)
    tilt = 1.3 - 0.35 * a[control] - 0.1 * v[control]  # a brighter spectrum when aroused
    f0_control, formants_control = f0[control], formants[control]
    voiced = np.zeros(samples)
    for harmonic in range(1, int(4500 // f0.min()) + 1):
        frequency = harmonic * f0_control
        resonance = sum(
            gain * np.exp(-0.5 * ((frequency - formants_control[:, j]) / width) ** 2)
            for j, (gain, width) in enumerate(((1.0, 90.0), (0.6, 120.0), (0.3, 160.0)))
        )
        amplitude = harmonic ** (-tilt) * (0.08 + resonance) * (frequency < 4500)
        voiced += np.interp(np.arange(samples), control, amplitude) * np.sin(harmonic * glottal_phase)
    voiced /= np.abs(voiced).max() + 1e-9

    loudness = 0.35 + 0.5 * (a + 1) / 2
    breath = 0.03 * rng.standard_normal(samples) * syllable_envelope
    room = 0.004 * rng.standard_normal(samples)
    wave = speaking * loudness * (syllable_envelope * voiced + breath) + room
    wave = (0.9 * wave / (np.abs(wave).max() + 1e-9)).astype(np.float32)

    mouth = np.interp(label_times, t, speaking * syllable_envelope)
    return wave, mouth


def _rater_traces(rng: np.random.Generator, trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Six raters (each lagging 0.2-1.2 s, biased and noisy) and their lag-compensated mean."""
    raters, realigned = [], []
    steps = len(trace)
    for _ in RATER_NAMES:
        lag = int(rng.integers(5, 31))  # in 40 ms steps
        noise = 0.08 * lowpass_noise(rng, steps, LABEL_STEP_S, cutoff_hz=0.5)
        bias = rng.normal(0, 0.07)
        rating = np.clip(trace + noise + bias, -1, 1)
        index = np.arange(steps)
        delayed = rating[np.clip(index - lag, 0, None)]  # holds the first value until the rater catches up
        raters.append(delayed)
        realigned.append(delayed[np.clip(index + lag, None, steps - 1)])
    gold = np.clip(np.mean(realigned, axis=0), -1, 1)
    return np.stack(raters, axis=1), gold


def _framed_like_centre_crop(scene: SceneParams, appearance: FaceAppearance) -> SceneParams:
    """``scene`` scaled and moved so that the neutral face's box (the box the image corpora annotate) is centred in
    the frame, its longer side :data:`CENTRE_BOX_FRACTION` of the frame's shorter side.

    A talking-head recording frames its face where a face locator that assumes one finds it: the centred square of
    ``--face_detector centre`` (the demo's AV stage) then crops the face as the image corpora's boxes do, so a
    DeepFEVER model trained on them reads the recording's expression. Framed as before (the face box 5-6 px below
    the centre of the 96 px frame, its side 68-77 px against the square's 77), the demo student's valence head read
    nothing through the centred square: CCC 0.06 on the train videos and -0.09 on dev, against 0.69 and 0.35
    through each frame's own face box. The box is linear in the scene's scale and centre: two corrections land it
    within a fraction of a pixel.
    """
    target = CENTRE_BOX_FRACTION * min(scene.width, scene.height)
    for _ in range(2):
        x, y, width, height = render_face(ExpressionParams(), appearance, scene).face_box
        ratio = target / max(width, height)
        scene = replace(
            scene,
            scale=scene.scale * ratio,
            center_x=scene.width / 2 + (scene.center_x - (x + width / 2)) * ratio,
            center_y=scene.height / 2 + (scene.center_y - (y + height / 2)) * ratio,
        )
    return scene


def _render_frames(
    rng: np.random.Generator, job: RecordingJob, valence: np.ndarray, arousal: np.ndarray, mouth: np.ndarray
) -> np.ndarray:
    """One 25 fps frame per 40 ms label step (the last step, at the end time, has none)."""
    size = job.frame_size
    appearance = sample_appearance(rng, "affectnet")
    scene = sample_scene(rng, "affectnet", width=size, height=size, face_fraction=(0.72, 0.85))
    scene = _framed_like_centre_crop(replace(scene, noise_std=min(scene.noise_std, 3.0)), appearance)
    backdrop = draw_background(scene)
    frames = len(valence) - 1
    roll = 6 * lowpass_noise(rng, frames, LABEL_STEP_S, cutoff_hz=0.3)
    yaw = 10 * lowpass_noise(rng, frames, LABEL_STEP_S, cutoff_hz=0.3)
    sway = lowpass_noise(rng, frames, LABEL_STEP_S, cutoff_hz=0.3)
    blink_starts = set(np.cumsum(rng.integers(50, 130, size=frames // 50 + 2)).tolist())
    video = np.empty((frames, size, size, 3), dtype=np.uint8)
    blink_left = 0
    for frame in range(frames):
        expression = expression_from_valence_arousal(valence[frame], arousal[frame])
        open_mouth = expression.mouth_open + 0.35 * mouth[frame]
        if frame in blink_starts:
            blink_left = 3
        eye_open = 0.15 if blink_left > 0 else expression.eye_open
        blink_left -= 1
        expression = replace(expression, mouth_open=open_mouth, eye_open=eye_open).clipped()
        frame_scene = replace(
            scene, roll=float(roll[frame]), yaw=float(yaw[frame]), center_x=scene.center_x + 2.0 * float(sway[frame])
        )
        image = render_face(expression, appearance, frame_scene, seed=frame, background=backdrop).image
        video[frame] = np.asarray(image)
    return video


def _write_video(path: Path, frames: np.ndarray) -> None:
    """MPEG-4 Part 2 MP4 at 25 fps through PyAV, written atomically: the same frames always give the same bytes.

    Not H.264: this build's x264 encodes the same frames to different streams while other processes load the
    machine, even in one thread (measured: 3 different files from 8 encodes of one recording, each decoding to
    different frames), and the demo's DeepFEVER-AV figures then change from one generation to the next. FFmpeg's
    own MPEG-4 encoder, in one thread and at a constant quantiser, gave one file in every encode; quantiser 4
    keeps the frames as close to the rendered ones as x264 at CRF 23 did (34.3 dB PSNR).
    """
    av = require_module("av", install="pip install 'av>=12'", purpose="writing the demo's RECOLA videos (PyAV)")

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        # The temporary name does not end in .mp4: name the container format.
        with av.open(str(temporary), mode="w", format="mp4") as container:
            stream = container.add_stream("mpeg4", rate=FRAME_RATE)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, FRAME_RATE)
            stream.options = {"qmin": "4", "qmax": "4"}  # a constant quantiser: no rate control to vary
            stream.codec_context.thread_count = 1  # PyAV's thread_count overrides an options entry "threads"
            stream.codec_context.thread_type = "NONE"
            for pixels in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def _write_labels(root: Path, name: str, dimension: str, raters: np.ndarray, gold: np.ndarray) -> None:
    """The gold-standard ARFF and the individual ratings of one dimension, a line every 40 ms from 0 s."""
    layouts.write_gold_standard(
        layouts.recola_gold_standard_path(root, dimension, name),
        dimension,
        (layouts.format_arff_row(name, index * LABEL_STEP_S, value) for index, value in enumerate(gold)),
    )
    layouts.write_individual_ratings(
        layouts.recola_ratings_path(root, dimension, name),
        (layouts.format_ratings_row(index * LABEL_STEP_S, row) for index, row in enumerate(raters)),
        raters=RATER_NAMES,
    )


def run_recording_job(job: RecordingJob) -> dict[str, Any]:
    """Synthesises one recording: wav, mp4 and (train/dev only) gold-standard and individual ratings."""
    rng = np.random.default_rng(list(job.seed))
    root, name = Path(job.root), f"{job.split}_{job.number}"
    steps = int(round(job.duration_s / LABEL_STEP_S)) + 1
    valence, arousal = emotion_traces(rng, steps)
    wave, mouth = synthesise_voice(rng, valence, arousal, job.duration_s)
    frames = _render_frames(rng, job, valence, arousal, mouth)
    layouts.write_wav(layouts.recola_audio_path(root, name), wave, SAMPLE_RATE)
    _write_video(layouts.recola_video_path(root, name), frames)
    if job.split in LABELLED_SPLITS:
        for dimension, trace in (("arousal", arousal), ("valence", valence)):
            raters, gold = _rater_traces(rng, trace)
            _write_labels(root, name, dimension, raters, gold)
    return {
        "id": name,
        "label_rows": steps if job.split in LABELLED_SPLITS else 0,
        "frames": len(frames),
        "audio_samples": len(wave),
    }


def recording_jobs(root: Path, *, seed: int, per_split: int, duration_s: float, frame_size: int) -> list[RecordingJob]:
    """The jobs of ``per_split`` recordings in each of train, dev and test, lengths varying +-20%."""
    rng = np.random.default_rng([seed, _RECOLA])
    jobs = []
    for split in SPLITS:
        for number in range(1, per_split + 1):
            duration = round(duration_s * rng.uniform(0.8, 1.2) / LABEL_STEP_S) * LABEL_STEP_S
            jobs.append(
                RecordingJob(
                    str(root), split, number, (seed, _RECOLA, SPLITS.index(split), number), duration, frame_size
                )
            )
    return jobs


def summarise_recordings(root: Path, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-split recording ids and label-row counts."""
    summary: dict[str, Any] = {"root": str(root)}
    for split in SPLITS:
        mine = [r for r in results if r["id"].startswith(split + "_")]
        summary[split] = {
            "recordings": len(mine),
            "ids": [r["id"] for r in mine],
            "label_rows": {r["id"]: r["label_rows"] for r in mine},
            "frames": {r["id"]: r["frames"] for r in mine},
        }
    return summary

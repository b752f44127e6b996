"""Small media files for the video and audio-path tests, written with PyAV (frames, tones, rotation, PCM tracks).

Every file is generated in the test's tmp folder; nothing is downloaded. Faces come from matplotlib's real
portrait (``real_photos.grace_hopper``) when a detector must find them, else from a synthetic moving square.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import PIL.Image

from real_photos import grace_hopper

import av

SECONDS, FPS, RATE = 1.2, 25, 16000


def square_frames(count: int, side: int = 64) -> list[np.ndarray]:
    """A bright square moving on a dark background."""
    frames = []
    for index in range(count):
        pixels = np.full((side, side, 3), 30, dtype=np.uint8)
        pixels[10 + index % 20 : 40 + index % 20, 16:48] = 220
        frames.append(pixels)
    return frames


def tone(seconds: float, rate: int = RATE, frequency: float = 220.0, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(int(round(seconds * rate))) / rate)).astype(np.float32)


def voice_like(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Noise with a slowly changing loudness and a few tones: log-mel features that vary from step to step."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    envelope = 0.2 + 0.15 * np.sin(2 * np.pi * 0.7 * t) ** 2
    signal = envelope * (0.5 * rng.standard_normal(t.shape) + np.sin(2 * np.pi * 300 * t) + 0.5 * np.sin(2 * np.pi * 1100 * t))
    return (0.4 * signal / np.abs(signal).max()).astype(np.float32)


def write_clip(
    path: Path,
    frames: Sequence[np.ndarray] | None = None,
    audio: np.ndarray | None = None,
    *,
    fps: int = FPS,
    audio_rate: int = RATE,
    video_codec: str = "mpeg4",
    audio_codec: str = "aac",
    rotation: float | None = None,
    container_format: str | None = None,
) -> Path:
    """A media file of `frames` (RGB uint8, at `fps`) and/or mono `audio` (float32, or int16 samples stored as they
    are, at `audio_rate`).

    `video_codec="libx264rgb"` is lossless (qp 0, RGB), so decoded frames equal the ones written; `audio_codec`
    "pcm_s16le" / "pcm_f32le" / "flac" store the samples exactly (in MKV/MOV), "aac" lossily. `rotation` writes the
    stream's display matrix (degrees counter-clockwise, what `VideoFrame.rotation` reads back).
    """
    with av.open(str(path), mode="w", format=container_format) as container:
        video_stream = audio_stream = None
        if frames is not None:
            video_stream = container.add_stream(video_codec, rate=fps)
            video_stream.height, video_stream.width = frames[0].shape[:2]
            video_stream.pix_fmt = "rgb24" if video_codec == "libx264rgb" else "yuv420p"
            if video_codec.startswith("libx264"):
                video_stream.options = {"qp": "0", "preset": "ultrafast"}
            elif video_codec == "mpeg4":
                video_stream.options = {"qscale": "2"}
            if rotation is not None:
                video_stream.set_display_rotation(rotation)
        if audio is not None:
            audio_stream = container.add_stream(audio_codec, rate=audio_rate)
            audio_stream.layout = "mono"
        if video_stream is not None:
            for index, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                for packet in video_stream.encode(frame):
                    container.mux(packet)
            for packet in video_stream.encode():
                container.mux(packet)
        if audio_stream is not None:
            sample_format = {"pcm_s16le": "s16", "flac": "s16"}.get(audio_codec, "flt")
            for start in range(0, audio.size, 1024):
                block = audio[start : start + 1024][None]
                if sample_format == "s16" and block.dtype != np.int16:
                    block = np.clip(np.round(block * 32768), -32768, 32767).astype(np.int16)
                elif sample_format == "flt":
                    block = block.astype(np.float32) / (32768.0 if block.dtype == np.int16 else 1.0)
                frame = av.AudioFrame.from_ndarray(block, format=sample_format, layout="mono")
                frame.sample_rate = audio_rate
                frame.pts = start
                frame.time_base = Fraction(1, audio_rate)
                for packet in audio_stream.encode(frame):
                    container.mux(packet)
            for packet in audio_stream.encode():
                container.mux(packet)
    return path


def write_media(path: Path, *, video: bool = True, audio: bool = True) -> Path:
    """A SECONDS-long file: a moving bright square on dark (25 fps), and/or a 220 Hz tone (AAC, 16 kHz)."""
    frames = square_frames(int(SECONDS * FPS)) if video else None
    return write_clip(path, frames, tone(SECONDS) if audio else None)


def portrait(scale: float) -> PIL.Image.Image:
    image = grace_hopper()
    return image.resize((round(image.width * scale), round(image.height * scale)), PIL.Image.Resampling.BILINEAR)


def two_people_frames(count: int, size: tuple[int, int] = (480, 300)) -> list[np.ndarray]:
    """Two copies of the real portrait: one of constant size at the left (the largest in the first frames), one at
    the right growing from 0.3x to 0.6x, larger than the first from about 0.5x on."""
    left = portrait(0.45)
    frames = []
    for index in range(count):
        canvas = PIL.Image.new("RGB", size, (128, 128, 128))
        canvas.paste(left, (10, 20))
        canvas.paste(portrait(0.3 + 0.3 * index / max(1, count - 1)), (250, 30))
        frames.append(np.asarray(canvas))
    return frames


def one_person_frames(count: int, scale: float = 0.45, size: tuple[int, int] = (300, 300)) -> list[np.ndarray]:
    """The real portrait drifting slowly to the right on a gray canvas."""
    face = portrait(scale)
    frames = []
    for index in range(count):
        canvas = PIL.Image.new("RGB", size, (128, 128, 128))
        canvas.paste(face, (20 + 2 * index, 10))
        frames.append(np.asarray(canvas))
    return frames


def set_matroska_duration(path: Path, seconds: float) -> None:
    """Overwrite the Segment Info Duration of an MKV written by FFmpeg (a float in TimecodeScale units, 1 ms) so
    the container claims `seconds`: what a hostile or broken file's header can say."""
    data = bytearray(path.read_bytes())
    element = data.find(b"\x44\x89")  # the Duration element's ID
    if element < 0:
        raise AssertionError(f"{path} has no Matroska Duration element")
    size = data[element + 2]
    if size == 0x88:
        data[element + 3 : element + 11] = struct.pack(">d", seconds * 1000.0)
    elif size == 0x84:
        data[element + 3 : element + 7] = struct.pack(">f", seconds * 1000.0)
    else:
        raise AssertionError(f"unexpected Duration size byte {size:#x}")
    path.write_bytes(bytes(data))

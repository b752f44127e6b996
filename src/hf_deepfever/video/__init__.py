"""Reading face videos for DeepFEVER-AV: frames at label steps and the audio track (PyAV), faces per frame."""

from .decode import VideoInfo, decode_audio, frames_at_steps, probe_video
from .faces import FaceLocator

__all__ = ["FaceLocator", "VideoInfo", "decode_audio", "frames_at_steps", "probe_video"]

"""Reading face videos for DeepFEVER-AV: frames at label steps and the audio track (PyAV), faces per frame."""

from .decode import VideoInfo, decode_audio, frames_at_steps, probe_video, steps_for_duration
from .faces import FaceLocator
from .trace import Trace, compute_visual_features, predict_trace

__all__ = [
    "FaceLocator",
    "Trace",
    "VideoInfo",
    "compute_visual_features",
    "decode_audio",
    "frames_at_steps",
    "predict_trace",
    "probe_video",
    "steps_for_duration",
]

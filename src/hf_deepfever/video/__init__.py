"""Reading face videos: upright frames at label steps (PyAV), the main face followed from frame to frame with the
package's face detectors, and traces with DeepFEVER-AV or a DeepFEVER image model. The audio track is read by the
DeepFEVER-AV feature extractor's one reader, as in training."""

from .decode import VideoInfo, frames_at_steps, probe_video, steps_for_duration
from .faces import FaceLocator, FaceTrack
from .trace import Trace, predict_trace
from .visual import compute_visual_features, run_on_faces

__all__ = [
    "FaceLocator",
    "FaceTrack",
    "Trace",
    "VideoInfo",
    "compute_visual_features",
    "frames_at_steps",
    "predict_trace",
    "probe_video",
    "run_on_faces",
    "steps_for_duration",
]

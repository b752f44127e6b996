"""DeepFEVER-AV configuration: a DeepFEVER visual extractor, a log-mel audio encoder, model-level fusion and a
recurrent network that predicts valence and arousal every label step.

This file travels to the Hub as remote code: it imports only ``transformers`` and its sibling configuration.
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .configuration_deepfever import VALENCE_AROUSAL, DeepFeverConfig

FUSION_TYPES = ("concat", "gated")
RNN_TYPES = ("gru", "lstm")


class DeepFeverAVConfig(PreTrainedConfig):
    r"""
    Configuration of [`DeepFeverAVModel`].

    Args:
        vision_config (`dict` or [`DeepFeverConfig`], *optional*):
            The DeepFEVER extractor whose expression vector (its `embedding_dim`) is the visual stream.
        freeze_vision_model (`bool`, *optional*, defaults to `True`):
            Keep the DeepFEVER extractor frozen (no gradients, eval mode) as in the method.
        num_mel_bins (`int`, *optional*, defaults to 64):
            Mel bands of the audio features (the feature extractor's `feature_size`).
        audio_context_frames (`int`, *optional*, defaults to 40):
            Log-mel frames per step (the feature extractor's `context_frames`: `context_ms / hop_ms`).
        audio_channels (`list[int]`, *optional*, defaults to `[16, 32, 64]`):
            Output channels of the audio encoder's conv blocks (3x3 conv, batch norm, ReLU, 2x2 max-pool each).
        audio_embedding_dim (`int`, *optional*, defaults to 64):
            Width of the per-step audio vector.
        visual_projection_dim (`int`, *optional*, defaults to 64):
            Width the expression vector is projected to before fusion.
        fusion (`str`, *optional*, defaults to `"concat"`):
            `"concat"`: concatenate both streams and project to `fusion_dim`; `"gated"`: project both to
            `fusion_dim` and mix them with a learned per-feature sigmoid gate.
        fusion_dim (`int`, *optional*, defaults to 128):
            Width of the fused per-step vector fed to the recurrent network.
        rnn_type (`str`, *optional*, defaults to `"gru"`):
            `"gru"` or `"lstm"`.
        hidden_size (`int`, *optional*, defaults to 64):
            Hidden size of the recurrent network (per direction).
        num_layers (`int`, *optional*, defaults to 2):
            Recurrent layers.
        bidirectional (`bool`, *optional*, defaults to `True`):
            Read the sequence both ways (offline use); `False` for causal, streaming-friendly predictions.
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout after fusion and between recurrent layers.
        output_names (`list[str]`, *optional*, defaults to `["valence", "arousal"]`):
            What the two units of the output layer predict, in their order. The model always returns
            `valence_arousal` ordered (valence, arousal); checkpoints saved before that order was fixed say
            `["arousal", "valence"]` here and are read the right way round.
    """

    model_type = "deepfever-av"
    sub_configs_defaults = {"vision_config": SubConfigSpec(config_class=DeepFeverConfig)}

    def __init__(
        self,
        vision_config: dict[str, Any] | DeepFeverConfig | None = None,
        freeze_vision_model: bool = True,
        num_mel_bins: int = 64,
        audio_context_frames: int = 40,
        audio_channels: list[int] | tuple[int, ...] = (16, 32, 64),
        audio_embedding_dim: int = 64,
        visual_projection_dim: int = 64,
        fusion: str = "concat",
        fusion_dim: int = 128,
        rnn_type: str = "gru",
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.1,
        output_names: list[str] | tuple[str, ...] = VALENCE_AROUSAL,
        **kwargs: Any,
    ) -> None:
        if vision_config is None:
            vision_config = DeepFeverConfig()
        elif isinstance(vision_config, dict):
            vision_config = DeepFeverConfig(**{k: v for k, v in vision_config.items() if k != "model_type"})
        elif not isinstance(vision_config, DeepFeverConfig):
            raise TypeError(f"vision_config must be a dict or DeepFeverConfig, got {type(vision_config).__name__}")
        if fusion not in FUSION_TYPES:
            raise ValueError(f"fusion must be one of {FUSION_TYPES}, got {fusion!r}")
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"rnn_type must be one of {RNN_TYPES}, got {rnn_type!r}")
        if not audio_channels or any(int(c) < 1 for c in audio_channels):
            raise ValueError(f"audio_channels must be a non-empty list of positive ints, got {audio_channels!r}")
        for name, value in (
            ("num_mel_bins", num_mel_bins),
            ("audio_context_frames", audio_context_frames),
            ("audio_embedding_dim", audio_embedding_dim),
            ("visual_projection_dim", visual_projection_dim),
            ("fusion_dim", fusion_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if sorted(output_names) != sorted(VALENCE_AROUSAL):
            raise ValueError(f"output_names must name the 2 outputs, valence and arousal (in any order), got {output_names!r}")

        self.vision_config = vision_config
        self.freeze_vision_model = freeze_vision_model
        self.num_mel_bins = int(num_mel_bins)
        self.audio_context_frames = int(audio_context_frames)
        self.audio_channels = [int(c) for c in audio_channels]
        self.audio_embedding_dim = int(audio_embedding_dim)
        self.visual_projection_dim = int(visual_projection_dim)
        self.fusion = fusion
        self.fusion_dim = int(fusion_dim)
        self.rnn_type = rnn_type
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.output_names = list(output_names)
        super().__init__(**kwargs)


__all__ = ["DeepFeverAVConfig", "FUSION_TYPES", "RNN_TYPES"]

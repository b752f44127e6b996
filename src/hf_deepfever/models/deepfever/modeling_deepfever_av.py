"""DeepFEVER-AV: continuous arousal and valence every label step (40 ms on RECOLA) from a face video and its voice.

Visual stream: the frozen DeepFEVER expression vector of each frame's face (computed inside the model from
`pixel_values`, or passed in precomputed as `visual_features`). Audio stream: a small conv encoder over each
step's log-mel context window. The two are fused per step (concatenation or a learned gate) and a GRU/LSTM over
the steps predicts `(arousal, valence)` per step. Loss: 1 - CCC per dimension, averaged.

A step whose frame has no face (`face_mask` False) or no audio (`audio_mask` False) uses a learned "missing"
embedding for that stream; padded steps (`attention_mask` 0, padding on the right) are skipped by the recurrent
network and by the loss.

This file travels to the Hub as remote code: it imports only torch, transformers and its sibling model files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_deepfever_av import DeepFeverAVConfig
from .modeling_deepfever import DeepFeverModel, ccc_loss

# Written into config.auto_map on save so that the saved folder loads through remote code without the package.
_AUTO_MAP = {
    "AutoConfig": "configuration_deepfever_av.DeepFeverAVConfig",
    "AutoModel": "modeling_deepfever_av.DeepFeverAVModel",
}

# Frames pushed through the frozen extractor at once when the model computes the visual stream itself.
_VISION_BATCH = 64


@dataclass
class DeepFeverAVOutput(ModelOutput):
    """
    Output of [`DeepFeverAVModel`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Mean over the two dimensions of 1 - CCC, over the real steps with a finite label (when `labels` is given;
            see `modeling_deepfever.ccc_loss`).
        arousal_valence (`torch.FloatTensor` of shape `(batch_size, steps, 2)`):
            Predictions per step: `[..., 0]` arousal, `[..., 1]` valence. Padded steps hold zeros.
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, steps, hidden)`):
            Recurrent network outputs (both directions concatenated when bidirectional).
        visual_features (`torch.FloatTensor` of shape `(batch_size, steps, embedding_dim)`, *optional*):
            The DeepFEVER expression vectors used (computed or passed in).
    """

    loss: torch.FloatTensor | None = None
    arousal_valence: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    visual_features: torch.FloatTensor | None = None


class DeepFeverAudioEncoder(nn.Module):
    """(N, n_mels, context_frames) log-mel windows -> (N, audio_embedding_dim), one vector per step."""

    def __init__(self, config: DeepFeverAVConfig) -> None:
        super().__init__()
        # Log-mel values sit around -14..+5: normalising the input keeps the first conv well scaled.
        self.input_norm = nn.BatchNorm2d(1)
        blocks: list[nn.Module] = []
        in_channels = 1
        for out_channels in config.audio_channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.projection = nn.Linear(in_channels, config.audio_embedding_dim)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        hidden = self.blocks(self.input_norm(windows[:, None]))
        return torch.relu(self.projection(self.pool(hidden).flatten(1)))


class DeepFeverAVFusion(nn.Module):
    """Model-level fusion of the per-step visual and audio vectors."""

    def __init__(self, config: DeepFeverAVConfig) -> None:
        super().__init__()
        self.kind = config.fusion
        visual_dim, audio_dim, fused = config.visual_projection_dim, config.audio_embedding_dim, config.fusion_dim
        if self.kind == "concat":
            self.projection = nn.Linear(visual_dim + audio_dim, fused)
        else:
            self.visual = nn.Linear(visual_dim, fused)
            self.audio = nn.Linear(audio_dim, fused)
            self.gate = nn.Linear(visual_dim + audio_dim, fused)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        both = torch.cat([visual, audio], dim=-1)
        if self.kind == "concat":
            fused = self.projection(both)
        else:
            gate = torch.sigmoid(self.gate(both))
            fused = gate * self.visual(visual) + (1 - gate) * self.audio(audio)
        return self.dropout(self.activation(fused))


class DeepFeverAVPreTrainedModel(PreTrainedModel):
    config_class = DeepFeverAVConfig
    base_model_prefix = "deepfever_av"
    main_input_name = "input_features"
    input_modalities = ("audio", "video")
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        # Only our own layers: the DeepFEVER extractor inside keeps its own (often pretrained) weights and init.
        if isinstance(module, DeepFeverModel) or id(module) in self._vision_module_ids():
            return
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.GRU, nn.LSTM)):
            for name, parameter in module.named_parameters():
                if "weight_hh" in name:
                    nn.init.orthogonal_(parameter)
                elif "weight_ih" in name:
                    nn.init.xavier_uniform_(parameter)
                else:
                    nn.init.zeros_(parameter)
        elif isinstance(module, DeepFeverAVModel):
            nn.init.zeros_(module.missing_visual)
            nn.init.zeros_(module.missing_audio)

    def _vision_module_ids(self) -> set[int]:
        vision = getattr(self, "vision_model", None)
        return {id(sub) for sub in vision.modules()} if isinstance(vision, nn.Module) else set()

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> None:
        # One folder serves AutoConfig and AutoModel through remote code, like the visual model.
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **_AUTO_MAP}
        super().save_pretrained(save_directory, *args, **kwargs)


def _check_steps(name: str, tensor: torch.Tensor | None, batch: int, steps: int) -> None:
    if tensor is not None and tuple(tensor.shape[:2]) != (batch, steps):
        raise ValueError(f"{name} must start with (batch, steps) = {(batch, steps)}, got shape {tuple(tensor.shape)}")


class DeepFeverAVModel(DeepFeverAVPreTrainedModel):
    """DeepFEVER-AV: `(batch, steps, 2)` arousal/valence from audio features and face frames (or their vectors)."""

    def __init__(self, config: DeepFeverAVConfig) -> None:
        super().__init__(config)
        self.vision_model = DeepFeverModel(config.vision_config)
        if config.freeze_vision_model:
            self.vision_model.requires_grad_(False)
        embedding_dim = config.vision_config.embedding_dim
        self.visual_projection = nn.Sequential(
            nn.Linear(embedding_dim, config.visual_projection_dim), nn.GELU(), nn.Dropout(config.dropout)
        )
        self.audio_encoder = DeepFeverAudioEncoder(config)
        # Stand-ins for a stream that is absent at a step (no face found, no audio track).
        self.missing_visual = nn.Parameter(torch.zeros(config.visual_projection_dim))
        self.missing_audio = nn.Parameter(torch.zeros(config.audio_embedding_dim))
        self.fusion = DeepFeverAVFusion(config)
        rnn_class = nn.GRU if config.rnn_type == "gru" else nn.LSTM
        self.rnn = rnn_class(
            input_size=config.fusion_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden_size * (2 if config.bidirectional else 1), 2)
        self.post_init()

    def train(self, mode: bool = True) -> DeepFeverAVModel:
        super().train(mode)
        if self.config.freeze_vision_model:
            self.vision_model.eval()  # frozen: batch norm statistics and dropout stay in inference mode
        return self

    @torch.no_grad()
    def _frozen_vectors(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.vision_model(chunk).pooler_output for chunk in pixel_values.split(_VISION_BATCH)])

    def compute_visual_features(self, pixel_values: torch.Tensor, face_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(batch, steps, 3, H, W)` face crops -> `(batch, steps, embedding_dim)` expression vectors.

        Frames with `face_mask` False are not run through the extractor (their vector is zero).
        """
        if pixel_values.ndim != 5:
            raise ValueError(
                f"pixel_values must be (batch, steps, 3, height, width) face crops, got shape {tuple(pixel_values.shape)}"
            )
        batch, steps = pixel_values.shape[:2]
        flat = pixel_values.reshape(batch * steps, *pixel_values.shape[2:])
        keep = torch.ones(batch * steps, dtype=torch.bool, device=flat.device)
        if face_mask is not None:
            keep = face_mask.reshape(-1).to(device=flat.device, dtype=torch.bool)
        vectors = flat.new_zeros((batch * steps, self.config.vision_config.embedding_dim), dtype=self.dtype)
        if keep.any():
            selected = flat[keep]
            if self.config.freeze_vision_model:
                encoded = self._frozen_vectors(selected)
            else:
                encoded = self.vision_model(selected).pooler_output
            vectors = vectors.index_put((keep.nonzero().squeeze(1),), encoded.to(vectors.dtype))
        return vectors.reshape(batch, steps, -1)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        visual_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> DeepFeverAVOutput | tuple[torch.Tensor, ...]:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch_size, steps, num_mel_bins, audio_context_frames)`, *optional*):
            Log-mel windows from [`DeepFeverAudioFeatureExtractor`]. Omitted: no audio at any step.
        pixel_values (`torch.FloatTensor` of shape `(batch_size, steps, 3, height, width)`, *optional*):
            One face crop per step (from `DeepFeverImageProcessor`); run through the frozen DeepFEVER extractor.
        visual_features (`torch.FloatTensor` of shape `(batch_size, steps, embedding_dim)`, *optional*):
            Precomputed DeepFEVER expression vectors (instead of `pixel_values`).
        attention_mask (`torch.LongTensor` of shape `(batch_size, steps)`, *optional*):
            1 for real steps, 0 for padding; padding must be on the right.
        face_mask (`torch.BoolTensor` of shape `(batch_size, steps)`, *optional*):
            False where the frame has no usable face (the visual stream is then the learned "missing" vector).
        audio_mask (`torch.BoolTensor` of shape `(batch_size, steps)`, *optional*):
            False where there is no audio (e.g. a video without a sound track).
        labels (`torch.FloatTensor` of shape `(batch_size, steps, 2)`, *optional*):
            Gold arousal, valence per step; NaN marks a missing label.
        """
        if input_features is None and pixel_values is None and visual_features is None:
            raise ValueError("give at least one stream: input_features (audio) and/or pixel_values or visual_features")
        if pixel_values is not None and visual_features is not None:
            raise ValueError("give either pixel_values or visual_features, not both")
        reference = next(t for t in (input_features, visual_features, pixel_values) if t is not None)
        batch, steps = reference.shape[:2]
        device = self.head.weight.device
        for name, tensor in (
            ("input_features", input_features),
            ("pixel_values", pixel_values),
            ("visual_features", visual_features),
            ("attention_mask", attention_mask),
            ("face_mask", face_mask),
            ("audio_mask", audio_mask),
            ("labels", labels),
        ):
            _check_steps(name, tensor, batch, steps)
        if steps == 0:
            raise ValueError("inputs hold zero steps")
        step_mask = (
            torch.ones(batch, steps, dtype=torch.bool, device=device)
            if attention_mask is None
            else attention_mask.to(device=device).bool()
        )

        # Visual stream.
        visual_valid = step_mask.clone()
        if face_mask is not None:
            visual_valid &= face_mask.to(device=device).bool()
        if pixel_values is not None:
            visual_features = self.compute_visual_features(pixel_values.to(device), visual_valid)
        if visual_features is not None:
            expected = self.config.vision_config.embedding_dim
            if visual_features.shape[-1] != expected:
                raise ValueError(f"visual_features must have {expected} features per step, got {visual_features.shape[-1]}")
            projected = self.visual_projection(visual_features.to(device=device, dtype=self.dtype))
            visual = torch.where(visual_valid[..., None], projected, self.missing_visual.to(projected.dtype))
        else:
            visual = self.missing_visual.expand(batch, steps, -1)

        # Audio stream: encode only real steps that have audio (padding must not reach batch-norm statistics).
        audio = self.missing_audio.expand(batch, steps, -1).clone()
        if input_features is not None:
            expected_shape = (self.config.num_mel_bins, self.config.audio_context_frames)
            if input_features.ndim != 4 or tuple(input_features.shape[2:]) != expected_shape:
                raise ValueError(
                    f"input_features must be (batch, steps, {expected_shape[0]}, {expected_shape[1]}), "
                    f"got {tuple(input_features.shape)}; use the model's DeepFeverAudioFeatureExtractor"
                )
            audio_valid = step_mask.clone()
            if audio_mask is not None:
                audio_valid &= audio_mask.to(device=device).bool()
            index = audio_valid.reshape(-1).nonzero().squeeze(1)
            if index.numel() > 0:
                windows = input_features.to(device=device, dtype=self.dtype).reshape(batch * steps, *expected_shape)
                encoded = self.audio_encoder(windows.index_select(0, index))
                audio = audio.reshape(batch * steps, -1).index_copy(0, index, encoded.to(audio.dtype))
                audio = audio.reshape(batch, steps, -1)

        fused = self.fusion(visual, audio)

        # Recurrent network over the real steps only (packed), so a bidirectional pass never reads padding.
        lengths = step_mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError("a sequence in the batch has no real step (attention_mask all zero)")
        positions = torch.arange(steps, device=device)[None, :]
        if not bool((step_mask == (positions < lengths[:, None])).all()):
            raise ValueError("attention_mask must mark real steps first and padding on the right")
        packed = pack_padded_sequence(fused, lengths.cpu(), batch_first=True, enforce_sorted=False)
        hidden, _ = self.rnn(packed)
        hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=steps)
        predictions = self.head(hidden) * step_mask[..., None]

        loss = None
        if labels is not None:
            if labels.shape[-1] != 2:
                raise ValueError(f"labels must be (batch, steps, 2) = arousal, valence; got {tuple(labels.shape)}")
            loss = ccc_loss(predictions, labels.to(device), step_mask)
        output = DeepFeverAVOutput(
            loss=loss, arousal_valence=predictions, last_hidden_state=hidden, visual_features=visual_features
        )
        return output if return_dict is not False else output.to_tuple()


DeepFeverAVConfig.register_for_auto_class()
DeepFeverAVModel.register_for_auto_class("AutoModel")

__all__ = [
    "DeepFeverAVModel",
    "DeepFeverAVOutput",
    "DeepFeverAVPreTrainedModel",
    "DeepFeverAudioEncoder",
]

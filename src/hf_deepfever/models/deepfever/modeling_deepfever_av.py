"""DeepFEVER-AV: continuous valence and arousal every label step (40 ms on RECOLA) from a face video and its voice.

Visual stream: the frozen DeepFEVER expression vector of each frame's face (computed inside the model from
`pixel_values`, or passed in precomputed as `visual_features`). Audio stream: a small conv encoder over each
step's log-mel context window. The two are fused per step (concatenation or a learned gate) and a GRU/LSTM over
the steps predicts `(valence, arousal)` per step. Loss: 1 - CCC per dimension, averaged.

A step whose frame has no face (`face_mask` False) or no audio (`audio_mask` False) uses a learned "missing"
embedding for that stream; padded steps (`attention_mask` 0, padding on the right) never reach the recurrent
network's real steps (a bidirectional network reads each sequence backwards from its own last step) nor the loss.

The forward pass has no data-dependent Python branch in inference mode, so the model exports with
`torch.export` (input checks that read values run in eager mode only).

This file travels to the Hub as remote code: it imports only torch, transformers and its sibling model files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_deepfever import VALENCE_AROUSAL
from .configuration_deepfever_av import DeepFeverAVConfig
from .modeling_deepfever import DeepFeverModel, ReleasesTimmReferences, ccc_loss

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
        valence_arousal (`torch.FloatTensor` of shape `(batch_size, steps, 2)`):
            Predictions per step: `[..., 0]` valence, `[..., 1]` arousal. Padded steps hold zeros.
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, steps, hidden)`):
            Recurrent network outputs (both directions concatenated when bidirectional).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned with `output_hidden_states`):
            The per-step vectors at each stage, each `(batch_size, steps, width)`: the projected visual stream, the
            encoded audio stream (both with the learned "missing" vector where a stream is absent), the fused vector
            fed to the recurrent network, and the recurrent network's output (`last_hidden_state`).
        visual_features (`torch.FloatTensor` of shape `(batch_size, steps, embedding_dim)`, *optional*):
            The DeepFEVER expression vectors used (computed or passed in).
    """

    loss: torch.FloatTensor | None = None
    valence_arousal: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    visual_features: torch.FloatTensor | None = None

    @property
    def arousal_valence(self) -> torch.FloatTensor | None:
        """Deprecated: the predictions in the old (arousal, valence) order; use `valence_arousal`."""
        warnings.warn(
            "DeepFeverAVOutput.arousal_valence is deprecated and will be removed: use `valence_arousal`, "
            "ordered (valence, arousal)",
            FutureWarning,
            stacklevel=2,
        )
        return None if self.valence_arousal is None else self.valence_arousal.flip(-1)


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


def reverse_within_lengths(sequence: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each `(batch, steps, ...)` sequence over its first `lengths[b]` steps; the padding after stays put."""
    steps = torch.arange(sequence.shape[1], device=sequence.device)[None, :]
    lengths = lengths.to(sequence.device)[:, None]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return sequence.gather(1, index.reshape(*index.shape, *([1] * (sequence.ndim - 2))).expand_as(sequence))


def one_layer_templates(rnn: nn.RNNBase) -> tuple[nn.RNNBase, ...]:
    """One-layer, one-direction copies of `rnn`'s shape per layer, on the meta device (weights come at call time)."""
    width = rnn.hidden_size * (2 if rnn.bidirectional else 1)
    return tuple(
        type(rnn)(rnn.input_size if layer == 0 else width, rnn.hidden_size, batch_first=True, device="meta")
        for layer in range(rnn.num_layers)
    )


def run_recurrence(
    rnn: nn.RNNBase, templates: tuple[nn.RNNBase, ...], inputs: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """`rnn` (a multi-layer GRU/LSTM, `batch_first`) over right-padded sequences of `lengths` steps, unpacked.

    The forward direction never sees the padding after a sequence's last step. The backward direction of a
    bidirectional network runs, layer by layer and with `rnn`'s own weights (`torch.func.functional_call` on the
    `templates` of :func:`one_layer_templates`), on each sequence reversed within its length, so it starts at
    the sequence's own last step: real steps get exactly what `pack_padded_sequence` gives them, without
    data-dependent shapes.
    """
    if not rnn.bidirectional:
        return rnn(inputs)[0]
    hidden = inputs
    for layer, template in enumerate(templates):
        directions = []
        for suffix in ("", "_reverse"):
            weights = {
                f"{kind}_l0": getattr(rnn, f"{kind}_l{layer}{suffix}")
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                if hasattr(rnn, f"{kind}_l{layer}{suffix}")
            }
            if suffix:
                output = functional_call(template, weights, (reverse_within_lengths(hidden, lengths),))[0]
                directions.append(reverse_within_lengths(output, lengths))
            else:
                directions.append(functional_call(template, weights, (hidden,))[0])
        hidden = torch.cat(directions, dim=-1)
        if layer < rnn.num_layers - 1:
            hidden = F.dropout(hidden, p=rnn.dropout, training=rnn.training)
    return hidden


def _encode_real_rows(encode: Any, rows: torch.Tensor, valid: torch.Tensor, width: int, training: bool) -> torch.Tensor:
    """`encode(rows)` where `valid`, zeros elsewhere.

    In training mode only the valid rows are encoded, so padding and absent streams stay out of batch-norm
    statistics. Otherwise every row is encoded and the invalid ones are zeroed afterwards: the same values (batch
    norm then uses its running statistics) without a data-dependent shape, so the graph exports.
    """
    if training:
        index = valid.nonzero().squeeze(1)
        out = rows.new_zeros((rows.shape[0], width))
        if index.numel() == 0:
            return out
        return out.index_copy(0, index, encode(rows.index_select(0, index)).to(out.dtype))
    return torch.where(valid[:, None], encode(rows).to(rows.dtype), torch.zeros((), dtype=rows.dtype, device=rows.device))


class DeepFeverAVPreTrainedModel(ReleasesTimmReferences, PreTrainedModel):
    config_class = DeepFeverAVConfig
    base_model_prefix = "deepfever_av"
    main_input_name = "input_features"
    input_modalities = ("audio", "video")
    supports_gradient_checkpointing = True  # the DeepFEVER extractor's stages, when it is trained too
    accepts_loss_kwargs = False

    def _init_weights(self, module: nn.Module) -> None:
        # The DeepFEVER extractor inside is a PreTrainedModel: transformers hands its modules to its own _init_weights.
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, (nn.GRU, nn.LSTM)):
            for name, parameter in module.named_parameters():
                if "weight_hh" in name:
                    init.orthogonal_(parameter)
                elif "weight_ih" in name:
                    init.xavier_uniform_(parameter)
                else:
                    init.zeros_(parameter)
        elif isinstance(module, DeepFeverAVModel):
            init.zeros_(module.missing_visual)
            init.zeros_(module.missing_audio)

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> None:
        # One folder serves AutoConfig and AutoModel through remote code, like the visual model.
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **_AUTO_MAP}
        super().save_pretrained(save_directory, *args, **kwargs)


def _check_steps(name: str, tensor: torch.Tensor | None, batch: int, steps: int) -> None:
    if tensor is not None and tuple(tensor.shape[:2]) != (batch, steps):
        raise ValueError(f"{name} must start with (batch, steps) = {(batch, steps)}, got shape {tuple(tensor.shape)}")


def _check_step_mask(step_mask: torch.Tensor) -> None:
    """Value checks of `attention_mask` (eager mode only: they read the data)."""
    lengths = step_mask.sum(1)
    if bool((lengths == 0).any()):
        raise ValueError("a sequence in the batch has no real step (attention_mask all zero)")
    positions = torch.arange(step_mask.shape[1], device=step_mask.device)[None, :]
    if not bool((step_mask == (positions < lengths[:, None])).all()):
        raise ValueError("attention_mask must mark real steps first and padding on the right")


class DeepFeverAVModel(DeepFeverAVPreTrainedModel):
    """DeepFEVER-AV: `(batch, steps, 2)` (valence, arousal) from audio features and face frames (or their vectors)."""

    def __init__(self, config: DeepFeverAVConfig) -> None:
        super().__init__(config)
        self.vision_model = DeepFeverModel(config.vision_config)
        self.supports_gradient_checkpointing = self.vision_model.supports_gradient_checkpointing
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
        # Never trained nor saved (a plain tuple): the shapes the bidirectional pass runs through (run_recurrence).
        self._rnn_templates = one_layer_templates(self.rnn)
        self.head = nn.Linear(config.hidden_size * (2 if config.bidirectional else 1), len(VALENCE_AROUSAL))
        # The head's units follow config.output_names; outputs are always (valence, arousal).
        self._flip_head = list(config.output_names) != list(VALENCE_AROUSAL)
        self.post_init()

    def train(self, mode: bool = True) -> DeepFeverAVModel:
        super().train(mode)
        if self.config.freeze_vision_model:
            self.vision_model.eval()  # frozen: batch norm statistics and dropout stay in inference mode
        return self

    def _vectors(self, frames: torch.Tensor) -> torch.Tensor:
        if self.config.freeze_vision_model:
            with torch.no_grad():
                return torch.cat([self.vision_model(chunk).pooler_output for chunk in frames.split(_VISION_BATCH)])
        return self.vision_model(frames).pooler_output

    def compute_visual_features(self, pixel_values: torch.Tensor, face_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(batch, steps, 3, H, W)` face crops -> `(batch, steps, embedding_dim)` expression vectors.

        Frames with `face_mask` False get a zero vector (while the extractor trains, they are not even run).
        """
        if pixel_values.ndim != 5:
            raise ValueError(
                f"pixel_values must be (batch, steps, 3, height, width) face crops, got shape {tuple(pixel_values.shape)}"
            )
        batch, steps = pixel_values.shape[:2]
        frames = pixel_values.reshape(batch * steps, *pixel_values.shape[2:]).to(dtype=self.dtype)
        keep = torch.ones(batch * steps, dtype=torch.bool, device=frames.device)
        if face_mask is not None:
            keep = face_mask.reshape(-1).to(device=frames.device, dtype=torch.bool)
        width = self.config.vision_config.embedding_dim
        vectors = _encode_real_rows(self._vectors, frames, keep, width, self.vision_model.training)
        return vectors.reshape(batch, steps, width)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        visual_features: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        face_mask: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
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
            Gold (valence, arousal) per step; NaN marks a missing label.
        output_hidden_states (`bool`, *optional*):
            Return the per-step vectors of every stage (see [`DeepFeverAVOutput`]). Defaults to
            `config.output_hidden_states`.
        """
        if output_attentions:
            raise ValueError("DeepFEVER-AV has no attention maps to return: call it without output_attentions")
        if input_features is None and pixel_values is None and visual_features is None:
            raise ValueError("give at least one stream: input_features (audio) and/or pixel_values or visual_features")
        if pixel_values is not None and visual_features is not None:
            raise ValueError("give either pixel_values or visual_features, not both")
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = self.config.return_dict if return_dict is None else return_dict
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
        if labels is not None and labels.shape[-1] != len(VALENCE_AROUSAL):
            raise ValueError(f"labels must be (batch, steps, 2) = valence, arousal; got {tuple(labels.shape)}")
        step_mask = (
            torch.ones(batch, steps, dtype=torch.bool, device=device)
            if attention_mask is None
            else attention_mask.to(device=device).bool()
        )
        if not torch.compiler.is_compiling():
            _check_step_mask(step_mask)

        # Visual stream.
        visual_valid = step_mask if face_mask is None else step_mask & face_mask.to(device=device).bool()
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

        # Audio stream: while training, only real steps that have audio are encoded (padding must not reach
        # batch-norm statistics).
        if input_features is not None:
            window = (self.config.num_mel_bins, self.config.audio_context_frames)
            if input_features.ndim != 4 or tuple(input_features.shape[2:]) != window:
                raise ValueError(
                    f"input_features must be (batch, steps, {window[0]}, {window[1]}), "
                    f"got {tuple(input_features.shape)}; use the model's DeepFeverAudioFeatureExtractor"
                )
            audio_valid = step_mask if audio_mask is None else step_mask & audio_mask.to(device=device).bool()
            windows = input_features.to(device=device, dtype=self.dtype).reshape(batch * steps, *window)
            encoded = _encode_real_rows(
                self.audio_encoder, windows, audio_valid.reshape(-1), self.config.audio_embedding_dim,
                self.audio_encoder.training,
            ).reshape(batch, steps, -1)
            audio = torch.where(audio_valid[..., None], encoded, self.missing_audio.to(encoded.dtype))
        else:
            audio = self.missing_audio.expand(batch, steps, -1)

        fused = self.fusion(visual, audio)
        hidden = run_recurrence(self.rnn, self._rnn_templates, fused, step_mask.sum(1))
        predictions = self.head(hidden)
        if self._flip_head:
            predictions = predictions.flip(-1)
        predictions = predictions * step_mask[..., None]

        loss = None
        if labels is not None:
            loss = ccc_loss(predictions, labels.to(device), step_mask)
        output = DeepFeverAVOutput(
            loss=loss,
            valence_arousal=predictions,
            last_hidden_state=hidden,
            hidden_states=(visual, audio, fused, hidden) if output_hidden_states else None,
            visual_features=visual_features,
        )
        return output if return_dict else output.to_tuple()


DeepFeverAVConfig.register_for_auto_class()
DeepFeverAVModel.register_for_auto_class("AutoModel")

__all__ = [
    "DeepFeverAVModel",
    "DeepFeverAVOutput",
    "DeepFeverAVPreTrainedModel",
    "DeepFeverAudioEncoder",
    "one_layer_templates",
    "reverse_within_lengths",
    "run_recurrence",
]

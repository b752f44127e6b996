"""Train DeepFEVER-AV on RECOLA (AVEC 2016 layout): valence and arousal every 40 ms from face video and voice.

The visual stream is a frozen DeepFEVER extractor (``--vision_model``, e.g. the distilled student); its vectors
are computed once per recording and cached. The audio encoder, fusion and recurrent network are trained on
chunks of ``--chunk_steps`` steps with loss 1 - CCC per dimension; evaluation is CCC per dimension over the
concatenated ``dev`` recordings (AVEC's protocol), next to single-stream references on the same steps
(:mod:`hf_deepfever.training.av_references`): the extractor's own valence/arousal head per frame (visual only,
no training), with ``--audio_only_baseline`` the same model trained with the visual stream absent (audio only),
and predicting the training mean (the baseline any model must beat; a constant prediction has CCC 0).

Usage::

    accelerate launch training_scripts/train_av.py --recola_dir RECOLA --vision_model runs/student \\
        --output_dir runs/av
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.deepfever import DeepFeverConfig, DeepFeverImageProcessor, DeepFeverModel
from ..models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from ..models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from ..models.deepfever.modeling_deepfever_av import DeepFeverAVModel
from .losses import ccc_loss
from ..models.deepfever.processing_deepfever_av import DeepFeverAVProcessor
from ..video.faces import FaceLocator
from .arguments import TrainingLoopArguments, parse_arguments, to_json_dict
from .av_data import RecordingChunks, attach_visual_features, recordings_from_split
from .av_references import VISUAL_INPUTS, dev_results, visual_head, visual_only_results, without_inputs
from .checkpointing import resolve_checkpoint
from ..core.eval_results import DATASET_KIND_KEY, dataset_kind
from ..core.vocabulary import VALENCE_AROUSAL
from .export import export_model
from .loop import TrainingData, append_log, make_accelerator, train

logger = logging.getLogger(__name__)

AV_TRAINING_DEFAULTS = {
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 1,
    "learning_rate": 1e-3,
    "weight_decay": 0.01,
    "warmup_steps": 50,
    "num_train_epochs": 30.0,
    "checkpointing_steps": "500",
    "eval_steps": 200,
    "logging_steps": 10,
    "dataloader_num_workers": 0,
}


@dataclass
class AVDataArguments:
    """The RECOLA corpus and the visual-vector cache."""

    recola_dir: str = field(default=None, metadata={"help": "RECOLA root (AVEC 2016 layout: recordings_audio/, recordings_video/, ratings_gold_standard/)."})
    recola_layout: str = field(default="avec2016", metadata={"help": "avec2016 or original (see hf_deepfever.data.load_recola)."})
    recola_video_dir: str | None = field(default=None, metadata={"help": "Folder of the videos when not the layout's default."})
    visual_cache_dir: str | None = field(
        default=None, metadata={"help": "Cache of per-recording visual vectors (default: $HF_DATASETS_CACHE/hf_deepfever/av_visual)."}
    )
    face_detector: str = field(default="auto", metadata={"help": "auto (Haar cascade if OpenCV is installed, else centre crop), haar or centre."})
    max_train_recordings: int | None = field(default=None, metadata={"help": "Use at most this many training recordings (debugging)."})


@dataclass
class AVModelArguments:
    """The DeepFEVER-AV architecture and its frozen visual extractor."""

    vision_model: str | None = field(
        default=None,
        metadata={"help": "Trained DeepFEVER folder or Hub id for the visual stream. Without it, an UNTRAINED extractor "
                  "(--vision_backbone) is used and the visual stream carries little information."},
    )
    vision_backbone: str = field(default="efficientnet_b0", metadata={"help": "timm backbone of the untrained extractor (no --vision_model)."})
    vision_image_size: int = field(default=224, metadata={"help": "Face crop side of the untrained extractor (no --vision_model)."})
    fusion: str = field(default="concat", metadata={"help": "Model-level fusion: concat or gated."})
    rnn_type: str = field(default="gru", metadata={"help": "Recurrent network over the steps: gru or lstm."})
    hidden_size: int = field(default=64, metadata={"help": "Recurrent hidden size per direction."})
    num_layers: int = field(default=2, metadata={"help": "Recurrent layers."})
    bidirectional: bool = field(default=True, metadata={"help": "Bidirectional recurrence (offline); --no_bidirectional for causal."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout after fusion and between recurrent layers."})
    fusion_dim: int = field(default=128, metadata={"help": "Width of the fused per-step vector."})
    audio_channels: str = field(default="16,32,64", metadata={"help": "Conv channels of the audio encoder, comma separated."})
    num_mel_bins: int = field(default=64, metadata={"help": "Mel bands of the audio features."})
    step_ms: float = field(default=40.0, metadata={"help": "Label step in milliseconds (RECOLA: 40)."})
    context_ms: float = field(default=400.0, metadata={"help": "Audio context centred on each step, in milliseconds."})
    chunk_steps: int = field(default=400, metadata={"help": "Training chunk length in steps (400 x 40 ms = 16 s)."})
    eval_chunk_steps: int = field(default=1500, metadata={"help": "Evaluation chunk length in steps (bounds memory on long recordings)."})
    modality_dropout: float = field(
        default=0.0,
        metadata={"help": "Probability that a training chunk is given one stream only (the face or the voice, as "
                  "often): the model learns what each stream says alone instead of leaning on one."},
    )
    audio_only_baseline: bool = field(
        default=False,
        metadata={"help": "Also train the same model with the visual stream absent (same arguments, seed and steps; "
                  "its log in OUTPUT_DIR/baselines/audio_only, not exported) and report its dev CCC as "
                  "recola_dev_audio_only_*: what the face adds to the voice."},
    )

    def channels(self) -> list[int]:
        try:
            values = [int(v) for v in self.audio_channels.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values or min(values) < 1:
            raise ValueError(f"--audio_channels must be positive integers separated by commas, got {self.audio_channels!r}")
        return values


def default_visual_cache_dir() -> str:
    import datasets

    return os.path.join(datasets.config.HF_DATASETS_CACHE, "hf_deepfever", "av_visual")


def build_vision(model_args: AVModelArguments) -> tuple[DeepFeverModel, DeepFeverImageProcessor]:
    """The frozen DeepFEVER extractor and its image processor."""
    if model_args.vision_model:
        from ..core.loading import load_model_and_processor

        return load_model_and_processor(model_args.vision_model, kind="extractor")
    logger.warning(
        "no --vision_model: the visual stream is an UNTRAINED %s extractor; train DeepFEVER first "
        "(train_teacher.py / distill.py) and pass it for real results",
        model_args.vision_backbone,
    )
    side = model_args.vision_image_size
    config = DeepFeverConfig(backbone=model_args.vision_backbone, backbone_pretrained=False, image_size=side)
    return DeepFeverModel(config), DeepFeverImageProcessor(size={"height": side, "width": side})


def build_av_model(
    model_args: AVModelArguments, vision: DeepFeverModel, extractor: DeepFeverAudioFeatureExtractor
) -> DeepFeverAVModel:
    """A new DeepFEVER-AV model around (a copy of the weights of) the given frozen extractor."""
    # The extractor's own settings only (not where it was loaded from, nor its Auto-class wiring).
    volatile = {"auto_map", "architectures", "_name_or_path", "transformers_version", "dtype", "torch_dtype"}
    vision_settings = {k: v for k, v in vision.config.to_dict().items() if k not in volatile}
    config = DeepFeverAVConfig(
        vision_config=vision_settings,
        num_mel_bins=extractor.feature_size,
        audio_context_frames=extractor.context_frames,
        audio_channels=model_args.channels(),
        fusion=model_args.fusion,
        fusion_dim=model_args.fusion_dim,
        rnn_type=model_args.rnn_type,
        hidden_size=model_args.hidden_size,
        num_layers=model_args.num_layers,
        bidirectional=model_args.bidirectional,
        dropout=model_args.dropout,
    )
    model = DeepFeverAVModel(config)
    model.vision_model.load_state_dict(vision.state_dict())
    return model


class AVTask:
    """The model's own loss (1 - CCC per dimension, averaged) on a chunk batch; CCC on dev over whole recordings.

    ``absent``: batch entries left out (e.g. :data:`~hf_deepfever.training.av_references.VISUAL_INPUTS` for the
    audio-only reference).
    """

    def __init__(self, evaluator: Any, absent: Sequence[str] = (), modality_dropout: float = 0.0) -> None:
        if not 0.0 <= modality_dropout <= 1.0:
            raise ValueError(f"--modality_dropout must be a probability in [0, 1], got {modality_dropout}")
        self.evaluator = evaluator
        self.absent = tuple(absent)
        self.modality_dropout = modality_dropout

    def _drop_modalities(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each chunk loses one stream with probability ``modality_dropout`` (the face or the voice, as often),
        through the masks the model already has for an absent stream; drawn from torch's seeded generator."""
        if self.modality_dropout <= 0 or self.absent:
            return batch
        size = batch["attention_mask"].shape[0]
        dropped = torch.rand(size) < self.modality_dropout
        face = torch.rand(size) < 0.5  # which stream a dropped chunk loses
        batch = dict(batch)
        batch["face_mask"] = batch["face_mask"] & ~(dropped & face).to(batch["face_mask"].device)[:, None]
        audio = batch.get("audio_mask", torch.ones_like(batch["attention_mask"], dtype=torch.bool)).bool()
        batch["audio_mask"] = audio & ~(dropped & ~face).to(audio.device)[:, None]
        return batch

    def compute_loss(
        self, model: nn.Module, batch: dict[str, torch.Tensor], auxiliary: dict[str, dict[str, torch.Tensor]]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if model.training:
            batch = self._drop_modalities(batch)
        output = model(**without_inputs(batch, self.absent))
        with torch.no_grad():
            per_dimension = ccc_loss(output.valence_arousal, batch["labels"], batch["attention_mask"], reduction="none")
        return output.loss, {f"{name}_ccc_loss": per_dimension[i] for i, name in enumerate(VALENCE_AROUSAL)}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return self.evaluator(model)


class DevEvaluator:
    """CCC per dimension over the concatenated dev recordings (every process computes the same numbers)."""

    def __init__(self, recordings: list[Any], extractor: Any, chunk_steps: int, accelerator: Any, train_mean: np.ndarray) -> None:
        self.chunks = RecordingChunks(recordings, extractor, chunk_steps)
        self.accelerator = accelerator
        self.train_mean = train_mean
        self.absent: tuple[str, ...] = ()

    def without(self, absent: Sequence[str]) -> DevEvaluator:
        """The same evaluation, of a model that is not given the batch entries ``absent`` (see :class:`AVTask`)."""
        evaluator = copy.copy(self)
        evaluator.absent = tuple(absent)
        return evaluator

    @torch.no_grad()
    def predictions(self, model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
        model = self.accelerator.unwrap_model(model)
        was_training = model.training
        model.eval()
        predicted, gold = [], []
        device = self.accelerator.device
        for item in range(len(self.chunks)):
            row = self.chunks[item]
            labels = row.pop("labels")
            keep = row["attention_mask"].bool()
            batch = {key: value[None].to(device) for key, value in without_inputs(row, self.absent).items()}
            output = model(**batch).valence_arousal[0].float().cpu()
            predicted.append(output[keep].numpy())
            gold.append(labels[keep].numpy())
        model.train(was_training)
        return np.concatenate(predicted), np.concatenate(gold)

    def __call__(self, model: nn.Module) -> dict[str, float]:
        predicted, gold = self.predictions(model)
        results = dev_results(predicted, gold)
        results.update(dev_results(np.broadcast_to(self.train_mean, gold.shape), gold, stream="train_mean"))
        results["recola_dev_steps"] = int(np.isfinite(gold).all(axis=1).sum())
        return results


def train_audio_only_reference(
    accelerator: Any, trained: nn.Module, data: TrainingData, evaluator: DevEvaluator, args: TrainingLoopArguments,
    hyperparameters: dict[str, Any],
) -> dict[str, float]:
    """The audio-only reference: a fresh model of ``trained``'s config, trained like it (same arguments, seed,
    steps and chunks) without the visual stream; returns its ``recola_dev_audio_only_*`` CCC. Nothing is
    exported; its training log goes to ``OUTPUT_DIR/baselines/audio_only``."""
    from accelerate.utils import set_seed

    set_seed(args.seed)  # a start fixed by the seed alone, whatever ran before
    model = DeepFeverAVModel(accelerator.unwrap_model(trained).config)
    reference_args = replace(
        args, output_dir=os.path.join(args.output_dir, "baselines", "audio_only"), checkpointing_steps="no",
        resume_from_checkpoint=None, eval_steps=0, report_to="none",
    )
    blind = evaluator.without(VISUAL_INPUTS)
    model, _ = train(
        accelerator, model, AVTask(blind, absent=VISUAL_INPUTS), data, reference_args, hyperparameters=hyperparameters,
        tracker_name="deepfever_av_audio_only", evaluate_at_end=False,
    )
    predicted, gold = blind.predictions(model)
    return dev_results(predicted, gold, stream="audio_only")


def _train_mean(recordings: list[Any]) -> np.ndarray:
    labels = torch.cat([r.labels for r in recordings]).numpy()
    if not np.isfinite(labels).any():
        raise ValueError("the training recordings hold no labels")
    return np.nanmean(labels, axis=0)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse arguments, train DeepFEVER-AV, save the Hub-ready folder; returns the final dev metrics."""
    from ..data import load_recola

    args, data_args, model_args = parse_arguments(
        [TrainingLoopArguments, AVDataArguments, AVModelArguments], argv, description=__doc__.split("\n\n")[0],
        defaults=AV_TRAINING_DEFAULTS,
    )
    if not data_args.recola_dir:
        raise ValueError("train_av.py needs --recola_dir (RECOLA in the AVEC 2016 layout)")
    kind = dataset_kind([data_args.recola_dir])
    accelerator = make_accelerator(args)
    corpus = load_recola(data_args.recola_dir, layout=data_args.recola_layout, video_dir=data_args.recola_video_dir)
    extractor = DeepFeverAudioFeatureExtractor(
        feature_size=model_args.num_mel_bins, step_ms=model_args.step_ms, context_ms=model_args.context_ms
    )
    train_recordings = recordings_from_split(corpus["train"], extractor, data_args.max_train_recordings)
    dev_recordings = recordings_from_split(corpus["dev"], extractor)
    if not train_recordings or not dev_recordings:
        raise ValueError(f"{data_args.recola_dir}: need labelled train and dev recordings, found {len(train_recordings)} and {len(dev_recordings)}")

    vision, image_processor = build_vision(model_args)
    faces = FaceLocator(data_args.face_detector)
    cache_root = data_args.visual_cache_dir or default_visual_cache_dir()
    counts = attach_visual_features(
        train_recordings + dev_recordings, vision, image_processor, faces, cache_root, model_args.step_ms, accelerator
    )
    accelerator.print(f"visual vectors: {counts['computed']} recordings computed, {counts['cached']} from the cache ({cache_root})")

    model = build_av_model(model_args, vision, extractor)
    del vision
    processor = DeepFeverAVProcessor(image_processor, extractor)
    train_mean = _train_mean(train_recordings)
    evaluator = DevEvaluator(dev_recordings, extractor, model_args.eval_chunk_steps, accelerator, train_mean)
    chunks = RecordingChunks(train_recordings, extractor, model_args.chunk_steps)
    data = TrainingData(chunks, chunks)
    hyperparameters = to_json_dict(args, data_args, model_args)
    accelerator.print(
        f"DeepFEVER-AV: {len(train_recordings)} train recordings ({len(chunks)} chunks of {model_args.chunk_steps} steps), "
        f"{len(dev_recordings)} dev; faces by {faces.kind}; resume: {resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)}"
    )
    model, outcome = train(
        accelerator, model, AVTask(evaluator, modality_dropout=model_args.modality_dropout), data, args,
        hyperparameters=hyperparameters, tracker_name="deepfever_av", evaluate_at_end=False,
    )
    results: dict[str, Any] = dict(evaluator(model))
    head = visual_head(model_args.vision_model)
    if head is not None:
        results.update(visual_only_results(dev_recordings, head, train_mean))
    if model_args.audio_only_baseline:
        results.update(train_audio_only_reference(accelerator, model, data, evaluator, args, hyperparameters))
    results.update({
        DATASET_KIND_KEY: kind,
        "recola_train_recordings": len(train_recordings),
        "recola_dev_recordings": len(dev_recordings),
    })
    append_log(args.output_dir, {"step": outcome.state.global_step, **{f"final_{k}": v for k, v in results.items()}}, accelerator)
    export_model(accelerator, model, processor, args.output_dir, training_args=hyperparameters, eval_results=results)
    accelerator.print(
        "dev CCC valence {recola_dev_valence_ccc:.3f} arousal {recola_dev_arousal_ccc:.3f} "
        "(training-mean baseline {recola_dev_train_mean_valence_ccc:.3f} / {recola_dev_train_mean_arousal_ccc:.3f})".format(**results)
    )
    for stream in ("visual_only", "audio_only"):
        if f"recola_dev_{stream}_valence_ccc" in results:
            accelerator.print(
                f"  {stream.replace('_', ' ')}: valence {results[f'recola_dev_{stream}_valence_ccc']:.3f} "
                f"arousal {results[f'recola_dev_{stream}_arousal_ccc']:.3f}"
            )
    return results


__all__ = [
    "AVDataArguments",
    "AVModelArguments",
    "AVTask",
    "DevEvaluator",
    "build_av_model",
    "build_vision",
    "main",
]


if __name__ == "__main__":
    main()

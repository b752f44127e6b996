"""The words every part of hf_deepfever shares: label names and orders, corpus constants, file names.

This module imports nothing (not even numpy), so any module may use it. The stand-alone model files in
``models/deepfever/`` keep their own copies of the few constants they need (they travel to the Hub
without this package); ``tests/test_vocabulary.py`` checks those copies equal the ones here.
"""

from __future__ import annotations

# --- expressions -------------------------------------------------------------------------------------

AFFECTNET_EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
"""AffectNet's 8 expressions in its own order: label id ``i`` in AffectNet's CSVs is ``AFFECTNET_EXPRESSIONS[i]``
(ids 8-10, None / Uncertain / No-Face, are not expressions and are never trained on)."""

RAFDB_EXPRESSIONS = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
"""RAF-DB's basic expressions in its own order: file label 1 is id 0 (surprise) ... label 7 is id 6."""

RAFDB_TO_AFFECTNET = {0: 3, 1: 4, 2: 5, 3: 1, 4: 2, 5: 6, 6: 0}
"""RAF-DB expression id (0-6, as in ``RAFDB_EXPRESSIONS``) -> AffectNet expression id (0-6).

surprise -> 3 surprise, fear -> 4 fear, disgust -> 5 disgust, happiness -> 1 happy, sadness -> 2 sad,
anger -> 6 anger, neutral -> 0 neutral. RAF-DB has no contempt, so AffectNet id 7 has no counterpart."""

# --- valence and arousal -----------------------------------------------------------------------------

VALENCE_AROUSAL = ("valence", "arousal")
"""The one order of the two affect dimensions, everywhere: model outputs (``valence_arousal[..., 0]`` is
valence), datasets, CLI columns, metrics and cards."""

# --- Google FEC triplets -----------------------------------------------------------------------------

FEC_TRIPLET_TYPES = ("ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET")
"""Triplet types as FEC's CSVs spell them, in id order (0, 1, 2)."""

TRIPLET_TYPE_NAMES = ("one_class", "two_class", "three_class")
"""The same types as short names (the ``ClassLabel`` names of the FEC loader), in id order."""

# --- files -------------------------------------------------------------------------------------------

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
"""Files with these suffixes (any case) are taken as images when a folder is searched."""

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
"""Video containers looked for when a corpus folder is searched (RECOLA)."""

EVAL_RESULTS_NAME = "eval_results.json"
"""Measured results of a model folder: the only source of the numbers in its model card."""

TRAINING_ARGS_NAME = "training_args.json"
"""Every argument of the training run that made a model folder."""

TRAINING_LOG_NAME = "training_log.jsonl"
"""One JSON object per logging step of a training run."""

CHECKPOINTS_FOLDER = "checkpoints"
"""Resumable training state inside a run's output folder; never uploaded."""

DEMO_CORPUS_MARKER = "demo_corpus.json"
"""Written last by ``make_demo_corpus``: its presence marks a folder as the synthetic demo corpus."""

# --- the kind of data a result was measured on --------------------------------------------------------

DATASET_KIND_KEY = "dataset_kind"
SYNTHETIC_DEMO = "synthetic-demo"
REAL = "real"

# --- which model made a vectors table ----------------------------------------------------------------

MODEL_METADATA_KEY = "hf_deepfever.model"
"""Key of the model identity (JSON of ``ModelIdentity.to_dict``, :mod:`hf_deepfever.search.identity`) in a vectors
table's Parquet metadata: ``inference/`` writes it, ``search/`` reads it."""

__all__ = [
    "AFFECTNET_EXPRESSIONS",
    "CHECKPOINTS_FOLDER",
    "DATASET_KIND_KEY",
    "DEMO_CORPUS_MARKER",
    "EVAL_RESULTS_NAME",
    "FEC_TRIPLET_TYPES",
    "IMAGE_EXTENSIONS",
    "MODEL_METADATA_KEY",
    "RAFDB_EXPRESSIONS",
    "RAFDB_TO_AFFECTNET",
    "REAL",
    "SYNTHETIC_DEMO",
    "TRAINING_ARGS_NAME",
    "TRAINING_LOG_NAME",
    "TRIPLET_TYPE_NAMES",
    "VALENCE_AROUSAL",
    "VIDEO_EXTENSIONS",
]

"""Folder and file names of each publisher's on-disk layout, defined once.

:mod:`hf_deepfever.data` reads these layouts and :mod:`hf_deepfever.synthetic.layouts` writes them; both take
the names from here, so a reader and the writer of its test fixtures can never drift apart. Only names live
here (no I/O): header lines, column order and number formats belong to the writer, parsing to the readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

# --------------------------------------------------------------------------------------------- AffectNet

AFFECTNET_MANUAL_LISTS = "Manually_Annotated_file_lists"
AFFECTNET_MANUAL_IMAGES = "Manually_Annotated_Images"
AFFECTNET_AUTOMATIC_LISTS = "Automatically_Annotated_file_lists"
AFFECTNET_AUTOMATIC_IMAGES = "Automatically_Annotated_Images"
AFFECTNET_LIST_FILES = {
    "train": (AFFECTNET_MANUAL_LISTS, "training.csv"),
    "validation": (AFFECTNET_MANUAL_LISTS, "validation.csv"),
    "automatic": (AFFECTNET_AUTOMATIC_LISTS, "automatically_annotated.csv"),
}
"""``split -> (lists folder, list file name)``."""
AFFECTNET_COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
"""The columns of every AffectNet list, in order; the first line of a list names them."""
AFFECTNET_NULL = "NULL"
"""The literal some rows hold instead of a face box or landmarks."""

# --------------------------------------------------------------------------------------------------- FEC

FEC_LISTS_FOLDER = "FEC_dataset"
FEC_IMAGES_FOLDER = "images"  # where the user's download of the URLs goes (not shipped by Google)
FEC_LIST_FILES = {
    "train": "faceexp-comparison-data-train-public.csv",
    "test": "faceexp-comparison-data-test-public.csv",
}

# ------------------------------------------------------------------------------------------------ RAF-DB

RAFDB_BASIC = "basic"
RAFDB_LIST_FILE = PurePosixPath("EmoLabel") / "list_patition_label.txt"  # sic: the publisher's spelling
RAFDB_ALIGNED_IMAGES = PurePosixPath("Image") / "aligned"
RAFDB_ORIGINAL_IMAGES = PurePosixPath("Image") / "original"
RAFDB_ALIGNED_SUFFIX = "_aligned.jpg"  # train_00001.jpg -> train_00001_aligned.jpg

# ------------------------------------------------------------------------------------------------ RECOLA

RECOLA_LAYOUTS = ("avec2016", "original")
RECOLA_DIMENSIONS = ("arousal", "valence")


@dataclass(frozen=True)
class RecolaFolders:
    """Where one RECOLA release keeps its files, relative to the release's root."""

    audio: str
    video: str
    labels: str  # what the loader reads: the gold standard (AVEC 2016) or the raters' traces (original)
    label_suffix: str
    individual_ratings: str  # each rater's trace


RECOLA_FOLDERS = {
    "avec2016": RecolaFolders(
        audio="recordings_audio",
        video="recordings_video",
        labels="ratings_gold_standard",
        label_suffix=".arff",
        individual_ratings="ratings_individual",
    ),
    "original": RecolaFolders(
        audio="RECOLA-Audio-recordings",
        video="RECOLA-Video-recordings",
        labels="RECOLA-Annotation/emotional_behaviour",
        label_suffix=".csv",
        individual_ratings="RECOLA-Annotation/emotional_behaviour",
    ),
}
RECOLA_AUDIO_SUFFIX = ".wav"

__all__ = [
    "AFFECTNET_AUTOMATIC_IMAGES",
    "AFFECTNET_AUTOMATIC_LISTS",
    "AFFECTNET_COLUMNS",
    "AFFECTNET_LIST_FILES",
    "AFFECTNET_MANUAL_IMAGES",
    "AFFECTNET_MANUAL_LISTS",
    "AFFECTNET_NULL",
    "FEC_IMAGES_FOLDER",
    "FEC_LISTS_FOLDER",
    "FEC_LIST_FILES",
    "RAFDB_ALIGNED_IMAGES",
    "RAFDB_ALIGNED_SUFFIX",
    "RAFDB_BASIC",
    "RAFDB_LIST_FILE",
    "RAFDB_ORIGINAL_IMAGES",
    "RECOLA_AUDIO_SUFFIX",
    "RECOLA_DIMENSIONS",
    "RECOLA_FOLDERS",
    "RECOLA_LAYOUTS",
    "RecolaFolders",
]

"""Expression search: an index of expression vectors (faiss), the one reader of vectors tables, photo queries.

- :class:`ExpressionIndex` (``index.py``): build / save / load / search, cosine distance, exact or approximate.
- :func:`read_vectors` (``vectors_table.py``): the output of ``deepfever extract``, one table or a folder of shards.
- :func:`model_fingerprint` / :class:`ModelIdentity` (``identity.py``): which model made a set of vectors.
- :func:`analyse_photo` (from :mod:`hf_deepfever.core.face_front_end`): a photo's faces as model outputs (the
  query side).
- :func:`draw_contact_sheet` (``contact_sheet.py``): the query and its neighbours as face crops.

Names are imported on first use, so ``import hf_deepfever.search`` costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy_exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".index": ("ExpressionIndex", "Neighbour", "SearchResult", "AUTO_APPROXIMATE_FROM", "INDEX_KINDS"),
        ".vectors_table": ("read_vectors", "VectorsTable"),
        ".identity": (
            "ModelIdentity", "ModelMismatchError", "MODEL_METADATA_KEY", "model_fingerprint", "identity_of_loaded_model",
        ),
        "..core.face_front_end": ("analyse_photo", "find_faces", "PhotoAnalysis", "PhotoFace"),
        ".contact_sheet": ("draw_contact_sheet", "SheetQuery"),
    },
)


if TYPE_CHECKING:  # pragma: no cover
    from .contact_sheet import SheetQuery, draw_contact_sheet
    from .identity import MODEL_METADATA_KEY, ModelIdentity, ModelMismatchError, identity_of_loaded_model, model_fingerprint
    from .index import AUTO_APPROXIMATE_FROM, INDEX_KINDS, ExpressionIndex, Neighbour, SearchResult
    from ..core.face_front_end import PhotoAnalysis, PhotoFace, analyse_photo, find_faces
    from .vectors_table import VectorsTable, read_vectors

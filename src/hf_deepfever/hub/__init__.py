"""Publishing DeepFEVER models.

- `install_to_hub_cache`: put a model folder into a Hub-layout cache, for offline `from_pretrained("org/name")`.
- `render_model_card`: README.md from a ``hub_cards/`` template, the config and the measured ``eval_results.json``.
- `assemble_upload_folder`: the checked folder a Hub repository carries (safetensors only).
- `dry_run_listing` / `push_to_hub`: list what would be uploaded, or upload it with huggingface_hub.
"""

from __future__ import annotations

from .assemble import UploadFolderError, assemble_upload_folder, collect_upload_files, list_upload_folder
from .cache import content_commit_id, install_to_hub_cache
from .cards import render_model_card
from .push import dry_run_listing, format_listing, push_to_hub

__all__ = [
    "UploadFolderError",
    "assemble_upload_folder",
    "collect_upload_files",
    "content_commit_id",
    "dry_run_listing",
    "format_listing",
    "install_to_hub_cache",
    "list_upload_folder",
    "push_to_hub",
    "render_model_card",
]

"""Publishing DeepFEVER models: Hub-layout cache installs (offline use), model cards, upload folders, push."""

from __future__ import annotations

from .cache import content_commit_id, install_to_hub_cache

__all__ = ["content_commit_id", "install_to_hub_cache"]

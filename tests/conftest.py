"""Shared test setup: every test runs offline, with the Hugging Face cache in a temporary folder.

Remote code is copied under ``$HF_HOME/modules``, so pointing ``HF_HOME`` at a temporary folder keeps
tests from reading (or leaving behind) anything in the user's real cache.
"""

from __future__ import annotations

import os
import tempfile

# Set before transformers / huggingface_hub are imported anywhere: both read these at import time.
_SESSION_HF_HOME = tempfile.mkdtemp(prefix="hf_deepfever_test_hf_home_")
os.environ["HF_HOME"] = _SESSION_HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def hf_home() -> str:
    """The temporary ``HF_HOME`` shared by the whole test session."""
    return _SESSION_HF_HOME

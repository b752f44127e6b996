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
# One intra-op thread per process (torch, and every child process through the environment): the tests' models
# are tiny, so a second thread buys nothing, while on a busy 2-core machine OpenMP threads waiting for each other
# made one forward pass 5-50x slower (30-700 ms instead of ~30 ms), which made the training tests take 15-30 s
# instead of 1-3 s. Tests that choose a thread count (extraction's plans, --num-threads, --threads) still set it
# themselves; an OMP_NUM_THREADS already set (e.g. by CI) is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def hf_home() -> str:
    """The temporary ``HF_HOME`` shared by the whole test session."""
    return _SESSION_HF_HOME


TINY_IMAGE_SIZE = 64


@pytest.fixture(scope="session")
def tiny_config():
    """A DeepFEVER config small enough for CPU tests (timm's `test_resnet`, 64 px crops)."""
    from hf_deepfever import DeepFeverConfig

    return DeepFeverConfig(backbone="test_resnet", image_size=TINY_IMAGE_SIZE, embedding_dim=16)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_config) -> str:
    """A saved tiny DeepFeverForExpressionRecognition + its image processor (read-only for tests)."""
    import torch

    from hf_deepfever import DeepFeverForExpressionRecognition, DeepFeverImageProcessor

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_deepfever")
    DeepFeverForExpressionRecognition(tiny_config).eval().save_pretrained(folder)
    DeepFeverImageProcessor(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def random_face_image():
    """An RGB PIL image with random pixels (deterministic)."""
    import numpy as np
    import PIL.Image

    rng = np.random.default_rng(0)
    return PIL.Image.fromarray(rng.integers(0, 256, size=(72, 96, 3), dtype=np.uint8))

"""The PIL backend of the image processor works where torchvision is not installed: a Hub user loads the saved
folder's remote code with `backend="pil"` (transformers refuses a remote-code file whose unguarded imports are
missing, so the file may import torchvision only under `is_torchvision_available()`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import torch

from hf_deepfever import DeepFeverImageProcessorPil

# Run first in the child: every import finder is wrapped so that torchvision (modules and distribution metadata)
# is reported as not installed, the way it is on a machine without it; hf_deepfever is blocked too (Hub user).
_HIDE_TORCHVISION = textwrap.dedent(
    """
    import importlib.abc, importlib.metadata, importlib.util, sys

    def _hidden(name):
        return name == "torchvision" or name.startswith("torchvision.")

    class _WithoutTorchvision(importlib.abc.MetaPathFinder):
        def __init__(self, finders):
            self.finders = finders

        def find_spec(self, name, path=None, target=None):
            if _hidden(name):
                return None
            for finder in self.finders:
                spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
                if spec is not None:
                    return spec
            return None

        def find_distributions(self, context=importlib.metadata.DistributionFinder.Context()):
            for finder in self.finders:
                for dist in getattr(finder, "find_distributions", lambda _: [])(context):
                    if (dist.metadata["Name"] or "").lower() != "torchvision":
                        yield dist

        def invalidate_caches(self):
            for finder in self.finders:
                getattr(finder, "invalidate_caches", lambda: None)()

    sys.meta_path[:] = [_WithoutTorchvision(list(sys.meta_path))]
    sys.modules["hf_deepfever"] = None
    assert importlib.util.find_spec("torchvision") is None
    """
)

_LOAD_AND_RUN = textwrap.dedent(
    """
    import sys
    import numpy as np
    from transformers import AutoImageProcessor
    from transformers.utils import is_torchvision_available

    assert not is_torchvision_available()
    folder, inputs, outputs = sys.argv[1:]
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True, backend="pil")
    assert type(processor).__name__ == "DeepFeverImageProcessorPil", type(processor)
    image = np.load(inputs)
    landmarks = [[[12, 15], [28, 13], [20, 22], [14, 30], [27, 29]]]
    pixels = processor(image, face_boxes=[(5, 4, 30, 36)], face_landmarks=landmarks, return_tensors="np")["pixel_values"]
    np.save(outputs, pixels)
    assert "torchvision" not in sys.modules
    """
)


def test_pil_backend_runs_without_torchvision(tmp_path, hf_home):
    processor = DeepFeverImageProcessorPil(size={"height": 32, "width": 32}, align_faces=True)
    processor.save_pretrained(tmp_path / "processor")
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    env = {**os.environ, "HF_HOME": hf_home, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", _HIDE_TORCHVISION + _LOAD_AND_RUN, str(tmp_path / "processor"),
         str(tmp_path / "image.npy"), str(tmp_path / "pixels.npy")],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    expected = processor(
        image, face_boxes=[(5, 4, 30, 36)], face_landmarks=[[[12, 15], [28, 13], [20, 22], [14, 30], [27, 29]]],
        return_tensors="pt",
    )["pixel_values"]
    torch.testing.assert_close(torch.from_numpy(np.load(tmp_path / "pixels.npy")), expected)


"""Memory follows the output size, not the image's aspect ratio: a 228-byte 50,000 x 1 PNG used to make
`deepfever extract` peak at 17.9 GB (the whole image padded to a 50,000^2 square before resizing).

Each case runs in a fresh process whose address space is capped at what it holds after warming up plus 1 GiB
(`RLIMIT_AS`), so a regression fails with a MemoryError instead of exhausting the machine.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")

_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path

    import numpy as np
    import PIL.Image
    import torch

    from hf_deepfever.core.images import open_image
    from hf_deepfever.models.deepfever.image_processing_deepfever import (
        DeepFeverImageProcessor, DeepFeverImageProcessorPil)
    from hf_deepfever.training.inputs import FaceCropper

    folder = Path(sys.argv[1])
    wide, tall = folder / "wide.png", folder / "tall.png"
    PIL.Image.new("L", (50_000, 1), 255).save(wide)  # a few hundred bytes on disk
    PIL.Image.new("L", (1, 50_000), 255).save(tall)
    assert wide.stat().st_size < 1000

    backends = [DeepFeverImageProcessor(), DeepFeverImageProcessorPil()]
    for processor in backends:  # warm up: first calls allocate thread pools and caches
        processor(PIL.Image.new("RGB", (300, 200)), face_boxes=[(0, 0, 300, 200)], return_tensors="pt")
        processor(PIL.Image.new("RGB", (300, 200)), face_landmarks=[[[10, 10], [50, 30], [0, 0], [20, 90], [40, 90]]],
                  align_faces=True, return_tensors="pt")

    def address_space() -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    resource.setrlimit(resource.RLIMIT_AS, (address_space() + 2**30, resource.RLIM_INFINITY))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    landmarks = [[[24_000, 0], [26_000, 0.5], [25_000, 0.3], [24_500, 0.9], [25_500, 0.9]]]
    for path in (wide, tall):
        image = open_image(path)
        for processor in backends:
            out = processor(image, return_tensors="pt")["pixel_values"]  # no box: the whole image
            assert out.shape == (1, 3, 224, 224) and torch.isfinite(out).all()
            box = [(0, 0, image.width, image.height)]
            out = processor(image, face_boxes=box, face_landmarks=landmarks, align_faces=True, return_tensors="pt")
            assert out["pixel_values"].shape == (1, 3, 224, 224)
        crops = FaceCropper(backends[0]).crops([image, image], [None, (0, 0, image.width, image.height)])
        assert crops.shape == (2, 3, 224, 224)  # the training path: the same processor
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"peak RSS grew by {grown / 1024:.1f} MiB")
    assert grown < 256 * 1024, f"peak RSS grew by {grown / 1024:.0f} MiB"
    """
)


def test_extreme_aspect_ratios_are_processed_in_bounded_memory(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "peak RSS grew by" in result.stdout

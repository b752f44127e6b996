"""Export a DeepFEVER model to ONNX and check the exported graph against PyTorch with onnxruntime.

The ONNX graph takes ``pixel_values`` (batch, 3, S, S) float32, normalised as by `DeepFeverImageProcessor`
(preprocessing stays outside the graph), with a dynamic batch size, and returns ``expression_vector``
(batch, D), plus ``logits`` (batch, num_labels) and ``valence_arousal`` (batch, 2) when the model has heads.
Needs the ``onnx`` extra: ``pip install "hf_deepfever[onnx]"``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.dependencies import require_module
from ..core.files import atomic_output

DEFAULT_OPSET = 17


class _OnnxOutputs(nn.Module):
    """DeepFEVER output object -> a tuple of named tensors (ONNX graphs return tensors, not dataclasses)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.with_heads = hasattr(model, "heads")

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.model(pixel_values=pixel_values)
        if self.with_heads:
            return output.pooler_output, output.logits, output.valence_arousal
        return (output.pooler_output,)


def output_names(model: nn.Module) -> list[str]:
    return ["expression_vector", "logits", "valence_arousal"] if hasattr(model, "heads") else ["expression_vector"]


@dataclass
class OnnxCheck:
    """Largest absolute difference between onnxruntime and PyTorch per output, on a random batch."""

    max_abs_diff: dict[str, float]
    tolerance: float

    @property
    def ok(self) -> bool:
        return all(diff <= self.tolerance for diff in self.max_abs_diff.values())


def _require_onnx() -> None:
    for module in ("onnx", "onnxruntime"):
        require_module(module, install="pip install 'hf_deepfever[onnx]'", purpose="ONNX export and onnxruntime inference")


def _float32_cpu(model: nn.Module) -> nn.Module:
    """``model`` itself when it is float32 on the CPU, else a float32 CPU copy (the caller's model is never cast)."""
    parameter = next(model.parameters(), None)
    if parameter is None or (parameter.dtype == torch.float32 and parameter.device.type == "cpu"):
        return model
    import copy

    return copy.deepcopy(model).to(device="cpu", dtype=torch.float32)


def export_onnx(model: nn.Module, output: str | os.PathLike, *, opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` as float32 ONNX with a dynamic batch axis; atomic (temporary file + rename). A model in
    another precision or on another device is exported from a float32 CPU copy; `model` itself is left as it is."""
    _require_onnx()
    output = Path(output)
    image_size = int(model.config.image_size)
    wrapper = _OnnxOutputs(_float32_cpu(model)).eval()  # eval on the wrapper: export restores *its* mode after
    names = output_names(model)
    example = torch.zeros(2, 3, image_size, image_size)
    with atomic_output(output) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about the input checks, which are constant here
        # The TorchScript exporter: seconds instead of a minute for the dynamo one, same graph for these CNNs.
        torch.onnx.export(
            wrapper,
            (example,),
            str(tmp),
            input_names=["pixel_values"],
            output_names=names,
            dynamic_axes={"pixel_values": {0: "batch"}, **{name: {0: "batch"} for name in names}},
            opset_version=opset,
            dynamo=False,
        )
    return output


def export_checked_onnx(
    model: nn.Module, output: str | os.PathLike, *, opset: int = DEFAULT_OPSET, tolerance: float = 1e-4
) -> OnnxCheck:
    """Export, check against PyTorch, and only then put the file at ``output``.

    The export is written and checked under a temporary name in the same folder; a failing check raises
    ``ValueError`` and leaves whatever was at ``output`` before (e.g. a previous good export) untouched.
    """
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number, got {tolerance}")
    output = Path(output)
    with atomic_output(output) as candidate:
        export_onnx(model, candidate, opset=opset)
        check = check_onnx(model, candidate, tolerance=tolerance)
        if not check.ok:
            diffs = ", ".join(f"{name} {diff:.2e}" for name, diff in check.max_abs_diff.items())
            raise ValueError(f"onnxruntime outputs differ from PyTorch by more than {tolerance}: {diffs}; {output} was not written")
    return check


def onnx_session(model: str | os.PathLike | bytes, *, threads: int | None = None, spinning: bool = True):
    """An onnxruntime CPU session for an exported DeepFEVER graph (a file, or the graph's bytes).

    ``spinning=False`` makes idle intra-op threads sleep instead of busy-waiting: when decoding workers share the
    cores, a spinning thread takes their time (efficientnet_b0, 1 thread, batch 4: 107 vs 96 images/s on a
    2-core machine; 2 threads: 63 vs 36).
    """
    _require_onnx()
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def check_onnx(
    model: nn.Module, path: str | os.PathLike, *, batch_size: int = 3, tolerance: float = 1e-4, seed: int = 0
) -> OnnxCheck:
    """Run PyTorch and onnxruntime on the same random batch (a size other than the export's) and compare."""
    image_size = int(model.config.image_size)
    pixels = torch.randn(batch_size, 3, image_size, image_size, generator=torch.Generator().manual_seed(seed))
    wrapper = _OnnxOutputs(_float32_cpu(model)).eval()
    with torch.no_grad():
        expected = [tensor.float().numpy() for tensor in wrapper(pixels)]
    got = onnx_session(path).run(None, {"pixel_values": pixels.numpy()})
    diffs = {
        name: float(np.abs(np.asarray(value) - reference).max())
        for name, value, reference in zip(output_names(model), got, expected)
    }
    return OnnxCheck(diffs, tolerance)


class OnnxRuntimeExtractor:
    """An exported DeepFEVER graph run by onnxruntime behind the PyTorch model's call, for `iter_extraction`:
    `extractor(pixel_values=...)` returns `pooler_output` (+ `logits`, `valence_arousal`) as CPU tensors.

    `model` is the graph's file or bytes; its intra-op threads do not spin (see `onnx_session`)."""

    input_dtype = torch.float32

    def __init__(self, model: str | os.PathLike | bytes, config: Any, *, threads: int | None = None) -> None:
        self.session = onnx_session(model, threads=threads, spinning=False)
        self.config = config
        self.names = [output.name for output in self.session.get_outputs()]
        self.has_expression_heads = "logits" in self.names

    def __call__(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        pixels = pixel_values.detach().to("cpu", torch.float32).contiguous().numpy()
        named = dict(zip(self.names, self.session.run(None, {"pixel_values": pixels})))
        return SimpleNamespace(
            pooler_output=torch.from_numpy(named["expression_vector"]),
            logits=torch.from_numpy(named["logits"]) if "logits" in named else None,
            valence_arousal=torch.from_numpy(named["valence_arousal"]) if "valence_arousal" in named else None,
        )


class PerProcessOnnxRunner:
    """An :class:`OnnxRuntimeExtractor` made by whichever process calls it, on its first call there: an
    onnxruntime session does not survive a fork, so each DataLoader worker builds its own from the graph's bytes
    (and a process that never calls it builds none). Picklable (the session is left out) for spawned workers."""

    input_dtype = torch.float32

    def __init__(self, graph: bytes, config: Any, *, threads: int | None, has_expression_heads: bool) -> None:
        self.graph, self.config, self.threads = graph, config, threads
        self.has_expression_heads = has_expression_heads
        self._extractor: OnnxRuntimeExtractor | None = None
        self._pid: int | None = None

    def with_threads(self, threads: int | None) -> PerProcessOnnxRunner:
        """The same graph, run with ``threads`` intra-op threads per process."""
        return PerProcessOnnxRunner(self.graph, self.config, threads=threads,
                                    has_expression_heads=self.has_expression_heads)

    def __call__(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        if self._extractor is None or self._pid != os.getpid():
            self._extractor = OnnxRuntimeExtractor(self.graph, self.config, threads=self.threads)
            self._pid = os.getpid()
        return self._extractor(pixel_values=pixel_values)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_extractor": None, "_pid": None}


__all__ = [
    "DEFAULT_OPSET",
    "OnnxCheck",
    "OnnxRuntimeExtractor",
    "PerProcessOnnxRunner",
    "check_onnx",
    "export_onnx",
    "onnx_session",
    "output_names",
]

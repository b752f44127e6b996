"""Teacher outputs computed once and cached on disk, for offline knowledge distillation.

A teacher's outputs (expression logits, valence/arousal, expression vector) are a pure function of the
image, the face box, the preprocessing and the teacher's weights, so they are computed once, before
training, and read back every epoch instead of running the teacher every step.

Layout: ``<cache_root>/<fingerprint>/shard-<digest>.safetensors``, where ``fingerprint`` hashes the
teacher processor's ``to_dict()``, the teacher config, the teacher weights and the compute precision; each
shard holds ``keys`` (``(N, 20)`` uint8 SHA-1 digests of image path + file size + mtime + face box) and
``logits``, ``valence_arousal``, ``vectors`` (float32). Editing an image, changing a box or retraining the
teacher changes the key or the fingerprint, so stale outputs are never served; new images only add shards.
Shards are written atomically (temporary file + ``os.replace``) chunk by chunk, so an interrupted cache
build keeps the chunks it finished.

A face whose image cannot be decoded (see :mod:`hf_deepfever.training.inputs`: its row comes out of the
transform as a marker, ``usable`` False) is never written: the teacher's output on a marker crop is not the
teacher's view of that face, and a cache entry would outlive a repaired file with the same size and mtime.
Its outputs come back as zeros, to be ignored through the batch's ``usable`` rows.

The teacher sees the canonical, un-augmented crop of each face (its own processor, no augmentation);
the student sees augmented crops. That is standard offline distillation; ``--online_teacher`` instead
runs the teacher on the student's own augmented view every step.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader

from ..core.files import atomic_output
from .inputs import FaceRowTransform, collate_rows

CACHE_FORMAT_VERSION = 1
OUTPUT_NAMES = ("logits", "valence_arousal", "vectors")
_KEY_BYTES = 20
_VOLATILE_CONFIG_KEYS = {"transformers_version", "auto_map", "_name_or_path", "architectures", "dtype", "torch_dtype"}


def _hash_json(value: Any, digest: Any) -> None:
    digest.update(json.dumps(value, sort_keys=True, default=str).encode())


def teacher_fingerprint(teacher: nn.Module, processor: Any, *, mixed_precision: str = "no") -> str:
    """Hash of everything that determines the teacher's outputs besides the image: config, weights, preprocessing."""
    digest = hashlib.sha256()
    _hash_json({"version": CACHE_FORMAT_VERSION, "mixed_precision": mixed_precision}, digest)
    config = {k: v for k, v in teacher.config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
    _hash_json(config, digest)
    processor_dict = {k: v for k, v in processor.to_dict().items() if k not in {"auto_map", "_processor_class"}}
    _hash_json(processor_dict, digest)
    for name, tensor in sorted(teacher.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tensor.dtype}:{tensor.numel()}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


def _box_text(box: Any) -> str:
    return "-" if box is None else ",".join(f"{float(v):.6g}" for v in box)


def row_keys(face_rows: Any) -> np.ndarray:
    """``(N, 20)`` uint8 keys of face rows: SHA-1 of path, file size, mtime, both face-box columns and the
    landmarks (an aligning processor rotates the crop by them, so corrected landmarks are a new crop)."""
    table = face_rows.with_format("arrow")[:]
    paths = table.column("path").to_pylist()
    boxes = table.column("face_box").to_pylist()
    relative = table.column("face_box_relative").to_pylist()
    landmarks = table.column("landmarks").to_pylist() if "landmarks" in table.column_names else [None] * len(paths)
    keys = np.empty((len(paths), _KEY_BYTES), dtype=np.uint8)
    for row, (path, box, rel, points) in enumerate(zip(paths, boxes, relative, landmarks)):
        try:
            status = os.stat(path)
        except OSError as error:
            raise FileNotFoundError(f"teacher cache: cannot stat image {path}: {error}") from error
        text = f"{path}\0{status.st_size}\0{status.st_mtime_ns}\0{_box_text(box)}\0{_box_text(rel)}\0"
        digest = hashlib.sha1(text.encode())
        if points is not None:
            digest.update(np.asarray(points, dtype=np.float32).tobytes())
        keys[row] = np.frombuffer(digest.digest(), dtype=np.uint8)
    return keys


class TeacherCache:
    """The shards of one teacher fingerprint: lookup by key, atomic shard writes."""

    def __init__(self, cache_root: str | os.PathLike, fingerprint: str) -> None:
        self.folder = Path(cache_root) / fingerprint

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.safetensors")) if self.folder.is_dir() else []

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """Which keys are cached (bool mask) and their outputs (rows of missing keys are left at 0)."""
        wanted = {keys[row].tobytes(): row for row in range(len(keys))}
        found = np.zeros(len(keys), dtype=bool)
        outputs: dict[str, torch.Tensor] = {}
        for shard_path in self.shards():
            try:
                shard = load_file(str(shard_path))
            except Exception as error:  # a shard must never be half-written; say which one is broken
                raise ValueError(f"teacher cache shard {shard_path} is unreadable ({error}); delete it") from error
            shard_rows, target_rows = [], []
            for shard_row, key in enumerate(shard["keys"].numpy()):
                row = wanted.get(key.tobytes())
                if row is not None and not found[row]:
                    shard_rows.append(shard_row)
                    target_rows.append(row)
                    found[row] = True
            if not shard_rows:
                continue
            for name in OUTPUT_NAMES:
                if name not in outputs:
                    outputs[name] = torch.zeros((len(keys), *shard[name].shape[1:]), dtype=torch.float32)
                outputs[name][torch.tensor(target_rows)] = shard[name][torch.tensor(shard_rows)].float()
        return found, outputs

    def write_shard(self, keys: np.ndarray, outputs: dict[str, torch.Tensor]) -> Path:
        """Write one shard atomically; its name is derived from its keys (re-writing it is harmless)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(np.ascontiguousarray(keys).tobytes()).hexdigest()[:20]
        final = self.folder / f"shard-{name}.safetensors"
        tensors = {"keys": torch.from_numpy(np.ascontiguousarray(keys))}
        tensors.update({k: outputs[k].detach().float().cpu().contiguous() for k in OUTPUT_NAMES})
        with atomic_output(final) as temporary:
            save_file(tensors, str(temporary))
        return final


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three outputs the student learns from, in float32."""
    output = teacher(pixel_values=pixel_values)
    return {
        "logits": output.logits.float(),
        "valence_arousal": output.valence_arousal.float(),
        "vectors": output.pooler_output.float(),
    }


def cached_teacher_outputs(
    accelerator: Any,
    teacher: nn.Module,
    teacher_processor: Any,
    face_rows: Any,
    cache_root: str | os.PathLike,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    chunk_rows: int = 8192,
) -> dict[str, torch.Tensor]:
    """Teacher outputs for every face row (aligned with ``row_index``), computing only what is not cached.

    Call on every process: missing rows are sharded across processes, gathered, and the main process
    writes one shard per chunk of ``chunk_rows``. Returns CPU float32 tensors ``logits`` ``(N, C)``,
    ``valence_arousal`` ``(N, 2)``, ``vectors`` ``(N, D)``; rows whose image cannot be decoded are not cached
    and are 0 (the training batches mark those rows ``usable`` False).
    """
    from tqdm.auto import tqdm

    fingerprint = teacher_fingerprint(teacher, teacher_processor, mixed_precision=accelerator.mixed_precision)
    cache = TeacherCache(cache_root, fingerprint)
    keys = row_keys(face_rows)
    found, _ = cache.lookup(keys)
    missing = np.flatnonzero(~found)
    unreadable = np.zeros(len(keys), dtype=bool)
    if len(missing):
        accelerator.print(f"teacher cache: computing {len(missing)} of {len(keys)} teacher outputs into {cache.folder}")
        teacher.eval()
        progress = tqdm(total=len(missing), desc="teacher outputs", disable=not accelerator.is_local_main_process)
        for start in range(0, len(missing), chunk_rows):
            chunk = missing[start : start + chunk_rows]
            rows = face_rows.select(chunk.tolist()).with_transform(
                FaceRowTransform(teacher_processor, augment=False, seed=0)
            )
            # Its own generator: an iterator draws its workers' base seed from the loader's generator, and a draw
            # from the global one would give the training that follows another random stream when the cache had
            # to be filled than when it was found (the same student, distilled twice, scored 45.2% then 44.0%).
            loader = accelerator.prepare_data_loader(
                DataLoader(rows, batch_size=batch_size, collate_fn=collate_rows, num_workers=num_workers,
                           generator=torch.Generator().manual_seed(0))
            )  # fmt: skip
            parts: dict[str, list[torch.Tensor]] = {}
            for batch in loader:
                with accelerator.autocast():
                    outputs = teacher_outputs(teacher, batch["pixel_values"])
                outputs["row_index"] = batch["row_index"]
                outputs["usable"] = batch["usable"].to(torch.uint8)
                for name, value in accelerator.gather_for_metrics(outputs).items():
                    parts.setdefault(name, []).append(value.cpu())
                progress.update(len(batch["row_index"]) * accelerator.num_processes)
            gathered = {name: torch.cat(values) for name, values in parts.items()}
            order = torch.argsort(gathered.pop("row_index"))
            usable = gathered.pop("usable")[order].bool().numpy()
            unreadable[chunk[~usable]] = True
            if accelerator.is_main_process and usable.any():
                rows_kept = torch.from_numpy(np.flatnonzero(usable))
                cache.write_shard(keys[chunk][usable], {name: value[order][rows_kept] for name, value in gathered.items()})
            accelerator.wait_for_everyone()
        progress.close()
    found, outputs = cache.lookup(keys)
    if not found.any():
        raise ValueError(f"teacher cache: none of the {len(keys)} training images could be decoded")
    if (~found & ~unreadable).any():
        raise RuntimeError(f"teacher cache {cache.folder}: {int((~found & ~unreadable).sum())} rows still missing after computing them")
    if unreadable.any():
        accelerator.print(f"teacher cache: {int(unreadable.sum())} unreadable image(s) not cached (their rows are left out of the loss)")
    return outputs


__all__ = [
    "CACHE_FORMAT_VERSION",
    "TeacherCache",
    "cached_teacher_outputs",
    "row_keys",
    "teacher_fingerprint",
    "teacher_outputs",
]

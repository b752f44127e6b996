"""Which model made a set of expression vectors: a fingerprint of the files that decide the vectors.

Vectors of two models live in unrelated spaces: a distance between them means nothing. An index therefore
records the model it was built with, and refuses queries whose vectors come from another. The fingerprint
is a SHA-256 over what fixes a model's vectors: its configuration (less the keys that only say which library
version wrote it), its image-processor configuration (crop margin, size, normalisation) and its weights
files, byte for byte. Loading the same folder as `DeepFeverModel` or `DeepFeverForExpressionRecognition`,
in float32 or bfloat16, gives the same fingerprint; retraining, editing the config or the crop does not.

A vectors table records the identity of its model with :data:`MODEL_METADATA_KEY` (Parquet schema metadata,
or the ``"model"`` entry of a sharded folder's manifest), as :meth:`ModelIdentity.to_dict`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.files import open_regular_file, read_json_object, read_regular_text
from ..core.vocabulary import MODEL_METADATA_KEY  # re-exported: the key the vectors of a model are recorded under

CONFIG_NAME = "config.json"
PROCESSOR_CONFIG_NAME = "preprocessor_config.json"
WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# Keys that record who wrote a config, not what the model computes.
_VOLATILE_CONFIG_KEYS = ("transformers_version", "_name_or_path", "_commit_hash", "dtype", "torch_dtype")
_CHUNK = 1 << 20


class ModelMismatchError(ValueError):
    """Vectors of one model offered to an index (or compared with vectors) of another."""


@dataclass(frozen=True)
class ModelIdentity:
    """The model a set of vectors comes from.

    Attributes:
        fingerprint: ``"sha256:<64 hex>"`` from :func:`model_fingerprint` (or any stable string a caller
            chooses for vectors not made by a saved model, e.g. a benchmark's random vectors).
        name: the folder (absolute) or Hub id it was loaded from: where to load it again, and for messages (the
            fingerprint decides whether two models are the same).
        embedding_dim: the length of its vectors, when known.
    """

    fingerprint: str
    name: str = ""
    embedding_dim: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.fingerprint, str) or not self.fingerprint.strip():
            raise ValueError(f"a model fingerprint must be a non-empty string, got {self.fingerprint!r}")

    @property
    def short(self) -> str:
        """The fingerprint shortened for messages (``sha256:1a2b3c4d5e6f``)."""
        kind, _, digest = self.fingerprint.partition(":")
        return f"{kind}:{digest[:12]}" if digest else self.fingerprint[:24]

    def describe(self) -> str:
        return f"{self.name or 'an unnamed model'} (fingerprint {self.short})"

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "name": self.name, "embedding_dim": self.embedding_dim}

    @classmethod
    def from_dict(cls, value: Any, source: str = "model identity") -> ModelIdentity:
        """Inverse of :meth:`to_dict`; ``source`` names where the value was read, for errors."""
        if not isinstance(value, dict) or not isinstance(value.get("fingerprint"), str):
            raise ValueError(f"{source}: expected an object with a string 'fingerprint', got {value!r}")
        dim = value.get("embedding_dim")
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"{source}: 'embedding_dim' must be a positive integer or null, got {dim!r}")
        name = value.get("name") or ""
        if not isinstance(name, str):
            raise ValueError(f"{source}: 'name' must be a string, got {name!r}")
        return cls(fingerprint=value["fingerprint"], name=name, embedding_dim=dim)

    def check_same(self, other: ModelIdentity, what: str = "the query vectors") -> None:
        """Raise :class:`ModelMismatchError` unless ``other`` is the same model (same fingerprint)."""
        if other.fingerprint != self.fingerprint:
            raise ModelMismatchError(
                f"{what} come from {other.describe()}, but this index was built with {self.describe()}: "
                "vectors of different models cannot be compared. Extract the query with the index's model, "
                "or rebuild the index with the query's model."
            )


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular_file(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _canonical_json(path: Path, drop: tuple[str, ...] = ()) -> str:
    value = read_json_object(path)
    for key in drop:
        value.pop(key, None)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _weights_files(resolve: Any, name: str) -> list[Path]:
    """``model.safetensors``, or the shards named by its index file (weights are safetensors only)."""
    single = resolve(WEIGHTS_NAME)
    if single is not None:
        return [single]
    index = resolve(WEIGHTS_INDEX_NAME)
    if index is None:
        raise FileNotFoundError(f"{name} has neither {WEIGHTS_NAME} nor {WEIGHTS_INDEX_NAME} (weights are safetensors only)")
    try:
        weight_map = json.loads(read_regular_text(index))["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{index}: not a safetensors index with a 'weight_map' ({error})") from None
    shards = []
    for shard in sorted(set(weight_map.values())):
        if not isinstance(shard, str) or "/" in shard or "\\" in shard or shard.startswith("."):
            raise ValueError(f"{index}: shard name {shard!r} is not a plain file name")
        path = resolve(shard)
        if path is None:
            raise FileNotFoundError(f"{name}: weights shard {shard} (named by {WEIGHTS_INDEX_NAME}) is missing")
        shards.append(path)
    return [index, *shards]


def _resolver(name_or_path: str, hub_kwargs: dict[str, Any]) -> Any:
    """``file name -> local Path or None`` for a model folder, or for a Hub id through the local cache."""
    folder = Path(name_or_path)
    if folder.is_dir():
        def in_folder(file_name: str) -> Path | None:
            path = folder / file_name
            return path if path.is_file() else None

        return in_folder
    if folder.exists():
        raise ValueError(f"{name_or_path} is a file, not a model folder or Hub id")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError, RepositoryNotFoundError

    try:
        snapshot = Path(hf_hub_download(name_or_path, CONFIG_NAME, **hub_kwargs)).parent
    except LocalEntryNotFoundError:
        raise FileNotFoundError(
            f"{name_or_path} is neither a model folder nor a Hub model in the local cache (offline); "
            "pass the folder the model was saved to"
        ) from None
    except (RepositoryNotFoundError, RemoteEntryNotFoundError):
        raise FileNotFoundError(f"{name_or_path} is neither a model folder nor a Hub model repository") from None

    def on_hub(file_name: str) -> Path | None:
        try:
            return Path(hf_hub_download(name_or_path, file_name, **hub_kwargs))
        except RemoteEntryNotFoundError:  # the repository has no such file
            return None
        except LocalEntryNotFoundError:  # offline: the cached snapshot holds what the loader fetched
            cached = snapshot / file_name
            return cached if cached.is_file() else None

    return on_hub


def model_fingerprint(name_or_path: str | os.PathLike[str], **hub_kwargs: Any) -> ModelIdentity:
    """The :class:`ModelIdentity` of a saved DeepFEVER model (a folder, or a Hub id read through the cache).

    Hashes the canonical config (less :data:`_VOLATILE_CONFIG_KEYS`), the canonical image-processor config
    (when the folder has one; otherwise the loader's default, which the config decides) and every weights file.
    """
    name = os.fspath(name_or_path)
    if Path(name).is_dir():
        name = str(Path(name).resolve())  # the index then finds its model from any working folder
    resolve = _resolver(name, hub_kwargs)
    config_path = resolve(CONFIG_NAME)
    if config_path is None:
        raise FileNotFoundError(f"{name} has no {CONFIG_NAME}: not a saved model")
    config_text = _canonical_json(config_path, _VOLATILE_CONFIG_KEYS)
    config = json.loads(config_text)
    digest = hashlib.sha256()
    digest.update(b"config\0" + config_text.encode() + b"\0")
    processor_path = resolve(PROCESSOR_CONFIG_NAME)
    processor_text = _canonical_json(processor_path) if processor_path is not None else "default"
    digest.update(b"processor\0" + processor_text.encode() + b"\0")
    for path in _weights_files(resolve, name):
        digest.update(f"file\0{path.name}\0{_file_digest(path)}\0".encode())
    dim = config.get("embedding_dim")
    if dim is None and isinstance(config.get("vision_config"), dict):  # DeepFEVER-AV: its visual stream's vectors
        dim = config["vision_config"].get("embedding_dim")
    return ModelIdentity(
        fingerprint=f"sha256:{digest.hexdigest()}",
        name=name,
        embedding_dim=int(dim) if isinstance(dim, int) and not isinstance(dim, bool) else None,
    )


def identity_of_loaded_model(model: Any) -> ModelIdentity:
    """The identity of a model loaded with ``from_pretrained`` (from the folder or Hub id it came from)."""
    source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    if not source:
        raise ValueError(
            "this model was not loaded from a saved folder or Hub id, so it has no fingerprint: save it with "
            "save_pretrained and load it back, or pass a ModelIdentity yourself"
        )
    return model_fingerprint(source)


__all__ = [
    "MODEL_METADATA_KEY",
    "ModelIdentity",
    "ModelMismatchError",
    "identity_of_loaded_model",
    "model_fingerprint",
]

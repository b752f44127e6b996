"""Install a local model folder into a Hugging Face Hub-layout cache, so it loads offline by repo id.

The Hub cache is plain files: ``models--org--name/refs/<revision>`` holds a 40-hex commit id and
``snapshots/<commit>/`` holds the repository's files (here as links into ``blobs/``). Nothing in
``huggingface_hub`` fills it from local files, so air-gapped installs and tests use this module:
after ``install_to_hub_cache(folder, "org/deepfever")``, ``AutoModel.from_pretrained("org/deepfever")``
works with ``HF_HUB_OFFLINE=1``. Only the folder's own files are installed (`hub.members`): a symbolic link
that leaves the folder is refused by name, never followed into the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import validate_repo_id

from ..core.files import atomic_output, atomic_write_text, open_regular_file
from .members import copy_member, member_path

_CHUNK_BYTES = 1 << 20


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular_file(path) as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _list_repo_files(folder: Path) -> list[str]:
    """Every file under `folder` as a POSIX relative path, sorted; hidden entries are skipped.

    Each goes through `hub.members.member_path`: a link that leaves `folder`, or one to nothing, is refused.
    Links to folders are refused too (a Hub snapshot holds files; the folder's own files are listed anyway).
    """
    files = []
    for parent, folders, names in os.walk(folder):  # does not descend into linked folders
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(folders):
            if os.path.islink(os.path.join(parent, name)):
                raise ValueError(f"{os.path.join(parent, name)} is a link that does not point to a file")
        for name in sorted(names):
            relative = Path(parent, name).relative_to(folder)
            if name.startswith(".") or any(part.startswith(".") for part in relative.parts):
                continue
            if member_path(folder, relative.as_posix()) is not None:
                files.append(relative.as_posix())
    return sorted(files)


def content_commit_id(file_hashes: dict[str, str]) -> str:
    """A 40-hex commit id that depends only on the files' relative paths and contents (sha256 per file)."""
    digest = hashlib.sha1()
    for relative_path in sorted(file_hashes):
        digest.update(relative_path.encode("utf-8") + b"\0" + file_hashes[relative_path].encode("ascii") + b"\n")
    return digest.hexdigest()


def _place_snapshot_file(blob: Path, target: Path, final_target: Path) -> None:
    """Link `target` to `blob` as the Hub cache does, relative to where it will finally live
    (`final_target`, after the staging folder is moved); copy where links are not allowed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(os.path.relpath(blob, final_target.parent))
    except OSError:
        shutil.copy2(blob, target)


def install_to_hub_cache(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    revision: str = "main",
) -> Path:
    """Install the files of `folder` into a Hub-layout cache as model repository `repo_id` at `revision`.

    Args:
        folder: a model folder (e.g. one written by `assemble_upload_folder` or `save_pretrained`).
        repo_id: ``"org/name"``, the id later passed to `from_pretrained`.
        cache_dir: the hub cache folder; defaults to huggingface_hub's (``$HF_HUB_CACHE``, else
            ``$HF_HOME/hub``), the one `from_pretrained` reads.
        revision: the branch or tag name written under ``refs/``.

    Returns:
        The snapshot folder ``<cache>/models--org--name/snapshots/<commit>``. The commit id is derived
        from the files' paths and contents, so installing the same folder twice is a no-op.
    """
    source = Path(folder)
    if not source.is_dir():
        raise FileNotFoundError(f"model folder {source} does not exist or is not a folder")
    validate_repo_id(repo_id)
    if not revision or revision.startswith("/") or ".." in revision.split("/"):
        raise ValueError(f"revision {revision!r} is not a valid branch or tag name")
    relative_paths = _list_repo_files(source)
    if not relative_paths:
        raise ValueError(f"model folder {source} holds no files to install")

    cache_root = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    repo_root = cache_root / repo_folder_name(repo_id=repo_id, repo_type="model")
    blobs_dir = repo_root / "blobs"
    blobs_dir.mkdir(parents=True, exist_ok=True)

    file_hashes: dict[str, str] = {}
    for relative_path in relative_paths:
        source_file = source / relative_path
        file_hash = _sha256_of_file(source_file)
        file_hashes[relative_path] = file_hash
        blob = blobs_dir / file_hash
        if not blob.is_file():
            with atomic_output(blob) as temporary:
                copy_member(source_file, temporary)

    commit = content_commit_id(file_hashes)
    snapshot = repo_root / "snapshots" / commit
    if not snapshot.is_dir():
        # Build the snapshot beside its final place, then move it in one step: a reader never sees half of it.
        staging = Path(tempfile.mkdtemp(dir=repo_root, prefix=f".snapshot-{commit[:8]}-"))
        try:
            for relative_path, file_hash in file_hashes.items():
                _place_snapshot_file(blobs_dir / file_hash, staging / relative_path, snapshot / relative_path)
            staging.chmod(0o755)  # mkdtemp makes it owner-only; a cache is usually shared read-only
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, snapshot)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not snapshot.is_dir():  # else another process installed the same content first
                raise
    # huggingface_hub reads the ref with a bare f.read(): no trailing newline.
    (repo_root / "refs" / revision).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(repo_root / "refs" / revision, commit)
    return snapshot

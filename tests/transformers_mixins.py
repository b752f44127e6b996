"""transformers' own common test mixins, from the source distribution of the installed transformers release.

The mixins (``ModelTesterMixin``, ``ConfigTester``, ``ImageProcessingTestMixin``,
``SequenceFeatureExtractionTestMixin`` ...) are not in the wheel. :func:`load_mixins` downloads the release's
source distribution once with ``pip download --no-deps --no-binary :all: transformers==<installed>``, extracts
only its ``tests/*.py`` and caches them under ``$XDG_CACHE_HOME/hf_deepfever_tests/transformers-<version>/``
(``~/.cache`` when the variable is unset; ``HF_DEEPFEVER_TESTS_CACHE`` overrides the whole folder). Nothing of
transformers' test code is kept in this repository.

The source distribution ships the top-level test files only, while they import four modules that live
elsewhere in transformers' repository. Minimal stand-ins of our own take their place:

* ``tests/exporters/test_export.py``: ``ExportTesterMixin`` (the exporter suite, ONNX/ExecuTorch/TensorRT
  backends) is an empty base class, so the exporter tests do not run; ``torch.export`` of our models is tested
  in ``test_transformers_common.py`` directly.
* ``tests/generation/test_utils.py``: ``GenerationTesterMixin``, only used by ``issubclass`` checks (our
  models do not generate).
* ``tests/utils/test_configuration_utils.py``: ``config_common_kwargs``, a non-default value for every field
  of ``PreTrainedConfig`` (checked against the installed release by :func:`check_config_common_kwargs`).
* ``utils/fetch_hub_objects_for_ci.py``: ``url_to_local_path``, which maps the Hub images some tests load to
  local copies. Offline, every image URL maps to matplotlib's sample photograph (``grace_hopper.jpg``), so
  those tests still compare on a real photo.

When the download fails, :func:`load_mixins` raises :class:`MixinsUnavailable`; test modules turn that into
a skip locally and a failure when ``CI`` is set (``CI=true``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
import uuid
import warnings
from functools import cache
from pathlib import Path

import pytest
import transformers

PACKAGE = "transformers_common_tests"
"""Name the extracted ``tests`` folder is imported under (its files use relative imports)."""

_DOWNLOAD_TIMEOUT_S = 600


class MixinsUnavailable(RuntimeError):
    """The transformers source distribution could not be fetched or imported."""


def cache_root() -> Path:
    """Folder of the extracted test files of the installed transformers version."""
    override = os.environ.get("HF_DEEPFEVER_TESTS_CACHE")
    if override:
        return Path(override) / f"transformers-{transformers.__version__}"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hf_deepfever_tests" / f"transformers-{transformers.__version__}"


def _download_sdist(folder: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
        "--quiet", "--dest", str(folder), f"transformers=={transformers.__version__}",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=_DOWNLOAD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MixinsUnavailable(f"`{' '.join(command)}` did not run: {error}") from error
    archives = sorted(folder.glob("transformers-*.tar.gz"))
    if result.returncode != 0 or not archives:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise MixinsUnavailable(f"`{' '.join(command)}` failed (exit {result.returncode}): {' | '.join(tail)}")
    return archives[0]


def _extract_tests(archive: Path, target: Path) -> None:
    """Extract ``<sdist>/tests/*.py`` (top level only) into ``target``, plus an empty ``__init__.py``."""
    target.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as sdist:
        members = [
            member for member in sdist.getmembers()
            if member.isfile() and len(Path(member.name).parts) == 3
            and Path(member.name).parts[1] == "tests" and member.name.endswith(".py")
        ]
        if not any(Path(m.name).name == "test_modeling_common.py" for m in members):
            raise MixinsUnavailable(f"{archive.name} holds no tests/test_modeling_common.py")
        for member in members:
            source = sdist.extractfile(member)
            (target / Path(member.name).name).write_bytes(source.read())
    # `ConfigTester` imports its folder as a package (`direct_transformers_import`): it needs an __init__.py.
    (target / "__init__.py").write_text("")


def ensure_test_files() -> Path:
    """The cached ``tests`` folder of the installed release, fetched and extracted on first use."""
    root = cache_root()
    tests = root / "tests"
    if (tests / "test_modeling_common.py").is_file():
        return tests
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as scratch:
        archive = _download_sdist(Path(scratch))
        staged = root / f".tests-{uuid.uuid4().hex}"
        try:
            _extract_tests(archive, staged)
            try:
                staged.rename(tests)  # atomic; another session may have won the race, which is as good
            except OSError:
                if not (tests / "test_modeling_common.py").is_file():
                    raise
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return tests


def _config_common_kwargs() -> dict:
    """A value different from `PreTrainedConfig`'s default for each of its common fields."""
    return {
        "return_dict": False,
        "output_hidden_states": True,
        "output_attentions": True,
        "dtype": "float16",
        "chunk_size_feed_forward": 5,
        "architectures": ["SomeModel"],
        "id2label": {0: "label"},
        "label2id": {"label": 0},
        "problem_type": "regression",
    }


def check_config_common_kwargs() -> list[str]:
    """Fields of the installed `PreTrainedConfig` the stand-in `config_common_kwargs` does not cover."""
    base = transformers.PreTrainedConfig()
    covered = set(_config_common_kwargs()) | {"transformers_version", "is_encoder_decoder", "_name_or_path"}
    public = {name for name in base.__dict__ if not name.startswith("_")}
    return sorted(public - covered)


def _local_photo(url: str) -> str:
    """An offline stand-in for a Hub image: matplotlib's sample portrait (other URLs are returned unchanged)."""
    if not url.lower().endswith((".jpg", ".jpeg", ".png")):
        return url
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__path__ = []  # importable as a package, so `from .x.y import z` resolves
    return module


def _install_stand_ins() -> None:
    class ExportTesterMixin:
        """Stand-in: the exporter suite is not in the source distribution."""

    class GenerationTesterMixin:
        """Stand-in: only used by `issubclass` checks."""

    stand_ins = {
        f"{PACKAGE}.exporters": _module(f"{PACKAGE}.exporters"),
        f"{PACKAGE}.exporters.test_export": _module(f"{PACKAGE}.exporters.test_export", ExportTesterMixin=ExportTesterMixin),
        f"{PACKAGE}.generation": _module(f"{PACKAGE}.generation"),
        f"{PACKAGE}.generation.test_utils": _module(
            f"{PACKAGE}.generation.test_utils", GenerationTesterMixin=GenerationTesterMixin
        ),
        f"{PACKAGE}.utils": _module(f"{PACKAGE}.utils"),
        f"{PACKAGE}.utils.test_configuration_utils": _module(
            f"{PACKAGE}.utils.test_configuration_utils", config_common_kwargs=_config_common_kwargs()
        ),
        "fetch_hub_objects_for_ci": _module("fetch_hub_objects_for_ci", url_to_local_path=_local_photo),
    }
    for name, module in stand_ins.items():
        sys.modules.setdefault(name, module)


@cache
def load_mixins() -> types.SimpleNamespace:
    """transformers' common test modules of the installed release (fetched on first use).

    Returns a namespace with ``modeling`` (``test_modeling_common``), ``configuration``
    (``test_configuration_common``), ``image_processing`` (``test_image_processing_common``) and
    ``sequence_feature_extraction`` (``test_sequence_feature_extraction_common``).
    """
    for requirement in ("parameterized",):
        if importlib.util.find_spec(requirement) is None:
            raise MixinsUnavailable(f"transformers' test files need `{requirement}`: pip install -e '.[dev]'")
    tests = ensure_test_files()
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACKAGE, tests / "__init__.py", submodule_search_locations=[str(tests)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    _install_stand_ins()
    try:
        with warnings.catch_warnings():
            # Marks such as `torch_compile_test` are registered by transformers' own conftest, not ours.
            warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
            return _import_modules()
    except ImportError as error:
        raise MixinsUnavailable(f"transformers {transformers.__version__}'s test files do not import: {error}") from error


def _import_modules() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        modeling=importlib.import_module(f"{PACKAGE}.test_modeling_common"),
        configuration=importlib.import_module(f"{PACKAGE}.test_configuration_common"),
        image_processing=importlib.import_module(f"{PACKAGE}.test_image_processing_common"),
        sequence_feature_extraction=importlib.import_module(f"{PACKAGE}.test_sequence_feature_extraction_common"),
    )


def load_mixins_or_skip() -> types.SimpleNamespace:
    """:func:`load_mixins` for a test module: a module-level skip locally, a failure under ``CI``."""
    try:
        return load_mixins()
    except MixinsUnavailable as error:
        message = f"transformers' common test mixins are unavailable: {error}"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)


__all__ = ["MixinsUnavailable", "cache_root", "check_config_common_kwargs", "ensure_test_files", "load_mixins", "load_mixins_or_skip"]

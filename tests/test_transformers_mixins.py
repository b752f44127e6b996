"""The harness that brings transformers' common test mixins into this suite (tests/transformers_mixins.py)."""

from __future__ import annotations

import io
import tarfile

import pytest

import transformers_mixins
from transformers_mixins import MixinsUnavailable


def _unavailable():
    raise MixinsUnavailable("no network")


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_failed_fetch_fails_under_ci_and_skips_locally(monkeypatch, ci, outcome):
    monkeypatch.setattr(transformers_mixins, "load_mixins", _unavailable)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="mixins are unavailable: no network"):
        transformers_mixins.load_mixins_or_skip()


def test_stand_in_config_kwargs_cover_every_common_field():
    # The source distribution lacks tests/utils/test_configuration_utils.py: our stand-in must name every field
    # of the installed PreTrainedConfig, with a non-default value.
    assert transformers_mixins.check_config_common_kwargs() == []
    base = transformers_mixins.transformers.PreTrainedConfig()
    for key, value in transformers_mixins._config_common_kwargs().items():
        assert getattr(base, key) != value, key


def test_only_the_top_level_test_files_are_extracted(tmp_path):
    archive = tmp_path / "transformers-0.0.tar.gz"
    files = {
        "transformers-0.0/tests/test_modeling_common.py": b"# mixin\n",
        "transformers-0.0/tests/models/bert/test_modeling_bert.py": b"# not needed\n",
        "transformers-0.0/src/transformers/__init__.py": b"# not a test\n",
        "transformers-0.0/tests/fixtures/sample.txt": b"data\n",
    }
    with tarfile.open(archive, "w:gz") as sdist:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))
    target = tmp_path / "tests"
    transformers_mixins._extract_tests(archive, target)
    assert sorted(p.name for p in target.iterdir()) == ["__init__.py", "test_modeling_common.py"]


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_DEEPFEVER_TESTS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    version = transformers_mixins.transformers.__version__
    assert transformers_mixins.cache_root() == tmp_path / "hf_deepfever_tests" / f"transformers-{version}"
    monkeypatch.setenv("HF_DEEPFEVER_TESTS_CACHE", str(tmp_path / "elsewhere"))
    assert transformers_mixins.cache_root() == tmp_path / "elsewhere" / f"transformers-{version}"

"""The wheel: what ``pip install`` gets is complete without a checkout (templates, model files, metrics, CLI).

The wheel is built from a copy of the sources in a temporary folder: building in the checkout would write
``build/`` and ``*.egg-info`` into it, and a stale ``build/lib`` can carry deleted modules into a wheel.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import hf_deepfever
from hf_deepfever import DeepFeverConfig

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "hf_deepfever"
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "src", "hub_cards")
DIST_INFO = f"hf_deepfever-{hf_deepfever.__version__}.dist-info"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: the dev extra installs setuptools, so the test needs no download.
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    command.append(str(source))
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    (path,) = out.glob("hf_deepfever-*.whl")
    return path


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _source_files(folder: Path, pattern: str) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.glob(pattern) if "__pycache__" not in path.parts}


def test_every_module_and_template_ships(wheel: Path, names: set[str]) -> None:
    modules = _source_files(PACKAGE, "**/*.py")
    # Every module, including sub-packages added later (setup.py finds them).
    missing = sorted(f"src/hf_deepfever/{name}" for name in modules if f"hf_deepfever/{name}" not in names)
    assert not missing, f"not in the wheel: {missing}"
    assert {f"models/deepfever/{name}" for name in ("configuration_deepfever.py", "modeling_deepfever.py",
            "image_processing_deepfever.py", "configuration_deepfever_av.py", "modeling_deepfever_av.py",
            "feature_extraction_deepfever_av.py", "processing_deepfever_av.py")} <= modules
    assert len(_source_files(PACKAGE, "evaluate_modules/*/*.py")) == 3

    templates = _source_files(REPO / "hub_cards", "*.md")
    assert templates == {"deepfever.md", "deepfever-av.md"}
    with zipfile.ZipFile(wheel) as archive:
        for name in templates:
            assert archive.read(f"hf_deepfever/hub_cards/{name}") == (REPO / "hub_cards" / name).read_bytes()

    outside = sorted(name for name in names if not name.startswith(("hf_deepfever/", f"{DIST_INFO}/")))
    assert not outside, f"the wheel installs files outside the package: {outside}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_metadata_entry_point_and_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{DIST_INFO}/entry_points.txt").decode()
        metadata = email.message_from_bytes(archive.read(f"{DIST_INFO}/METADATA"))
    assert "[console_scripts]\ndeepfever = hf_deepfever.cli:main" in entry_points
    assert metadata["Version"] == hf_deepfever.__version__
    requires = metadata.get_all("Requires-Dist")
    assert "av>=12" in requires, "PyAV is a core dependency (the demo writes videos)"
    assert {"video", "face", "onnx", "dev"} <= set(metadata.get_all("Provides-Extra"))


def test_installed_wheel_renders_cards_from_its_own_templates(wheel: Path, tmp_path: Path) -> None:
    """Unpacked alone on sys.path (as site-packages holds it), far from the checkout, the card renders."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    model_dir = tmp_path / "model"
    DeepFeverConfig(backbone="test_resnet", embedding_dim=16, image_size=32).save_pretrained(model_dir)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        import hf_deepfever
        from hf_deepfever.hub.cards import default_template, render_model_card
        site = Path({str(site)!r})
        assert Path(hf_deepfever.__file__).is_relative_to(site), hf_deepfever.__file__
        for model_type in ("deepfever", "deepfever-av"):
            template = Path(str(default_template(model_type)))
            assert template.is_relative_to(site / "hf_deepfever" / "hub_cards"), template
        card = render_model_card({str(model_dir)!r}, repo_id="org/deepfever")
        assert "# deepfever" in card and "`test_resnet`" in card, card[:400]
        print("rendered", len(card))
        """
    )
    # PYTHONPATH comes before site-packages, where the editable install of the checkout lives.
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path)},
    )
    assert ran.returncode == 0 and ran.stdout.startswith("rendered"), ran.stdout + ran.stderr

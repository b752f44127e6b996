"""The package's layout holds: light imports, Auto registration in either import order, deprecated 0.1
module paths, one-way dependencies between the sub-packages, stand-alone model files, and few repeated pieces."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "hf_deepfever"
HEAVY = ("torch", "transformers", "datasets", "timm", "numpy", "pyarrow")


def _run(code: str) -> str:
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout.strip()


@pytest.mark.parametrize(
    "statement",
    [
        "import hf_deepfever",
        "import hf_deepfever.data",
        "import hf_deepfever.synthetic",
        "from hf_deepfever.cli import build_parser; build_parser()",
    ],
)
def test_light_imports(statement):
    loaded = _run(f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert loaded == "", f"{statement!r} imported {loaded}"


IMPORT_ORDERS = [
    "import hf_deepfever\nfrom transformers import AutoConfig",  # package first, transformers later
    "from transformers import AutoConfig\nimport hf_deepfever",  # transformers first
    "from hf_deepfever import DeepFeverModel\nfrom transformers import AutoConfig",  # models import transformers
]
_PRINT_AUTO_CONFIGS = (
    "\nprint(type(AutoConfig.for_model('deepfever')).__name__, type(AutoConfig.for_model('deepfever-av')).__name__)"
)


@pytest.fixture(scope="module")
def import_order_outputs() -> dict[str, subprocess.CompletedProcess]:
    """Every import order in its own fresh interpreter, all started at once: each imports torch and transformers
    (~7 s of CPU), so running them side by side keeps a second core busy instead of waiting 3 x 7 s."""
    processes = {
        code: subprocess.Popen([sys.executable, "-c", code + _PRINT_AUTO_CONFIGS], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for code in IMPORT_ORDERS
    }
    finished = {}
    try:
        for code, process in processes.items():
            stdout, stderr = process.communicate(timeout=120)
            finished[code] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return finished


@pytest.mark.parametrize("code", IMPORT_ORDERS)
def test_auto_classes_are_registered_in_either_import_order(code, import_order_outputs):
    completed = import_order_outputs[code]
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == "DeepFeverConfig DeepFeverAVConfig"


def test_old_module_paths_are_deprecated_aliases_of_the_new_modules():
    import importlib

    from hf_deepfever._compat import MOVED_MODULES

    for old, new in MOVED_MODULES.items():
        sys.modules.pop(f"hf_deepfever.{old}", None)
        with pytest.warns(DeprecationWarning, match=new):
            old_module = importlib.import_module(f"hf_deepfever.{old}")
        assert old_module is importlib.import_module(f"hf_deepfever.{new}")


def test_every_public_name_imports():
    import hf_deepfever

    for name in hf_deepfever.__all__:
        assert getattr(hf_deepfever, name) is not None, name
    with pytest.raises(AttributeError, match="no_such_name"):
        hf_deepfever.no_such_name  # noqa: B018


def test_model_files_keep_the_shared_vocabulary():
    from hf_deepfever.core import vocabulary
    from hf_deepfever.models.deepfever import configuration_deepfever

    assert configuration_deepfever.AFFECTNET_EXPRESSIONS == vocabulary.AFFECTNET_EXPRESSIONS


# ---------------------------------------------------------------------------------------------- imports


def _imported_modules(path: Path) -> set[str]:
    """hf_deepfever modules a file imports at any level (absolute names; relative imports resolved)."""
    module = ".".join(("hf_deepfever", *path.relative_to(PACKAGE_DIR).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if path.name == "__init__.py":
        module = module.removesuffix(".__init__")
        package = module
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("hf_deepfever"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("hf_deepfever"))
    return found


def _files(subpackage: str) -> list[Path]:
    return sorted((PACKAGE_DIR / subpackage).rglob("*.py"))


@pytest.mark.parametrize(
    ("subpackage", "forbidden"),
    [
        ("core", ("data", "synthetic", "training", "inference", "hub", "video", "search", "app", "demo", "commands")),
        ("data", ("synthetic", "training", "inference", "hub", "video", "demo", "commands")),
        ("hub", ("training", "inference", "video", "demo", "commands", "synthetic")),
        ("training", ("demo", "commands", "synthetic", "hub")),
        ("synthetic", ("training", "inference", "hub", "video", "demo", "commands")),
        # The face front end and the model-identity key live in core/: extraction and video never need search/.
        ("inference", ("training", "demo", "commands", "hub", "synthetic", "search", "app")),
        ("video", ("demo", "commands", "hub", "synthetic", "search", "app")),
        ("search", ("data", "synthetic", "training", "inference", "hub", "video", "demo", "commands", "app")),
        ("app", ("training", "demo", "hub", "synthetic", "data", "commands")),
    ],
)
def test_dependencies_run_one_way(subpackage, forbidden):
    for path in _files(subpackage):
        for target in _imported_modules(path):
            parts = target.split(".")
            assert not (len(parts) > 1 and parts[1] in forbidden), f"{path.relative_to(PACKAGE_DIR)} imports {target}"


def test_model_files_stand_alone():
    """Remote code carries only same-folder relative imports: no absolute import of this package."""
    for path in _files("models/deepfever"):
        if path.name == "__init__.py":
            continue  # the package's glue, never copied to the Hub
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{path.name}: `from {'.' * node.level}{node.module} import` leaves the folder"
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            assert not any(name.startswith("hf_deepfever") for name in names), f"{path.name} imports {names}"


def test_no_import_cycles_between_modules_at_import_time():
    """Module-level imports only (function-level ones are deliberate lazy imports)."""
    graph: dict[str, set[str]] = {}
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = ".".join(("hf_deepfever", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)).removesuffix(".__init__")
        modules[name] = path
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # top level only
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for candidate in [target] + [f"{target}.{alias.name}" for alias in node.names]:
                    if candidate in modules and candidate != name:
                        edges.add(candidate)
        # A package's __init__ importing its own submodules is not a cycle of concern.
        graph[name] = {edge for edge in edges if not edge.startswith(name + ".")}

    visiting, done = set(), set()

    def visit(node: str, trail: list[str]) -> None:
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join(trail + [node])
        visiting.add(node)
        for edge in sorted(graph.get(node, ())):
            visit(edge, trail + [node])
        visiting.discard(node)
        done.add(node)

    for module in sorted(graph):
        visit(module, [])


# ------------------------------------------------------------------------------------------- repetition

MOST_REPEATED_PAIRS = 8
"""Pairs of places in src/ that `duplicates` finds alike, boilerplate aside; each one left is explained in
ARCHITECTURE.md ("Alike, not the same"). Lower it when one goes; never raise it to let a copy in."""


def test_src_repeats_itself_in_few_places():
    """`duplicates --repo src` (a tool on PATH, not a Python package): at most MOST_REPEATED_PAIRS pairs that are
    not boilerplate. Outside CI a missing tool skips the test, naming it; with CI=true it fails."""
    if shutil.which("duplicates") is None:
        reason = "the `duplicates` command is not on PATH"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    completed = subprocess.run(
        ["duplicates", "--repo", "src", "--most", "200", "--seconds", "120"],
        cwd=PACKAGE_DIR.parents[1], capture_output=True, text=True, timeout=300,
    )
    report = completed.stdout
    assert "incomplete:" not in report, report[-3000:]
    rows = [line for line in report.splitlines() if re.match(r"D\d+ ", line)]
    assert "more pairs)" not in report, report[-3000:]  # --most cut the list: the count below would be short
    repeated = [row for row in rows if "boilerplate" not in row]
    assert len(repeated) <= MOST_REPEATED_PAIRS, "new repetition in src/:\n" + "\n".join(repeated)

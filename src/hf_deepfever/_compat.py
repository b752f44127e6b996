"""Import-time plumbing of the lazy package: old module paths that keep working for one release, and
registration with transformers' Auto classes as soon as transformers is imported.

Only the standard library is imported here: ``import hf_deepfever`` must stay cheap.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

# Module paths of version 0.1 (and search.photo_faces of 0.2) -> where that code lives now (relative to the
# package). Removed in 0.3.
MOVED_MODULES = {
    "configuration_deepfever": "models.deepfever.configuration_deepfever",
    "modeling_deepfever": "models.deepfever.modeling_deepfever",
    "image_processing_deepfever": "models.deepfever.image_processing_deepfever",
    "configuration_deepfever_av": "models.deepfever.configuration_deepfever_av",
    "modeling_deepfever_av": "models.deepfever.modeling_deepfever_av",
    "feature_extraction_deepfever": "models.deepfever.feature_extraction_deepfever_av",
    "processing_deepfever": "models.deepfever.processing_deepfever_av",
    "image_io": "core.images",
    "onnx_export": "inference.onnx",
    "losses": "training.losses",
    "training.eval_results": "core.eval_results",
    "data.demo": "synthetic.corpus",
    "data.face_renderer": "synthetic.face_renderer",
    "data.demo_faces": "synthetic.faces",
    "data.demo_image_corpora": "synthetic.image_corpora",
    "data.demo_recola": "synthetic.recola",
    "search.photo_faces": "core.face_front_end",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``package.<old path>`` as the module now at its new path (the same module object)."""

    def __init__(self, package: str) -> None:
        self.targets = {f"{package}.{old}": f"{package}.{new}" for old, new in MOVED_MODULES.items()}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.targets:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        new = self.targets[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; the old path will be removed in the next release",
            DeprecationWarning,
            stacklevel=3,
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its new name


def install_module_aliases(package: str) -> None:
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder(package))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` right after ``module_name`` has been imported for the first time."""

    def __init__(self, module_name: str, callback: Any) -> None:
        self.module_name = module_name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.module_name:
            return None
        sys.meta_path.remove(self)  # once; and so that the real finders answer the lookup below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        original_exec = spec.loader.exec_module
        callback = self.callback

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            callback()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def register_when_transformers_is_imported(models_package: str) -> None:
    """Register hf_deepfever's classes with transformers now if it is imported, else right after it is.

    The registration itself runs at the end of ``models_package``'s ``__init__``; when transformers is
    imported BY that package (its model files import transformers), the package finishes and registers
    on its own, so nothing is done here then.
    """

    def register() -> None:
        loading = sys.modules.get(models_package)
        if loading is not None and getattr(getattr(loading, "__spec__", None), "_initializing", False):
            return  # the models package is being imported: it registers when it is done
        try:
            importlib.import_module(models_package).register_auto_classes()
        except Exception as error:  # never break the import of transformers itself
            warnings.warn(f"hf_deepfever could not register its classes with transformers: {error}", stacklevel=2)

    if "transformers" in sys.modules:
        register()
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("transformers", register))

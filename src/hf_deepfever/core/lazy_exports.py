"""The lazy export table of a package: public names imported from their modules on first use, as transformers does.

A package's ``__init__`` lists ``module -> names`` (modules relative to the package) and takes its ``__all__`` and
module-level ``__getattr__`` and ``__dir__`` from :func:`lazy_exports`, so importing the package imports none of
the modules (nor torch, transformers or Gradio behind them) until a name is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for the package named ``package`` that exports, from each module of
    ``modules``, the names listed for it."""
    exports = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return sorted(exports), __getattr__, __dir__


__all__ = ["lazy_exports"]

"""Optional and heavy third-party packages: one error type and one message shape when one is missing.

Front ends (the CLI, the app) catch :class:`MissingDependencyError` and print its message on one line; a
plain ``ImportError`` stays a bug report (it means a broken install or a bug in our code, not a missing extra).
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependencyError(ImportError):
    """A package a feature needs is not installed; the message says which and how to install it."""


def require_module(module: str, *, install: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying ``purpose`` needs it and how to ``install`` it.

    Example: ``require_module("cv2", install="pip install 'hf_deepfever[face]'", purpose="the haar face detector")``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"{purpose} needs the {module.split('.')[0]!r} package, which cannot be imported ({error}); install it "
            f"with: {install}"
        ) from error


__all__ = ["MissingDependencyError", "require_module"]

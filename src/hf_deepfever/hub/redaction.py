"""Local paths out of what is published: a training run's ``training_args.json`` records where its data,
caches and outputs lived on the machine that ran it (``/home/alice/data/AffectNet``); a Hub repository
must not carry those.

Every string that is an absolute path (POSIX, Windows, ``~/...``, ``file://...``) becomes its last
component (``AffectNet``), which keeps the card readable; a path whose last component would still say
something private (the home folder, the user's name, ``/``) becomes ``<local path>``. Inside longer
strings, absolute paths and the private folders (the home folder, the run's folders) are replaced the
same way. Everything else (numbers, Hub ids like ``org/name``, URLs, relative paths) is kept as it is.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

LOCAL_PATH_PLACEHOLDER = "<local path>"

# An absolute path inside a longer string: after a start, a space, a quote, '=' or '(' (never after a word
# character, '.', ':', '/' or '>', so that "org/name", "1/2", "https://host/path" and an earlier
# replacement are left alone).
_EMBEDDED_PATH = re.compile(r"(?<![\w.:/~\\>-])(?:file://)?(?:~?/|[A-Za-z]:[\\/]|\\\\)[^\s'\"=,;()\[\]{}<>]+")


def _home() -> Path | None:
    try:
        return Path.home()
    except RuntimeError:  # no home folder known to the OS
        return None


def _user_name() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        return None


def _as_path(text: str) -> PurePosixPath | PureWindowsPath | None:
    """`text` as an absolute path, or None when it is not one."""
    if text.startswith("file://"):
        text = text[len("file://") :]
    if text.startswith("~"):
        return PurePosixPath(text)
    if PurePosixPath(text).is_absolute():
        return PurePosixPath(text)
    windows = PureWindowsPath(text)
    if windows.is_absolute():
        return windows
    return None


class PathRedactor:
    """Replaces local paths in JSON-like values (dicts, lists, strings); see the module docstring.

    Args:
        private_roots: folders whose absolute paths must never appear, even inside longer strings (e.g.
            the model folder being published; a relative one is taken from the working folder); the home
            folder is always one.
    """

    def __init__(self, private_roots: Iterable[str | os.PathLike] = ()) -> None:
        home = _home()
        self._private_names = {name for name in (home.name if home else None, _user_name()) if name}
        roots: set[str] = set()
        for root in [*private_roots, *([home] if home else [])]:
            for variant in (Path(root).absolute(), Path(root).resolve()):
                if len(variant.parts) >= 2:  # never "/" itself: it would match every path
                    roots.add(str(variant))
        self._home = {str(home), str(home.resolve())} if home else set()
        # Longest first, so that a run folder under the home folder keeps its own name.
        self._roots = sorted(roots, key=len, reverse=True)

    def local_name(self, path: PurePosixPath | PureWindowsPath) -> str:
        """The public stand-in for an absolute path: its last component, unless that says too much."""
        text = str(path)
        name = path.name
        if not name or name == "~" or text in self._home or name in self._private_names:
            return LOCAL_PATH_PLACEHOLDER
        return name

    def redact_text(self, text: str) -> str:
        path = _as_path(text)
        if path is not None:
            return self.local_name(path)
        for root in self._roots:
            pattern = rf"(?<![\w.~-]){re.escape(root)}(?=$|[/\\\s'\",;:)\]}}])"
            text = re.sub(pattern, lambda _: self.local_name(_as_path(root)), text)
        return _EMBEDDED_PATH.sub(lambda match: self.local_name(_as_path(match.group(0))), text)

    def redact(self, value: Any) -> Any:
        """`value` with every local path replaced; dict keys and non-string values are kept."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact(item) for item in value]
        return value


def redact_local_paths(value: Any, private_roots: Iterable[str | os.PathLike] = ()) -> Any:
    """`value` (a JSON-like object) with its local paths replaced; see `PathRedactor`."""
    return PathRedactor(private_roots).redact(value)


def changed_keys(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted keys (``data.cache_dir``, ``paths[2]``) whose values differ between two JSON-like objects."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            key
            for name in before
            for key in changed_keys(before[name], after.get(name), f"{prefix}.{name}" if prefix else str(name))
        ]
    if isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)) and len(before) == len(after):
        pairs = enumerate(zip(before, after))
        return [key for index, pair in pairs for key in changed_keys(*pair, f"{prefix}[{index}]")]
    return [] if before == after else [prefix or "(value)"]


__all__ = ["LOCAL_PATH_PLACEHOLDER", "PathRedactor", "changed_keys", "redact_local_paths"]

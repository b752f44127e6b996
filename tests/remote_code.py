"""Run a Python snippet in a fresh process that CANNOT import hf_deepfever (as a Hub user without the package)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_BLOCK_PACKAGE = """
import sys
sys.modules["hf_deepfever"] = None  # any `import hf_deepfever` now raises ImportError
try:
    import hf_deepfever  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("hf_deepfever is importable: the test would prove nothing")
"""


def run_without_package(code: str, hf_home: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": hf_home, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    script = _BLOCK_PACKAGE + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"subprocess failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result

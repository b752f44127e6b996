"""Every ```python and ```shell snippet of README.md runs as written (```bash blocks are the long-running
commands: `make demo`, training; they are exercised by their own tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _snippets(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_readme_snippets_run_as_written(tmp_path, hf_home):
    python_code = "\n".join(_snippets("python"))
    shell_code = _snippets("shell")
    assert python_code and shell_code, "README lost its runnable snippets"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg"}
    ran = subprocess.run(
        [sys.executable, "-c", python_code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    for command in shell_code:
        ran = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0, f"{command}\n{ran.stderr[-3000:]}"
    assert (tmp_path / "vectors.parquet").stat().st_size > 0

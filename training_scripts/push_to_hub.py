"""Publish a saved DeepFEVER / DeepFEVER-AV model folder to the Hugging Face Hub.

    python training_scripts/push_to_hub.py --model_dir runs/student --repo_id ORG/deepfever --dry_run
    python training_scripts/push_to_hub.py --model_dir runs/student --repo_id ORG/deepfever [--private]

The logic lives in ``hf_deepfever.hub.push``; without a checkout run ``python -m hf_deepfever.hub``.
Log in first with ``hf auth login`` (or set ``HF_TOKEN``).
"""

from __future__ import annotations

import sys

from hf_deepfever.hub.push import run_script

if __name__ == "__main__":
    sys.exit(run_script())

"""Publish a saved DeepFEVER / DeepFEVER-AV model folder to the Hugging Face Hub.

    python training_scripts/push_to_hub.py --model_dir runs/student --repo_id ORG/deepfever --dry_run
    python training_scripts/push_to_hub.py --model_dir runs/student --repo_id ORG/deepfever [--private]

The logic lives in ``hf_deepfever.hub.push``; log in first with ``hf auth login`` (or set ``HF_TOKEN``).
"""

from __future__ import annotations

import sys

from hf_deepfever.hub.push import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError) as error:  # UploadFolderError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

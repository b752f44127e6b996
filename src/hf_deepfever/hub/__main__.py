"""``python -m hf_deepfever.hub``: publish a saved model folder to the Hub (``--help``; see `hf_deepfever.hub.push`).

The command of ``training_scripts/push_to_hub.py``, for an installed package without a checkout.
"""

import sys

from .push import run_script

if __name__ == "__main__":
    sys.exit(run_script())

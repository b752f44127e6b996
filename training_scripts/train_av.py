"""Train DeepFEVER-AV on RECOLA (AVEC 2016 layout): arousal and valence every 40 ms from face video and voice.

    python training_scripts/train_av.py --help
    accelerate launch training_scripts/train_av.py --recola_dir RECOLA --vision_model runs/student --output_dir runs/av

A thin wrapper: from an installed package, ``accelerate launch -m hf_deepfever.training.av ...`` is the same.
"""

from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from hf_deepfever.training.av import main as train_av

    return train_av(argv)


if __name__ == "__main__":
    main()

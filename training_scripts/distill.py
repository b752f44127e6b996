"""Distil a DeepFEVER teacher into a student (AffectNet + FEC faces + optional unlabelled faces).

    python training_scripts/distill.py --help
    accelerate launch training_scripts/distill.py --teacher runs/teacher --affectnet_dir AFFECTNET --output_dir runs/student

A thin wrapper: from an installed package, ``accelerate launch -m hf_deepfever.training.distill ...`` is the same.
"""

from hf_deepfever.training.distill import main

if __name__ == "__main__":
    main()

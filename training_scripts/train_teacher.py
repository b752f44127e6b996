"""Train the multi-task DeepFEVER teacher (AffectNet expressions + valence/arousal, FEC triplets).

    python training_scripts/train_teacher.py --help
    accelerate launch training_scripts/train_teacher.py --affectnet_dir AFFECTNET --fec_dir FEC --output_dir runs/teacher

A thin wrapper: from an installed package, ``accelerate launch -m hf_deepfever.training.teacher ...`` is the same.
"""

from hf_deepfever.training.teacher import main

if __name__ == "__main__":
    main()

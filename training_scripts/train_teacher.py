"""Train the multi-task DeepFEVER teacher (AffectNet expressions + valence/arousal, FEC triplets).

    python training_scripts/train_teacher.py --help
    accelerate launch training_scripts/train_teacher.py --affectnet_dir AFFECTNET --fec_dir FEC --output_dir runs/teacher
"""

from hf_deepfever.training.teacher import main

if __name__ == "__main__":
    main()

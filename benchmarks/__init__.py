"""Reproducible speed and memory measurements for hf_deepfever: `python -m benchmarks.run --quick | --full`."""

"""What every DeepFEVER training script shares, one concern per module.

- :mod:`.arguments`      dataclass arguments for ``HfArgumentParser`` (``--output_dir``, ``--max_steps`` ...)
- :mod:`.data`           corpus datasets -> face rows / FEC triplet rows (paths, boxes, labels)
- :mod:`.inputs`         rows -> ``pixel_values`` through the image processor, seeded face augmentation
- :mod:`.sampling`       deterministic, resumable epoch orders (shuffled or class-balanced)
- :mod:`.loop`           the Accelerate training loop (precision, accumulation, logging, evaluation)
- :mod:`.checkpointing`  atomic checkpoints and ``--resume_from_checkpoint latest|PATH``
- :mod:`.teacher_cache`  teacher outputs computed once and cached on disk (offline distillation)
- :mod:`.export`         the final Hub-ready folder (model, processor, remote code, arguments, results)
- :mod:`.teacher`, :mod:`.distill`  the two training recipes (``main(argv)``); scripts in training_scripts/
- :mod:`.prediction`, :mod:`.evaluation`, :mod:`.linear_probe`, :mod:`.eval_results`  evaluation

Submodules are imported on use; importing this package is cheap.
"""

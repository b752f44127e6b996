"""``deepfever demo``: generate the synthetic corpus, train a teacher, distil a student, evaluate, report.

    deepfever demo --output_dir demo_output          # the full demo (under 10 minutes on 2 CPU cores)
    deepfever demo --output_dir /tmp/demo --quick    # every stage with minimal work (seconds)
"""

from __future__ import annotations

import argparse
from typing import Any

from .shared_arguments import command_parser


def add_parser(subparsers: Any) -> None:
    summary = "run the whole recipe on the synthetic demo corpus (teacher, distilled student, evaluation, plots)"
    parser = command_parser(subparsers, "demo", summary, __doc__)
    parser.add_argument("--output_dir", default="demo_output", help="where the corpus, models, plots and results go")
    parser.add_argument(
        "--size", choices=("tiny", "small", "medium"), default=None,
        help="demo corpus size (default: small, or tiny with --quick)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus, the training runs and the probe")
    parser.add_argument("--quick", action="store_true", help="minimal models and steps: checks every stage runs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import demo_settings, run_demo

    run_demo(args.output_dir, demo_settings(quick=args.quick, size=args.size, seed=args.seed))
    return 0

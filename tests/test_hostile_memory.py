"""Hostile files cost memory bounded by the readers, not by the files: measured in a fresh process with a capped
address space (``benchmarks.hostile_inputs``; its module docstring lists the cases).

Before the fixes (same cases, same machine): the 32 MiB list line raised ``ArrowInvalid``; the 80 MiB
``eval_results.json`` was read whole (peak +560 MiB) into an 84 MB card; the 5 MB value went into the card
verbatim; the 72 MiB label file was read whole (peak +871 MiB).
"""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")

BOUND_MIB = 32


def test_hostile_files_are_read_in_bounded_memory(tmp_path):
    from benchmarks.hostile_inputs import measure

    figures = measure(tmp_path)
    print({case: (values["peak_growth_mib"], values["outcome"]) for case, values in figures.items()})
    for case, values in figures.items():
        assert values["peak_growth_mib"] < BOUND_MIB, (case, values)
    assert figures["affectnet_long_line"]["outcome"] == "3 rows kept"
    assert figures["affectnet_long_line"]["input_mib"] >= BOUND_MIB  # the file is larger than the bound
    assert figures["affectnet_bomb_header"]["outcome"] == "3 rows kept"
    assert figures["eval_results_oversized"]["outcome"].startswith("refused:")
    assert figures["eval_results_oversized"]["input_mib"] > 64
    card = int(figures["card_huge_value"]["outcome"].split()[2].replace(",", ""))
    assert card < 20_000
    assert figures["recola_label_oversized"]["outcome"] == "0 train recordings kept"

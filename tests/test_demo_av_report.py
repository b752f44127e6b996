"""The demo's DeepFEVER-AV section: the fused model beside its single-stream references, valence first."""

from __future__ import annotations

from hf_deepfever.demo.report import audio_visual_section
from hf_deepfever.training.av_references import dev_results, fusion_verdict

import numpy as np


def _results(**streams: tuple[float, float]) -> dict:
    results = {}
    for stream, (valence, arousal) in streams.items():
        infix = "" if stream == "fused" else f"{stream}_"
        results[f"recola_dev_{infix}valence_ccc"] = valence
        results[f"recola_dev_{infix}arousal_ccc"] = arousal
        results[f"recola_dev_{infix}mean_ccc"] = (valence + arousal) / 2
    return results


def test_section_lists_every_measured_predictor_valence_first():
    results = _results(fused=(0.5, 0.6), visual_only=(0.55, 0.1), audio_only=(0.05, 0.58), train_mean=(0.0, 0.0))
    results["beats_baseline"] = True
    results["recola_dev_fusion_beats_each_stream"] = fusion_verdict(results)
    assert results["recola_dev_fusion_beats_each_stream"] == {"valence": False, "arousal": True, "mean": True}
    lines = audio_visual_section(results).splitlines()
    table = lines[lines.index("| Predictor | Valence CCC | Arousal CCC | Mean CCC (valence, arousal) |") :]
    assert table[2:6] == [
        "| DeepFEVER-AV (face + voice) | 0.500 | 0.600 | 0.550 |",
        "| Visual only (the extractor's own head) | 0.550 | 0.100 | 0.325 |",
        "| Audio only | 0.050 | 0.580 | 0.315 |",
        "| Training mean | 0.000 | 0.000 | 0.000 |",
    ]
    assert "Fusion beats every single-stream reference: valence no; arousal yes; mean yes." in lines


def test_unmeasured_references_are_left_out_and_the_verdict_needs_one():
    results = _results(fused=(0.3, 0.4), train_mean=(0.0, 0.0))
    text = audio_visual_section(results)
    assert "Visual only" not in text and "Audio only" not in text and "| Training mean |" in text
    assert fusion_verdict(results) == {"valence": False, "arousal": False, "mean": False}  # nothing to beat: no claim


def test_dev_results_are_ccc_per_dimension_and_their_mean():
    gold = np.stack([np.linspace(-1, 1, 50), np.linspace(1, -1, 50)], axis=1)
    predicted = gold.copy()
    predicted[:, 1] = 0.0  # a constant: CCC 0
    results = dev_results(predicted, gold, stream="visual_only")
    assert results == {
        "recola_dev_visual_only_valence_ccc": 1.0,
        "recola_dev_visual_only_arousal_ccc": 0.0,
        "recola_dev_visual_only_mean_ccc": 0.5,
    }

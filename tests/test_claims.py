"""The nuisance-pair check (synthetic pairs differing in one factor; the expression / nuisance distance ratio) and
the statistics of `benchmarks.claims` (per-seed figures, mean ± std, verdict wording, the RESULTS.md section)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hf_deepfever.synthetic.nuisance_pairs import NUISANCE_KINDS, PAIR_KINDS, render_nuisance_pairs
from hf_deepfever.training.nuisance_ratio import RATIO_KEY, expression_nuisance_ratios, model_nuisance_ratios

BASES = 6
SIZE = 96  # small pictures keep the test fast; the check itself draws 160 px


@pytest.fixture(scope="module")
def pairs():
    return render_nuisance_pairs(BASES, seed=0, image_size=SIZE)


def _pixels(face) -> np.ndarray:
    return np.asarray(face.image, dtype=np.float64)


def test_each_base_gives_one_pair_of_every_kind_that_changes_that_kind_only(pairs):
    assert [pair.kind for pair in pairs] == list(PAIR_KINDS) * BASES
    for pair in pairs:
        first, second = pair.first, pair.second
        assert first.image.size == second.image.size == (SIZE, SIZE)
        assert not np.array_equal(_pixels(first), _pixels(second)), pair.kind
        same_expression = first.expression == second.expression and np.array_equal(first.expression_params, second.expression_params)
        assert same_expression == (pair.kind != "expression"), pair.kind
        # Lighting moves no point of the face; pose, identity and expression do.
        assert np.allclose(first.landmarks, second.landmarks) == (pair.kind == "lighting"), pair.kind
    firsts = {id(pair.first) for pair in pairs}
    assert len(firsts) == BASES  # the pairs of a base share its first face


def test_pairs_are_a_pure_function_of_the_seed(pairs):
    again = render_nuisance_pairs(BASES, seed=0, image_size=SIZE)
    other = render_nuisance_pairs(BASES, seed=1, image_size=SIZE)
    assert all(np.array_equal(_pixels(a.second), _pixels(b.second)) for a, b in zip(pairs, again))
    assert not any(np.array_equal(_pixels(a.second), _pixels(b.second)) for a, b in zip(pairs, other))


def _random_projection(faces, *, seed: int = 0) -> np.ndarray:
    """A 'model' that sees every pixel equally: a fixed random projection of the downsampled picture."""
    pixels = np.stack([np.asarray(face.image.resize((24, 24)), dtype=np.float64).ravel() / 255 for face in faces])
    return pixels @ np.random.default_rng(seed).standard_normal((pixels.shape[1], 32))


def _ignores_nuisance(faces) -> np.ndarray:
    """A vector of the expression controls, with a trace of the pixels (so every nuisance distance is above 0)."""
    params = np.stack([face.expression_params for face in faces])
    return np.concatenate([params, 1e-3 * _random_projection(faces)], axis=1)


def test_a_vector_that_ignores_the_nuisance_scores_higher_than_a_random_one(pairs, tiny_model_dir):
    from hf_deepfever.core.loading import load_model_and_processor

    model, processor = load_model_and_processor(tiny_model_dir, kind="expression")
    ignoring = expression_nuisance_ratios(pairs, _ignores_nuisance)
    projection = expression_nuisance_ratios(pairs, _random_projection)
    untrained = model_nuisance_ratios(model, processor, pairs)  # the real path: the model's own processor
    for kind in (None, *NUISANCE_KINDS):
        key = RATIO_KEY if kind is None else f"{RATIO_KEY}_{kind}"
        assert ignoring[key] > 10 * max(projection[key], untrained[key]), key
        assert 0 < untrained[key] < math.inf and 0 < projection[key] < math.inf, key
    assert ignoring[RATIO_KEY] > 1 > projection[RATIO_KEY]


def test_the_ratios_are_deterministic_per_seed(pairs, tiny_model_dir):
    from hf_deepfever.core.loading import load_model_and_processor

    model, processor = load_model_and_processor(tiny_model_dir, kind="expression")
    first = model_nuisance_ratios(model, processor, pairs)
    assert model_nuisance_ratios(model, processor, render_nuisance_pairs(BASES, seed=0, image_size=SIZE)) == first
    assert model_nuisance_ratios(model, processor, render_nuisance_pairs(BASES, seed=1, image_size=SIZE)) != first
    expected_kinds = {f"nuisance_pairs_distance_{kind}" for kind in PAIR_KINDS}
    assert expected_kinds | {RATIO_KEY} | {f"{RATIO_KEY}_{kind}" for kind in NUISANCE_KINDS} == set(first)


def test_the_ratio_needs_both_kinds_of_pairs(pairs):
    with pytest.raises(ValueError, match="expression pairs and nuisance pairs"):
        expression_nuisance_ratios([pair for pair in pairs if pair.kind == "pose"], _random_projection)


# ------------------------------------------------------------------------------------- benchmarks.claims


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        ([0.02, 0.01, 0.03], "holds on every seed"),
        ([0.05, -0.01, 0.02], "holds on the mean only"),
        ([0.01, -0.05, 0.02], "does not hold"),
        ([-0.01, -0.02, -0.03], "does not hold"),
        ([0.0, 0.0], "does not hold (equal on every seed)"),
        ([0.3], "one seed: no verdict"),
        ([0.1, math.nan], "not measured on every seed"),
    ],
)
def test_verdict_wording(differences, expected):
    from benchmarks.claims import verdict

    assert verdict(differences) == expected


def _seed_results(seed: int) -> dict:
    """Fake figures of one seed: the distilled student beats the baseline by 0.05 + 0.01 * seed everywhere."""
    from benchmarks.claims import MODEL_METRICS, MODELS

    models = {name: {key: 0.3 + 0.01 * seed for key, _, _ in MODEL_METRICS} for name, _ in MODELS}
    models["student"] = {key: value + 0.05 + 0.01 * seed for key, value in models["baseline"].items()}
    audio_visual = {f"recola_dev_{stream}{dim}_ccc": 0.2 for stream in ("", "visual_only_", "audio_only_") for dim in ("mean", "valence", "arousal")}
    audio_visual["recola_dev_audio_only_mean_ccc"] = 0.1 if seed else 0.3  # fusion wins on seeds 1 and 2 only
    return {"models": models, "audio_visual": audio_visual}


def test_claims_summary_pairs_the_seeds_and_words_each_claim():
    from benchmarks.claims import summarise

    summary = summarise({seed: _seed_results(seed) for seed in range(3)})
    distillation = summary["claims"]["distillation"]["metrics"]["AffectNet accuracy, 8 classes"]
    assert distillation["difference"]["per_seed"] == pytest.approx([0.05, 0.06, 0.07])
    assert distillation["difference"]["mean"] == pytest.approx(0.06) and distillation["difference"]["std"] == pytest.approx(0.01)
    assert distillation["better"]["per_seed"] == pytest.approx([0.35, 0.37, 0.39])
    assert distillation["verdict"] == "holds on every seed"
    assert summary["claims"]["alignment"]["metrics"]["FEC triplet accuracy"]["verdict"] == "does not hold (equal on every seed)"
    assert summary["claims"]["fusion_vs_audio"]["metrics"]["Mean CCC"]["verdict"] == "holds on the mean only"
    assert summary["models"]["teacher"]["expression_nuisance_ratio"]["mean"] == pytest.approx(0.31)


def test_the_results_section_is_replaced_between_its_markers_or_appended():
    from benchmarks.claims import BEGIN, END, replace_section

    appended = replace_section("# Results\n\nother text\n", "## Claims\nold\n")
    assert appended.startswith("# Results\n\nother text\n\n") and appended.endswith(f"{BEGIN}\n## Claims\nold\n{END}\n")
    replaced = replace_section(appended + "\ntail\n", "## Claims\nnew\n")
    assert "old" not in replaced and f"{BEGIN}\n## Claims\nnew\n{END}" in replaced and replaced.endswith("\ntail\n")
    assert replaced.count(BEGIN) == replaced.count(END) == 1


def test_each_comparison_model_reaches_its_recipe_with_its_one_change(monkeypatch, tmp_path):
    """The claims' comparison stages call the demo's recipes with the demo's arguments plus exactly their change:
    --no_align_faces for the teacher, --triplet_weight 1 or --kd_temperature T for the distilled student."""
    import benchmarks.claims as claims
    import hf_deepfever.training.distill as distill
    import hf_deepfever.training.teacher as teacher
    from hf_deepfever.demo.run import DemoRun

    calls: dict[str, list[str]] = {}

    def recorder(argv: list[str]) -> None:
        calls[argv[argv.index("--output_dir") + 1].rsplit("/", 1)[-1]] = argv

    monkeypatch.setattr(teacher, "main", recorder)
    monkeypatch.setattr(distill, "main", recorder)
    settings = claims.claims_settings(quick=True, seed=1, corpus_seed=0)
    run = DemoRun(tmp_path, settings, log=lambda line: None)
    for stage in claims.seed_stages(tmp_path / "unused"):
        if stage.name not in ("corpus", "evaluate", "linear_probe", "nuisance", "audio_visual"):
            stage.run(run)
    assert set(calls) == {name for name, _ in claims.MODELS}

    def option(name: str, flag: str) -> str | None:
        argv = calls[name]
        return argv[argv.index(flag) + 1] if flag in argv else None

    assert "--align_faces" in calls["teacher"] and "--no_align_faces" in calls["teacher_unaligned"]
    assert option("student", "--triplet_weight") == "0.0" and option("student_with_triplet", "--triplet_weight") == "1.0"
    assert option("student", "--kd_temperature") is None  # the recipe's own temperature
    for t in claims.TEMPERATURES:
        assert option(f"student_temperature_{t}", "--kd_temperature") == str(float(t))
    assert all(option(name, "--seed") == "1" for name in calls)
    assert "--teacher" not in calls["baseline"] and "--kd_temperature" not in calls["teacher"]

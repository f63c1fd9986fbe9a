"""Open LLM Leaderboard normalisation, recomputed by hand from the documented formula."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lrmf_plugin.leaderboard import (LEAVES, SCORE_BENCHMARK, benchmark_name, instance_metrics, is_leaderboard_task,
                                     leaderboard_scores, subset_estimate)

GPQA_SIZES = {"leaderboard_gpqa_diamond": 198, "leaderboard_gpqa_extended": 546, "leaderboard_gpqa_main": 448}
MATH_SIZES = dict(zip(LEAVES["math"], (307, 123, 132, 280, 154, 193, 135)))
IFEVAL_INST = "leaderboard_ifeval:inst_level_strict_acc"


def _all_leaves(bbh: float = 0.6) -> dict[str, float]:
    leaf = {t: bbh for t in LEAVES["bbh"]}
    leaf.update({"leaderboard_musr_murder_mysteries": 0.75, "leaderboard_musr_object_placements": 0.1,
                 "leaderboard_musr_team_allocation": 1 / 3 + 0.2})
    leaf.update({"leaderboard_gpqa_diamond": 0.5, "leaderboard_gpqa_extended": 0.25, "leaderboard_gpqa_main": 0.25})
    leaf.update({t: 0.1 * (k + 1) for k, t in enumerate(LEAVES["math"])})
    leaf.update({"leaderboard_mmlu_pro": 0.55, "leaderboard_ifeval": 0.4, IFEVAL_INST: 0.6})
    return leaf


def test_each_benchmark_as_the_leaderboard_computes_it():
    sizes = {**GPQA_SIZES, **MATH_SIZES}
    out = leaderboard_scores(_all_leaves(), sizes)
    assert out["ifeval"] == pytest.approx(50.0)
    assert out["mmlu_pro"] == pytest.approx(50.0)                      # (0.55 - 0.1) / 0.9
    # MuSR: per-subtask baseline 1/2, 1/5, 1/3; below baseline counts as 0; unweighted mean
    assert out["musr"] == pytest.approx((50.0 + 0.0 + 0.2 / (2 / 3) * 100) / 3)
    pooled = (0.5 * 198 + 0.25 * 546 + 0.25 * 448) / 1192
    assert out["gpqa"] == pytest.approx((pooled - 0.25) / 0.75 * 100)
    math_pooled = sum(0.1 * (k + 1) * n for k, n in enumerate(MATH_SIZES.values())) / sum(MATH_SIZES.values())
    assert out["math"] == pytest.approx(math_pooled * 100)
    bbh = [(0.6 - b) / (1 - b) * 100 if 0.6 >= b else 0.0 for b in LEAVES["bbh"].values()]
    assert out["bbh"] == pytest.approx(sum(bbh) / 24)
    six = [out[b] for b in ("ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro")]
    assert out["average"] == pytest.approx(sum(six) / 6)


def test_bbh_uses_each_subtasks_choice_count():
    # at exactly 1/2 a binary subtask scores 0 while an 18-way one is well above chance
    out = leaderboard_scores({t: 0.5 for t in LEAVES["bbh"]}, {})
    binary = [t for t, b in LEAVES["bbh"].items() if b == 0.5]
    assert len(binary) == 8 and len(LEAVES["bbh"]) == 24
    expected = sum(0.0 if b == 0.5 else (0.5 - b) / (1 - b) * 100 for b in LEAVES["bbh"].values()) / 24
    assert out["bbh"] == pytest.approx(expected)


def test_partial_input_gives_partial_output_and_bounds_stay_ordered():
    leaf = _all_leaves()
    del leaf["leaderboard_gpqa_main"]
    out = leaderboard_scores(leaf, {**GPQA_SIZES, **MATH_SIZES})
    assert "gpqa" not in out and "average" not in out and "bbh" in out
    assert "math" not in leaderboard_scores(_all_leaves(), GPQA_SIZES)  # pooled needs the full sizes
    lo = leaderboard_scores(_all_leaves(0.4), {**GPQA_SIZES, **MATH_SIZES})
    hi = leaderboard_scores(_all_leaves(0.8), {**GPQA_SIZES, **MATH_SIZES})
    assert lo["bbh"] < hi["bbh"] and lo["average"] < hi["average"]


def test_instance_metrics_follow_the_leaderboard():
    assert instance_metrics("leaderboard_bbh_snarks", ["acc", "acc_norm"]) == ["acc_norm"]
    assert instance_metrics("leaderboard_mmlu_pro", ["acc"]) == ["acc"]
    assert instance_metrics("leaderboard_math_algebra_hard", ["exact_match_original", "exact_match"]) == ["exact_match"]
    assert instance_metrics("leaderboard_ifeval", ["prompt_level_strict_acc", "inst_level_strict_acc",
                                                   "prompt_level_loose_acc"]) == ["prompt_level_strict_acc",
                                                                                  "inst_level_strict_acc"]
    assert instance_metrics("my_task", ["f1", "acc"]) == ["f1"]
    assert benchmark_name("leaderboard_ifeval", "inst_level_strict_acc", primary=False) == IFEVAL_INST
    assert is_leaderboard_task("leaderboard_musr_team_allocation") and not is_leaderboard_task("leaderboard_bbh")


def _se(ys: list[float], N: int) -> float:
    """Standard error of a subset mean, by the textbook formula (sample variance, FPC)."""
    return math.sqrt((1 - len(ys) / N) * float(np.var(ys, ddof=1)) / len(ys))


def test_score_benchmark_table_covers_every_leaf():
    assert SCORE_BENCHMARK["leaderboard_bbh_snarks"] == "bbh" and SCORE_BENCHMARK["leaderboard_ifeval"] == "ifeval"
    assert SCORE_BENCHMARK["leaderboard_math_geometry_hard"] == "math"
    assert len(SCORE_BENCHMARK) == 24 + 3 + 3 + 7 + 1 + 1
    assert set(SCORE_BENCHMARK.values()) == {"ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro"}


def test_subset_estimate_per_subtask_pooled_and_ifeval_by_hand():
    rng = np.random.default_rng(0)
    musr_sizes = {"leaderboard_musr_murder_mysteries": 250, "leaderboard_musr_object_placements": 256,
                  "leaderboard_musr_team_allocation": 250}
    musr = {t: {d: float(rng.random() < 0.7) for d in range(0, N, 9)} for t, N in musr_sizes.items()}
    est = subset_estimate("musr", musr, musr_sizes)
    means = {t: np.mean(list(v.values())) for t, v in musr.items()}
    base = {t: LEAVES["musr"][t] for t in musr}
    assert est.value == pytest.approx(np.mean([max(0, (means[t] - base[t]) / (1 - base[t]) * 100) for t in musr]))
    sd = math.sqrt(sum((100 / (1 - base[t]) / 3 * _se(list(musr[t].values()), musr_sizes[t])) ** 2 for t in musr))
    assert est.sd == pytest.approx(sd)
    assert (est.n, est.N) == (sum(len(v) for v in musr.values()), 756)

    gpqa = {t: {d: float(rng.random() < 0.5) for d in range(0, N, 6)} for t, N in GPQA_SIZES.items()}
    est = subset_estimate("gpqa", gpqa, GPQA_SIZES)
    pooled = sum(np.mean(list(gpqa[t].values())) * N for t, N in GPQA_SIZES.items()) / 1192
    assert est.value == pytest.approx(max(0.0, (pooled - 0.25) / 0.75 * 100))
    sd = math.sqrt(sum((100 / 0.75 * N / 1192 * _se(list(gpqa[t].values()), N)) ** 2 for t, N in GPQA_SIZES.items()))
    assert est.sd == pytest.approx(sd)

    # IFEval: the two strict metrics share documents, so their per-document average is what is sampled
    prompt = {d: float(rng.random() < 0.5) for d in range(0, 541, 10)}
    inst = {d: min(1.0, v + 0.25 * float(rng.integers(0, 3))) for d, v in prompt.items()}
    est = subset_estimate("ifeval", {"leaderboard_ifeval": prompt, IFEVAL_INST: inst}, {"leaderboard_ifeval": 541})
    assert est.value == pytest.approx((np.mean(list(prompt.values())) + np.mean(list(inst.values()))) * 50)
    assert est.sd == pytest.approx(100 * _se([(prompt[d] + inst[d]) / 2 for d in prompt], 541))


def test_subset_estimate_shrinks_with_the_subset_and_needs_every_leaf():
    rng = np.random.default_rng(1)
    answers = {t: rng.random(N) < 0.6 for t, N in GPQA_SIZES.items()}
    sds = []
    for step in (20, 5, 1):
        values = {t: {d: float(a[d]) for d in range(0, len(a), step)} for t, a in answers.items()}
        sds.append(subset_estimate("gpqa", values, GPQA_SIZES).sd)
    assert sds[0] > sds[1] > sds[2] == 0.0  # the whole task: no sampling error left
    values = {t: {0: 1.0} for t in list(GPQA_SIZES)[:2]}
    assert subset_estimate("gpqa", values, GPQA_SIZES) is None
    assert subset_estimate("gpqa", {t: {0: 1.0} for t in GPQA_SIZES}, {}) is None


def test_subset_without_variation_still_has_sampling_error():
    sizes = {"leaderboard_mmlu_pro": 12032}
    est = subset_estimate("mmlu_pro", {"leaderboard_mmlu_pro": {d: 1.0 for d in range(8)}}, sizes)
    p = 8.5 / 9  # half a success and half a failure added
    assert est.value == pytest.approx(100.0)
    assert est.sd == pytest.approx(100 / 0.9 * math.sqrt((1 - 8 / 12032) * p * (1 - p) / 8))

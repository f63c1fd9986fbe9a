"""The Open LLM Leaderboard v2 as lm-eval computes it, and as the leaderboard then reports it.

lm-eval's ``leaderboard`` group writes raw, size-weighted accuracies; the leaderboard itself shows
scores with the random-guess baseline removed and an unweighted average over six benchmarks
(HF docs "Scores Normalization"; lm-eval does not do this). Predictions are made per leaf task, so
this module is the one place that knows which per-instance metric each leaderboard task uses and how
leaf scores recombine into the six leaderboard numbers.
"""
from __future__ import annotations

import math
from typing import Mapping

#: The six leaderboard benchmarks, in the leaderboard's column order (names as in the v2 CSV).
BENCHMARKS: tuple[str, ...] = ("ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro")

#: BBH subtask -> number of answer choices (random baseline = 1 / choices), from the task YAMLs.
_BBH_CHOICES = {
    "boolean_expressions": 2, "causal_judgement": 2, "formal_fallacies": 2, "hyperbaton": 2,
    "navigate": 2, "snarks": 2, "sports_understanding": 2, "web_of_lies": 2,
    "disambiguation_qa": 3, "logical_deduction_three_objects": 3,
    "tracking_shuffled_objects_three_objects": 3, "temporal_sequences": 4,
    "logical_deduction_five_objects": 5, "penguins_in_a_table": 5,
    "tracking_shuffled_objects_five_objects": 5, "date_understanding": 6,
    "movie_recommendation": 6, "ruin_names": 6, "salient_translation_error_detection": 6,
    "logical_deduction_seven_objects": 7, "tracking_shuffled_objects_seven_objects": 7,
    "geometric_shapes": 11, "reasoning_about_colored_objects": 18, "object_counting": 19,
}
_MUSR_CHOICES = {"murder_mysteries": 2, "object_placements": 5, "team_allocation": 3}
_GPQA = ("diamond", "extended", "main")
_MATH = ("algebra", "counting_and_prob", "geometry", "intermediate_algebra", "num_theory",
         "prealgebra", "precalculus")

IFEVAL_TASK = "leaderboard_ifeval"
IFEVAL_METRICS = ("prompt_level_strict_acc", "inst_level_strict_acc")

#: benchmark -> {leaf task: random baseline}; the leaf lists are the lm-eval 0.4.13 groups.
LEAVES: dict[str, dict[str, float]] = {
    "bbh": {f"leaderboard_bbh_{k}": 1.0 / c for k, c in _BBH_CHOICES.items()},
    "musr": {f"leaderboard_musr_{k}": 1.0 / c for k, c in _MUSR_CHOICES.items()},
    "gpqa": {f"leaderboard_gpqa_{k}": 0.25 for k in _GPQA},
    "math": {f"leaderboard_math_{k}_hard": 0.0 for k in _MATH},
    "mmlu_pro": {"leaderboard_mmlu_pro": 0.1},
}

#: leaf task -> the per-instance metric the leaderboard scores it with
_TASK_METRIC = {
    **{t: "acc_norm" for b in ("bbh", "musr", "gpqa") for t in LEAVES[b]},
    **{t: "exact_match" for t in LEAVES["math"]},
    "leaderboard_mmlu_pro": "acc",
}


def benchmark_name(task: str, metric: str, primary: bool) -> str:
    """Reference benchmark for ``metric`` of lm-eval leaf ``task``.

    A task is one benchmark named after it; a task scored by two per-instance metrics (IFEval's
    strict prompt- and instruction-level accuracy) gets ``task:metric`` for the second one.
    """
    return task if primary else f"{task}:{metric}"


def instance_metrics(task: str, available: list[str]) -> list[str]:
    """The per-instance metrics a reference keeps for ``task``, primary first.

    ``available`` is the ``metrics`` list of a samples record. Leaderboard tasks use the
    leaderboard's metric; any task reporting both strict IFEval metrics keeps both (IFEval itself and
    user tasks shaped like it); every other task keeps its first metric.
    """
    if task in _TASK_METRIC and _TASK_METRIC[task] in available:
        return [_TASK_METRIC[task]]
    if all(m in available for m in IFEVAL_METRICS):
        return list(IFEVAL_METRICS)
    return available[:1]


def _norm(value: float, baseline: float) -> float:
    """The leaderboard's ``normalize_within_range``: 0 below the baseline, else rescaled to 0-100."""
    if value < baseline:
        return 0.0
    return (value - baseline) / (1.0 - baseline) * 100.0


def leaderboard_scores(leaf: Mapping[str, float], sizes: Mapping[str, int]) -> dict[str, float]:
    """The leaderboard's normalised scores (0-100) from raw leaf-task scores (0-1).

    ``leaf`` maps lm-eval leaf tasks (and ``leaderboard_ifeval:inst_level_strict_acc``) to raw
    scores; ``sizes`` gives full task sizes for the pooled benchmarks (GPQA and MATH are scored on
    the size-weighted group value; BBH and MuSR are the unweighted mean of per-subtask normalised
    scores). A benchmark appears only when all its leaves are given; ``average`` only when all six
    are. Every step is monotone, so applying this to interval bounds gives bounds.
    """
    out: dict[str, float] = {}
    inst = benchmark_name(IFEVAL_TASK, IFEVAL_METRICS[1], primary=False)
    if IFEVAL_TASK in leaf and inst in leaf:
        out["ifeval"] = (float(leaf[IFEVAL_TASK]) + float(leaf[inst])) / 2.0 * 100.0
    for bench in ("bbh", "musr"):
        tasks = LEAVES[bench]
        if all(t in leaf for t in tasks):
            out[bench] = sum(_norm(float(leaf[t]), lb) for t, lb in tasks.items()) / len(tasks)
    for bench in ("gpqa", "math"):
        tasks = LEAVES[bench]
        if all(t in leaf for t in tasks) and all(sizes.get(t, 0) > 0 for t in tasks):
            total = sum(sizes[t] for t in tasks)
            pooled = sum(float(leaf[t]) * sizes[t] for t in tasks) / total
            out[bench] = _norm(pooled, next(iter(tasks.values())))
    if "leaderboard_mmlu_pro" in leaf:
        out["mmlu_pro"] = _norm(float(leaf["leaderboard_mmlu_pro"]), 0.1)
    if all(b in out for b in BENCHMARKS):
        out["average"] = sum(out[b] for b in BENCHMARKS) / len(BENCHMARKS)
    return {k: v for k, v in out.items() if not math.isnan(v)}


def is_leaderboard_task(task: str) -> bool:
    """True for the leaf tasks of lm-eval's ``leaderboard`` group."""
    return task == IFEVAL_TASK or any(task in tasks for tasks in LEAVES.values())

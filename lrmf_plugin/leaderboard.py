"""The Open LLM Leaderboard v2 as lm-eval computes it, and as the leaderboard then reports it.

lm-eval's ``leaderboard`` group writes raw, size-weighted accuracies; the leaderboard itself shows
scores with the random-guess baseline removed and an unweighted average over six benchmarks
(HF docs "Scores Normalization"; lm-eval does not do this). Predictions are made per leaf task, so
this module is the one place that knows which per-instance metric each leaderboard task uses and how
leaf scores recombine into the six leaderboard numbers, including the standard error of a number
recombined from random subsets of the leaves (:func:`subset_estimate`), which is how a run is linked
to a reference that has only the six scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

#: The six leaderboard benchmarks, in the leaderboard's column order (names as in the v2 CSV).
BENCHMARKS: tuple[str, ...] = ("ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro")

#: Benchmark names as the leaderboards print them (v2, then v1), for every face that shows a score.
DISPLAY_NAMES: dict[str, str] = {
    "ifeval": "IFEval", "bbh": "BBH", "math": "MATH Lvl 5", "gpqa": "GPQA", "musr": "MuSR", "mmlu_pro": "MMLU-PRO",
    "arc": "ARC", "hellaswag": "HellaSwag", "mmlu": "MMLU", "truthfulqa": "TruthfulQA", "winogrande": "Winogrande",
    "gsm8k": "GSM8K",
}


def display_name(benchmark: str) -> str:
    """The leaderboard's name for ``benchmark``; names it does not list are shown as they are."""
    return DISPLAY_NAMES.get(benchmark, benchmark)

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

#: benchmarks scored as the unweighted mean of per-subtask normalised scores, and those scored by
#: normalising the subtask scores pooled by full task size
_PER_SUBTASK = ("bbh", "musr")
_POOLED = ("gpqa", "math")

#: leaf task -> the leaderboard benchmark (a v2 score column) it is a subtask of
SCORE_BENCHMARK: dict[str, str] = {IFEVAL_TASK: "ifeval", **{t: b for b, leaves in LEAVES.items() for t in leaves}}

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
    for bench in _PER_SUBTASK:
        tasks = LEAVES[bench]
        if all(t in leaf for t in tasks):
            out[bench] = sum(_norm(float(leaf[t]), lb) for t, lb in tasks.items()) / len(tasks)
    for bench in _POOLED:
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
    return task in SCORE_BENCHMARK


def benchmark_keys(benchmark: str) -> dict[str, list[str]]:
    """Leaf task -> its per-instance benchmark names (IFEval has two metrics) for a leaderboard benchmark."""
    if benchmark == "ifeval":
        return {IFEVAL_TASK: [IFEVAL_TASK, benchmark_name(IFEVAL_TASK, IFEVAL_METRICS[1], primary=False)]}
    return {t: [t] for t in LEAVES[benchmark]}


def _slopes(benchmark: str, sizes: Mapping[str, int]) -> dict[str, float]:
    """d(normalised score) / d(raw leaf mean) for each leaf of ``benchmark``, above the baseline.

    The leaderboard's scores are linear in the raw leaf means except for the clamp at the random
    baseline; the linear slope is used throughout, since a subset mean below the baseline does not
    mean the full one is.
    """
    if benchmark == "ifeval":
        return {k: 50.0 for k in benchmark_keys("ifeval")[IFEVAL_TASK]}
    tasks = LEAVES[benchmark]
    if benchmark in _POOLED:
        total = sum(sizes[t] for t in tasks)
        return {t: 100.0 * sizes[t] / total / (1.0 - lb) for t, lb in tasks.items()}
    return {t: 100.0 / (1.0 - lb) / len(tasks) for t, lb in tasks.items()}


@dataclass(frozen=True)
class SubsetEstimate:
    """A leaderboard score estimated from a uniform random subset of each of its subtasks."""

    benchmark: str
    value: float            #: the leaderboard's normalised score computed from the subset means (0-100)
    sd: float               #: its standard error (sampling without replacement)
    n: int                  #: evaluated documents over all subtasks
    N: int                  #: documents in the full subtasks
    tasks: tuple[str, ...]  #: the leaf tasks it was computed from


def _doc_variance(z: list[float], columns: list[tuple[float, list[float]]]) -> float:
    """Variance of one document's contribution ``z`` (sample variance, n-1).

    A subset with no variation (all right, all wrong, or a single document) says little about the
    spread, so it gets the binomial variance with half a success and half a failure added,
    p~ = (sum + 1/2) / (n + 1), per metric, as if the metrics moved together.
    """
    n = len(z)
    if n >= 2:
        mean = math.fsum(z) / n
        var = math.fsum((x - mean) ** 2 for x in z) / (n - 1)
        if var > 0:
            return var
    sd = 0.0
    for slope, ys in columns:
        p = (math.fsum(ys) + 0.5) / (n + 1)
        sd += abs(slope) * math.sqrt(p * (1 - p))
    return sd * sd


def subset_estimate(benchmark: str, values: Mapping[str, Mapping[int, float]],
                    sizes: Mapping[str, int]) -> SubsetEstimate | None:
    """The leaderboard score of ``benchmark`` and its standard error from evaluated subsets of its leaves.

    ``values`` maps per-instance benchmark names (leaf tasks, ``leaderboard_ifeval:inst_level_strict_acc``)
    to ``{doc_id: value}``; ``sizes`` gives each leaf task's full size. The value is
    :func:`leaderboard_scores` of the subset means. Each subtask's subset mean has variance
    ``(1 - n/N) s^2 / n`` (simple random sampling without replacement; ``s^2`` the sample variance of
    the per-document values), and the score's variance sums them through the normalisation's slopes
    and weights (subtasks are sampled independently; IFEval's two metrics share documents, so their
    per-document average is the sampled value). ``None`` unless every leaf has documents and a size.
    """
    keys = benchmark_keys(benchmark)
    if any(not values.get(k) for ks in keys.values() for k in ks) or any(
            not sizes.get(t) or sizes[t] <= 0 for t in keys):
        return None
    means = {k: math.fsum(values[k].values()) / len(values[k]) for ks in keys.values() for k in ks}
    value = leaderboard_scores(means, sizes).get(benchmark)
    if value is None:
        return None
    slopes = _slopes(benchmark, sizes)
    var, n_total, N_total = 0.0, 0, 0
    for task, ks in keys.items():
        docs = sorted(set.intersection(*(set(values[k]) for k in ks)))
        n, N = len(docs), int(sizes[task])
        columns = [(slopes[k], [float(values[k][d]) for d in docs]) for k in ks]
        z = [math.fsum(slope * ys[i] for slope, ys in columns) for i in range(n)]
        var += max(0.0, 1.0 - n / N) * _doc_variance(z, columns) / n
        n_total, N_total = n_total + n, N_total + N
    return SubsetEstimate(benchmark, float(value), math.sqrt(var), n_total, N_total, tuple(keys))

"""The held-out calibration pass: conformal interval scales, the item weight, and where the item map predicts.

A second fit leaves out a share of the models with data (they stay in the lineage graph, as a new
model would be); each held-out model is then predicted with no evidence, with part of its scores
known, with a reveal set's scores, and with a few random or planned items per benchmark. The scale
factor of a (benchmark, evidence level) is the split-conformal 90% quantile of |error| / predicted
sd, divided by z_90, so intervals cover 90% of held-out truths at each evidence level.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from ...dataset import ReferenceData
from ...defaults import ITEM_BUDGETS, MIN_ROWS, Z90
from ...planning import PlanningModel, plan_items
from ...schema import ModelQuery
from ..scores import full_scores
from .defaults import CALIBRATION_MODELS, COVERAGE, ITEM_WEIGHTS, MIN_CALIBRATION_CASES, MIN_CALIBRATION_MODELS
from .predictive import ITEM_LEVELS, Moment, Predictive, SharedSteps
from .progress import FitProgress

#: (evidence level, query, truth), then with the query's prior mean appended
Case = tuple[str, ModelQuery, dict[str, float]]
#: prefix of the levels of planned item queries, told apart from random ones until their scales merge
PLANNED = "planned "
#: prefix of the levels without items of the queries of models with items, told apart likewise
ITEM_MODEL = "item model: "


@dataclass(frozen=True)
class Calibration:
    """What the pass learned: interval scales per (benchmark, level), the item weight of fold-in,
    and the evidence levels at which the item map predicts (empty: the map is dropped)."""

    scales: dict[tuple[str, str], float]
    item_weight: float
    map_levels: tuple[str, ...]


def calibrate(data: ReferenceData, refit: Callable[[ReferenceData], PlanningModel], *, seed: int, share: float,
              item_weight: float | None, progress: FitProgress | None = None) -> Calibration | None:
    """Run the pass on ``data``; ``refit`` fits the predictor (without calibration) on a subset of it.
    ``item_weight``: the user's fixed weight, or ``None`` to choose one from ``ITEM_WEIGHTS``.
    ``None`` when there are too few models with data to hold any out. ``progress`` shows the stages
    (held-out models, item weights, planned models) beside those of the refit."""
    progress = progress or FitProgress(False)
    rng = np.random.default_rng(seed + 1)
    has = data.has_data()
    candidates = np.flatnonzero(has)
    if len(candidates) < MIN_ROWS:
        return None
    held = rng.choice(candidates, size=max(MIN_CALIBRATION_MODELS, int(share * len(candidates))), replace=False)
    keep = has.copy()
    keep[held] = False
    helper = refit(data.subset(keep))
    held_models = [data.models[i] for i in held[:CALIBRATION_MODELS]]
    cases, to_plan = held_out_cases(data, helper, held_models, rng, progress)
    cases = _with_prior_means(helper, cases)
    item_cases = [c for c in cases if c[1].items]
    weights = ITEM_WEIGHTS if item_weight is None and item_cases else (helper.posterior_.item_weight,)
    with progress.stage("calibration: item weights", len(weights), "weight") as bar:
        best, kept, levels = _choose_item_use(helper, item_cases, weights, bar.step)
    helper.posterior_ = helper.posterior_.with_item_weight(best)
    helper.map_levels_ = levels
    if not levels:
        helper.item_map_ = None
    # the planner's items too, planned under that choice: adaptively chosen answers shrink the
    # posterior faster than they inform it when the model is a little wrong, so they need their
    # own scale (told apart until it is merged into their level's below)
    predictive = Predictive(helper.posterior_, helper.item_map_, levels)
    with progress.stage("calibration: planned items", len(to_plan), "model") as bar:
        planned = []
        for q, k, bs, _ in to_plan:
            planned.append(data.query(q.model, items=plan_items(helper, q, k, benchmarks=bs)))
            bar.step()
    planned = _with_prior_means(helper, [(PLANNED + predictive.level(q), q, truth)
                                         for q, (*_, truth) in zip(planned, to_plan)])
    moments = kept + list(predictive.case_moments([c for c in cases if not c[1].items] + planned))
    return Calibration(_conformal_scales(predictive, moments), best, levels)


def held_out_cases(data: ReferenceData, helper: PlanningModel, held_models: list[str], rng: np.random.Generator,
                   progress: FitProgress) -> tuple[list[Case], list]:
    """The held-out queries with their levels and truths, and (query without evidence, budget,
    benchmarks, truth) of those to plan once the item evidence is chosen."""
    post = helper.posterior_
    predictive = Predictive(post, helper.item_map_, helper.map_levels_)
    cases: list[Case] = []
    to_plan: list = []
    score_names = [b for b in data.scores.columns if b in post.score_names]
    full = full_scores(data)
    # score columns first, then item-only benchmarks: the order the truths are averaged in
    order = [*data.scores.columns, *(b for b in data.items if b not in data.scores.columns)]
    with progress.stage("calibration: held-out models", len(held_models), "model") as bar:
        for model in held_models:
            _add_cases(data, predictive, model, full.loc[model], order, score_names, rng, cases, to_plan)
            bar.step()
    return cases, to_plan


def _add_cases(data: ReferenceData, predictive: Predictive, model: str, row, order: list[str],
               score_names: list[str], rng: np.random.Generator, cases: list[Case], to_plan: list) -> None:
    """Append a held-out model's queries (one per evidence level it can have) to ``cases``, and its
    item query to ``to_plan``."""
    post = predictive.posterior
    truth = {b: float(row[b]) for b in order if row[b] == row[b]}
    if not truth:
        return
    queries = {"none": data.query(model)}
    known = [b for b in score_names if b in truth]
    if len(known) >= 2:
        reveal = tuple(rng.choice(known, size=len(known) // 2, replace=False))
        queries["scores"] = data.query(model, benchmarks_known=reveal)
    sets = [p for p in post.prior.specialists_ if all(post.score_names[j] in truth for j in p)]
    if sets:  # the specialists predict better than the shared trees, so they get their own scale
        pattern = sets[int(rng.integers(len(sets)))]
        queries["reveal set"] = data.query(model, benchmarks_known=tuple(post.score_names[j] for j in pattern))
    if data.items:
        k = int(rng.choice(ITEM_BUDGETS))
        picks = data.random_items(data.index[model], k, rng)
        if picks:
            queries["items"] = data.query(model, items=picks)
            to_plan.append((queries["none"], k, sorted(picks), truth))
    # a model with items is told apart at the levels without them (see _conformal_scales)
    tag = ITEM_MODEL if "items" in queries else ""
    cases += [((tag if q.n_items() == 0 else "") + predictive.level(q), q, truth) for q in queries.values()]


def _with_prior_means(helper: PlanningModel, cases: list[Case]) -> list:
    """(level, query, truth) cases -> (level, query, truth, prior mean), the means in one batch."""
    means = helper.posterior_.prior_means([q for _, q, _ in cases]) if cases else []
    return [(level, q, truth, m) for (level, q, truth), m in zip(cases, means)]


def _choose_item_use(helper: PlanningModel, item_cases: list, weights: tuple[float, ...],
                     tried: Callable[[], None]) -> tuple[float, list[Moment], tuple[str, ...]]:
    """How items inform: the item weight, and at which evidence levels the item map predicts the
    scores, the options with the least held-out error on the cases with random items (returned with
    their moments). Per level: the map wins with many answers, and the folded-in vector can with a
    few, so one map-or-not for all levels would give up one or the other. ``tried``: called per weight."""
    item_map = helper.item_map_
    maps = [None, item_map] if item_map is not None and item_cases else [item_map]
    shared = SharedSteps()  # most of a case's work is the same for every option
    options = {}
    for w in weights:
        post = helper.posterior_.with_item_weight(w)
        by_level: dict[str, dict[bool, list[Moment]]] = {}
        for m in maps:
            predictive = Predictive(post, m, helper.map_levels_)
            for moment in predictive.case_moments(item_cases, shared):
                by_level.setdefault(moment[0], {}).setdefault(m is not None, []).append(moment)
        error = Predictive(post, None, ()).moments_error
        chosen = {lvl: min(opts, key=lambda o: error(opts[o])) for lvl, opts in by_level.items()}
        kept = [mo for lvl, opts in by_level.items() for mo in opts[chosen[lvl]]]
        options[w] = (error(kept), kept, tuple(sorted(lvl for lvl, c in chosen.items() if c)))
        tried()
    best = min(options, key=lambda w: options[w][0])
    _, kept, levels = options[best]
    if not item_cases:  # nothing to choose on: the map, if learned, stays at every level
        levels = ITEM_LEVELS
    return best, kept, levels


def _conformal_scales(predictive: Predictive, moments: list[Moment]) -> dict[tuple[str, str], float]:
    """Split-conformal scale per (benchmark, level) from held-out moments."""
    ratios: dict[tuple[str, str], list[float]] = {}
    for level, b, y, mean, sd, raw in moments:
        if sd > 0:  # unit-free, so the map's raw-scale and the vector's working-scale errors mix
            ratio = abs(predictive.to_working(b, y, raw) - mean) / sd
            ratios.setdefault((b, level), []).append(ratio)
            if level.startswith(ITEM_MODEL):  # also one of its level's cases
                ratios.setdefault((b, level[len(ITEM_MODEL):]), []).append(ratio)
    scales: dict[tuple[str, str], float] = {}
    for key, r in ratios.items():
        r = np.sort(np.asarray(r))
        n = len(r)
        if n < MIN_CALIBRATION_CASES:
            continue
        rank = min(n - 1, int(np.ceil(COVERAGE * (n + 1))) - 1)
        scales[key] = float(r[rank] / Z90)
    # a prediction cannot tell planned items from random ones: item evidence gets the wider scale.
    # Nor can it tell a model like the reference's models with items (on the leaderboard, the
    # best-known ones: their errors run 35-40% wider of their spread at every level) from the rest
    for prefix in (PLANNED, ITEM_MODEL):
        for (b, level) in list(scales):
            if level.startswith(prefix):
                k, level = scales.pop((b, level)), level[len(prefix):]
                scales[(b, level)] = max(k, scales.get((b, level), 0.0))
    return scales

"""The shift holdout: how much wider the interval of a query outside the reference's support must be.

The calibration pass holds out random models, and random models are rarely outside the support. This
pass holds out the strongest models (by mean score percentile) and the newest (by submission date,
else upload date), half of ``share`` each: the frontier and the temporal shift that every new model
is. It refits without them, predicts them at the calibration pass's evidence levels, and learns per
benchmark the split-conformal 90% quantile of how far the truths of *flagged* predictions fall, in
units of their interval's half-width on that side (at least 1: a flag never narrows an interval).
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ...dataset import ReferenceData
from ...schema import ModelQuery, Prediction
from ..item_map import ItemScoreMap
from ..scores import full_scores
from .calibration import held_out_cases
from .defaults import CALIBRATION_MODELS, COVERAGE, MIN_CALIBRATION_CASES, MIN_CALIBRATION_MODELS
from .posterior import Posterior
from .progress import FitProgress
from .support import DATE_FIELDS, Support


class Calibrated(Protocol):
    """A fitted LRMF predictor as this pass reads and writes it."""

    posterior_: Posterior
    item_map_: ItemScoreMap | None
    map_levels_: tuple[str, ...]
    calibration_: dict[tuple[str, str], float]
    support_: Support

    def predict(self, queries: list[ModelQuery]) -> list[Prediction]: ...


def shift_holdout(data: ReferenceData, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``data`` to hold out: the strongest and the newest ``share``/2 of the models with data
    each (the two may overlap)."""
    rows = np.flatnonzero(data.has_data())
    n = max(1, int(share / 2 * len(rows)))
    strength = full_scores(data).iloc[rows].rank(pct=True).mean(axis=1).to_numpy()
    strong = rows[np.argsort(-np.nan_to_num(strength, nan=-1.0), kind="stable")[:n]]
    meta = data.metadata.iloc[rows]
    when = np.full(len(rows), "", dtype=object)
    for name in DATE_FIELDS:  # the submission date (when the leaderboard saw it) wins over the upload date
        if name in meta.columns:
            given = meta[name].map(lambda v: str(v)[:10] if isinstance(v, str) else "").to_numpy(dtype=object)
            when = np.where(given != "", given, when)
    dated = np.flatnonzero(when != "")
    newest = rows[dated[np.argsort(when[dated], kind="stable")[::-1][:n]]]
    return strong, newest


def shift_widening(data: ReferenceData, refit: Callable[[ReferenceData, str], Calibrated], fitted: Calibrated, *,
                   seed: int, share: float, progress: FitProgress | None = None) -> dict[str, float]:
    """The interval factor per benchmark for flagged queries, from a refit without the shift holdout;
    ``fitted`` lends it the calibration pass's choices (scales, item weight, map levels). Empty when
    the holdout is too small or too few of its predictions are flagged."""
    held = np.union1d(*shift_holdout(data, share))
    if len(held) < MIN_CALIBRATION_MODELS:
        return {}
    keep = data.has_data()
    keep[held] = False
    helper = refit(data.subset(keep), "shift refit: ")
    helper.calibration_, helper.map_levels_ = fitted.calibration_, fitted.map_levels_
    helper.posterior_ = helper.posterior_.with_item_weight(fitted.posterior_.item_weight)
    if fitted.item_map_ is None:
        helper.item_map_ = None
    rng = np.random.default_rng(seed + 2)
    models = [data.models[i] for i in rng.permutation(held)[:CALIBRATION_MODELS]]
    cases, _ = held_out_cases(data, helper, models, rng, progress or FitProgress(False))
    predictions = helper.predict([q for _, q, _ in cases])
    n = len(predictions) // max(len(cases), 1)
    ratios: dict[str, list[float]] = {}
    for k, (_, _, truth) in enumerate(cases):
        for p in predictions[k * n:(k + 1) * n]:
            if p.flags and not p.observed and p.benchmark in truth:
                y = truth[p.benchmark]
                half = p.upper - p.predicted if y > p.predicted else p.predicted - p.lower
                if half > 0:
                    ratios.setdefault(p.benchmark, []).append(abs(y - p.predicted) / half)
    return _factors(ratios)


def _factors(ratios: dict[str, list[float]]) -> dict[str, float]:
    """Conformal factor per benchmark (at least 1); a benchmark with too few flagged cases takes the
    pooled factor of all of them, and with too few in all nothing is learned."""
    pooled = [r for rs in ratios.values() for r in rs]
    if len(pooled) < MIN_CALIBRATION_CASES:
        return {}

    def factor(r: list[float]) -> float:
        r_sorted = np.sort(np.asarray(r))
        rank = min(len(r_sorted) - 1, int(np.ceil(COVERAGE * (len(r_sorted) + 1))) - 1)
        return max(1.0, float(r_sorted[rank]))

    shared = factor(pooled)
    return {b: factor(r) if len(r) >= MIN_CALIBRATION_CASES else shared for b, r in ratios.items()}

"""The shift holdout: how much wider the interval of a query outside the reference's support must be,
and how far above the prediction a newer or stronger model's truth may lie.

The calibration pass holds out random models, and random models are rarely outside the support. This
pass holds out the strongest models (by mean score percentile) and the newest (by submission date,
else upload date), half of ``share`` each: the frontier and the temporal shift that every new model
is. It refits without them, predicts them at the calibration pass's evidence levels, and learns two
things, both in units of an interval's half-width on the side the truth fell (at least 1: neither
ever narrows an interval):

- per benchmark, the split-conformal 90% quantile of how far the truths of *flagged* predictions
  fall: the factor that widens both sides of a flagged query's interval;
- per (evidence level, benchmark), the 95% quantile of how far above the (flag-widened) prediction
  the truths of *all* its predictions fall: the *headroom* that stretches the upper side of every
  interval. Most queries stronger or newer than the reference raise no flag (their metadata look
  like the reference's), yet every model a user brings is newer, and newer models score higher than
  their likes in the reference did. The lower side keeps its random-fold calibration: the shift
  runs one way.
"""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from ...dataset import ReferenceData
from ...schema import ModelQuery, Prediction
from ..scores import full_scores
from .calibration import ITEM_MODEL, held_out_cases
from .defaults import CALIBRATION_MODELS, COVERAGE, MIN_CALIBRATION_CASES, MIN_CALIBRATION_MODELS
from .persistence import Fitted
from .progress import FitProgress
from .support import DATE_FIELDS, Headroom

#: share of a shift holdout's truths the headroom lets lie above an interval: its upper tail, as on
#: random folds
UPPER_TAIL = (1 - COVERAGE) / 2


class Calibrated(Fitted, Protocol):
    """A fitted LRMF predictor as this pass reads and writes it: its state, and its predictions."""

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
                   seed: int, share: float, progress: FitProgress | None = None
                   ) -> tuple[dict[str, float], Headroom]:
    """The interval factor per benchmark of flagged queries and the headroom per (level, benchmark)
    of every query, from a refit without the shift holdout; ``fitted`` lends it the calibration
    pass's choices (scales, item weight, map levels). Both empty when the holdout is too small; the
    factor also when too few of its predictions are flagged."""
    held = np.union1d(*shift_holdout(data, share))
    if len(held) < MIN_CALIBRATION_MODELS:
        return {}, {}
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
    judged = [(level.removeprefix(ITEM_MODEL), p, truth[p.benchmark]) for k, (level, _, truth) in enumerate(cases)
              for p in predictions[k * n:(k + 1) * n] if not p.observed and p.benchmark in truth]
    flagged: dict[str, list[float]] = {}
    for _, p, y in judged:
        if p.flags and (half := p.upper - p.predicted if y > p.predicted else p.predicted - p.lower) > 0:
            flagged.setdefault(p.benchmark, []).append(abs(y - p.predicted) / half)
    widen = _factors(flagged, COVERAGE)
    above: dict[str, dict[str, list[float]]] = {}
    for level, p, y in judged:
        k = widen.get(p.benchmark, 1.0) if p.flags else 1.0
        if (half := min(k * (p.upper - p.predicted), 100.0 - p.predicted)) > 0:
            key = helper.support_.room_key(level, p)
            above.setdefault(key, {}).setdefault(p.benchmark, []).append(max(y - p.predicted, 0.0) / half)
    return widen, {level: f for level, r in above.items() if (f := _factors(r, 1 - UPPER_TAIL))}


def _factors(ratios: dict[str, list[float]], coverage: float) -> dict[str, float]:
    """Conformal ``coverage`` quantile per benchmark (at least 1); a benchmark with too few cases
    takes the pooled factor of all of them, and with too few in all nothing is learned."""
    pooled = [r for rs in ratios.values() for r in rs]
    if len(pooled) < MIN_CALIBRATION_CASES:
        return {}

    def factor(r: list[float]) -> float:
        r_sorted = np.sort(np.asarray(r))
        rank = min(len(r_sorted) - 1, int(np.ceil(coverage * (len(r_sorted) + 1))) - 1)
        return max(1.0, float(r_sorted[rank]))

    shared = factor(pooled)
    return {b: factor(r) if len(r) >= MIN_CALIBRATION_CASES else shared for b, r in ratios.items()}

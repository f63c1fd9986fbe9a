"""Full benchmark scores (the truth every predictor is fitted to and judged against) and the
assembly of :class:`~lrmf_plugin.schema.Prediction` records that honour scores a query already gives.

The baselines and the backtest share these, so "what is the score of model m on benchmark b" has
one answer everywhere (:func:`full_scores`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..dataset import ReferenceData
from ..schema import ModelQuery, Prediction


def full_scores(data: ReferenceData) -> pd.DataFrame:
    """Models x benchmarks (``data.benchmark_names()`` order) of full scores, NaN where unknown.

    The one definition of "truth": a model's score where it has one, else the mean of its answers
    (x100) where the stored items are the whole benchmark and it answered all of them.
    """
    out = pd.DataFrame(np.nan, index=list(data.models), columns=data.benchmark_names(), dtype=float)
    for name in out.columns:
        col = np.full(len(data.models), np.nan)
        if name in data.items and data.benchmarks[name].items_complete:
            values = data.items[name].values
            complete = ~np.isnan(values).any(axis=1)
            # the float32 mean in double before scaling: x100 in float32 would round the score again
            col[complete] = 100.0 * values[complete].mean(axis=1).astype(np.float64)
        if name in data.scores.columns:
            scores = data.scores[name].to_numpy(dtype=float)
            col = np.where(np.isnan(scores), col, scores)
        out[name] = col
    return out


def make_prediction(query: ModelQuery, benchmark: str, predicted: float,
                    lower: float = math.nan, upper: float = math.nan) -> Prediction:
    """A prediction, or the query's own score (zero-width, ``observed``) when it gives one."""
    if benchmark in query.scores:
        v = float(query.scores[benchmark])
        return Prediction(query.model, benchmark, v, v, v, observed=True)
    return Prediction(query.model, benchmark, float(predicted), float(lower), float(upper))


def observed_item_vector(query: ModelQuery, benchmark: str, items: list[str]) -> np.ndarray:
    """The query's observations of ``benchmark`` aligned with the reference's ``items`` (NaN = unseen).

    Item ids the reference does not know are ignored here: validating user input is the job of the
    faces (they raise :class:`~lrmf_plugin.errors.UnknownItemError`), a baseline just uses what fits.
    """
    vec = np.full(len(items), np.nan)
    seen = query.items.get(benchmark)
    if seen:
        col = {it: j for j, it in enumerate(items)}
        for it, v in seen.items():
            j = col.get(it)
            if j is not None:
                vec[j] = float(v)
    return vec

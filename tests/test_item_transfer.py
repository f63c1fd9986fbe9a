"""Items on benchmarks that have scores inform the benchmarks known only by score, as revealed scores do.

Synthetic reference (tests/synthetic_lowrank.py): ``alpha`` and ``beta`` have scores and items,
``gamma`` and ``delta`` scores only, all read from one low-rank model vector.
"""
from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from lrmf_plugin.models.lrmf import LRMFPredictor
from synthetic_lowrank import FAST, ITEM_BENCHMARKS

SCORE_ONLY = ("gamma", "delta")


@pytest.fixture(scope="module")
def fitted(split):
    with threadpool_limits(limits=1):  # as tests/test_predictor.py: OpenMP spinning on shared cores
        return LRMFPredictor(**FAST, calibrate=True, seed=0).fit(split[1])


def _centres(predictor, queries, benchmarks) -> np.ndarray:
    frame = predictor.predict_frame(queries)
    frame = frame[frame.benchmark.isin(benchmarks)].sort_values(["model", "benchmark"])
    return frame["predicted"].to_numpy()


def test_items_bring_the_score_only_benchmarks_toward_their_exact_score_predictions(split, fitted):
    data, _, held = split
    held = sorted(held)
    zero = _centres(fitted, [data.query(m) for m in held], SCORE_ONLY)
    known = _centres(fitted, [data.query(m, benchmarks_known=ITEM_BENCHMARKS) for m in held], SCORE_ONLY)
    items = _centres(fitted, [data.query(m, items={b: list(data.items[b].items[:25]) for b in ITEM_BENCHMARKS})
                              for m in held], SCORE_ONLY)
    assert np.abs(items - known).mean() < np.abs(zero - known).mean()


def test_right_answers_raise_the_score_only_benchmarks_wrong_ones_lower_them(split, fitted):
    data, train, held = split
    model = held[0]
    ids = {b: list(data.items[b].items[:20]) for b in ITEM_BENCHMARKS}
    answered = {}
    for value in (1.0, 0.0):
        q = data.query(model)
        q.items = {b: {it: value for it in its} for b, its in ids.items()}
        answered[value] = {p.benchmark: p.predicted for p in fitted.predict([q])}
    zero = {p.benchmark: p.predicted for p in fitted.predict([data.query(model)])}
    corr = train.scores.corr()
    for b in SCORE_ONLY:
        # the direction the reference implies: every score benchmark here rises with alpha and beta
        assert (corr.loc[b, list(ITEM_BENCHMARKS)] > 0).all()
        assert answered[1.0][b] > zero[b] > answered[0.0][b], b


def test_a_score_the_query_estimated_beside_items_informs_the_others_too(split, fitted):
    data, train, held = split
    model = held[1]
    spread = float(train.scores["beta"].std())
    centre = {}
    for shift in (1.0, -1.0):
        q = data.query(model, items={"alpha": list(data.items["alpha"].items[:10])})
        q.scores = {"beta": float(data.scores.loc[model, "beta"]) + shift * spread}
        q.score_sd = {"beta": 1.0}
        preds = {p.benchmark: p for p in fitted.predict([q])}
        assert not preds["beta"].observed
        centre[shift] = preds
    for b in ("beta", *SCORE_ONLY):
        assert centre[1.0][b].predicted > centre[-1.0][b].predicted, b

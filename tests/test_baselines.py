"""The baselines: exact on hand-checkable cases, and better than the global mean where they should be."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lrmf_plugin.dataset import ItemBlock, ReferenceData
from lrmf_plugin.errors import NotFittedError
from lrmf_plugin.models.global_mean import GlobalMeanPredictor
from lrmf_plugin.models.irt import IRTPredictor
from lrmf_plugin.models.lineage_average import LineageAveragePredictor
from lrmf_plugin.models.matrix_factorization import MatrixFactorizationPredictor
from lrmf_plugin.models.metadata_regression import MetadataRegressionPredictor
from lrmf_plugin.models.monotone import MonotoneMap
from lrmf_plugin.models.scores import full_scores
from lrmf_plugin.models.subset_mapping import SubsetMappingPredictor
from lrmf_plugin.schema import BenchmarkInfo, Edge, ModelQuery
from synthetic_lowrank import ITEM_BENCHMARKS, SCORE_BENCHMARKS, make_reference


@pytest.fixture(scope="module")
def split():
    """Synthetic data, the held-out models and the training view without their data."""
    data, truth = make_reference(seed=1)
    rng = np.random.default_rng(0)
    has = data.has_data()
    held = rng.random(len(data.models)) < 0.25
    held &= has
    train = data.subset(has & ~held)
    test = [m for m, h in zip(data.models, held) if h]
    return data, train, test


def _mae(pred: pd.DataFrame, data: ReferenceData, benchmarks) -> float:
    truth = full_scores(data)
    pred = pred[pred["benchmark"].isin(list(benchmarks))]
    t = np.array([truth.at[m, b] for m, b in zip(pred["model"], pred["benchmark"])])
    return float(np.nanmean(np.abs(pred["predicted"].to_numpy() - t)))


def _all_items(data: ReferenceData, model: str, benchmarks, k: int | None = None) -> dict[str, list[str]]:
    return {b: data.items[b].items[:k] for b in benchmarks}


def test_tiny_reference_exact_values():
    """Global mean, quantile interval, lineage weights and observed scores, checked by hand."""
    models = ["root", "p", "s", "child", "loner"]
    scores = pd.DataFrame({"x": [np.nan, 60.0, 30.0, 99.0, 90.0]}, index=models)
    meta = pd.DataFrame(index=models)
    edges = [Edge("root", "p", "finetune"), Edge("root", "s", "finetune"), Edge("p", "child", "finetune")]
    data = ReferenceData(models, scores, {}, meta, edges)
    train = data.subset(np.array([True, True, True, False, True]))  # "child" held out

    gm = GlobalMeanPredictor().fit(train)
    (p,) = gm.predict([ModelQuery("child")])
    assert p.predicted == pytest.approx(60.0)
    assert (p.lower, p.upper) == pytest.approx(tuple(np.quantile([60, 30, 90], [0.05, 0.95])))

    la = LineageAveragePredictor(max_hops=3, hop_decay=0.5).fit(train)
    # p is a parent (weight 1); s is reached child->p->root->s: path weight 1, decay 0.5**2
    assert la.relatives(ModelQuery("child")) == pytest.approx({"p": 1.0, "s": 0.25})
    (p,) = la.predict([ModelQuery("child")])
    assert p.predicted == pytest.approx((60 * 1.0 + 30 * 0.25) / 1.25)
    # a new model known only through the query's parents gets the same answer
    (q,) = la.predict([ModelQuery("new", parents=[("p", "finetuned")])])
    assert q.predicted == pytest.approx(p.predicted)
    # no relatives: the global mean; a given score: returned as observed
    (r,) = la.predict([ModelQuery("loner-2")])
    assert r.predicted == pytest.approx(60.0)
    (o,) = la.predict([ModelQuery("child", scores={"x": 12.5})])
    assert o.observed and o.predicted == o.lower == o.upper == 12.5


def test_unfitted_predictor_refuses():
    with pytest.raises(NotFittedError):
        GlobalMeanPredictor().predict([ModelQuery("m")])


def test_full_scores_uses_complete_items_only_when_fully_answered():
    models = ["a", "b"]
    block = ItemBlock(["i1", "i2"], np.array([[1, 0], [1, np.nan]], dtype=np.float32))
    data = ReferenceData(models, pd.DataFrame(index=models), {"c": block}, pd.DataFrame(index=models), [],
                         {"c": BenchmarkInfo("c", items_complete=True, n_items=2)})
    s = full_scores(data)
    assert s.at["a", "c"] == pytest.approx(50.0) and np.isnan(s.at["b", "c"])


def test_monotone_map_is_monotone_and_recovers_a_monotone_curve():
    rng = np.random.default_rng(0)
    x = rng.random(400)
    y = 100 * x ** 2 + rng.normal(scale=2, size=400)
    f = MonotoneMap().fit(x, y)
    grid = np.linspace(-0.5, 1.5, 200)
    out = f(grid)
    assert np.all(np.diff(out) >= -1e-9)
    assert np.abs(f(np.linspace(0.1, 0.9, 9)) - 100 * np.linspace(0.1, 0.9, 9) ** 2).max() < 6
    with pytest.raises(ValueError):
        MonotoneMap().fit(np.array([np.nan]), np.array([1.0]))


def test_lineage_and_metadata_beat_global_mean_with_zero_evaluations(split):
    data, train, test = split
    queries = [data.query(m) for m in test]
    base = _mae(GlobalMeanPredictor().fit(train).predict_frame(queries), data, SCORE_BENCHMARKS)
    lineage = _mae(LineageAveragePredictor().fit(train).predict_frame(queries), data, SCORE_BENCHMARKS)
    meta_model = MetadataRegressionPredictor().fit(train)
    meta = _mae(meta_model.predict_frame(queries), data, SCORE_BENCHMARKS)
    assert lineage < 0.5 * base
    assert meta < 0.9 * base
    # the leave-one-out residual interval is a real interval around the prediction
    frame = meta_model.predict_frame(queries)
    assert (frame["lower"] < frame["predicted"]).all() and (frame["predicted"] < frame["upper"]).all()


@pytest.mark.parametrize("cls", [IRTPredictor, SubsetMappingPredictor, MatrixFactorizationPredictor])
def test_item_methods_use_observed_items(split, cls):
    """With items revealed, the benchmarks that have items are predicted far better than the mean;
    without items they fall back to (nearly) the global mean."""
    data, train, test = split
    model = cls().fit(train)
    base = _mae(GlobalMeanPredictor().fit(train).predict_frame([data.query(m) for m in test]), data, ITEM_BENCHMARKS)
    with_items = [data.query(m, items=_all_items(data, m, ITEM_BENCHMARKS)) for m in test]
    assert _mae(model.predict_frame(with_items), data, ITEM_BENCHMARKS) < 0.6 * base
    few = [data.query(m, items=_all_items(data, m, ITEM_BENCHMARKS, k=5)) for m in test]
    assert _mae(model.predict_frame(few), data, ITEM_BENCHMARKS) < base
    zero = _mae(model.predict_frame([data.query(m) for m in test]), data, ITEM_BENCHMARKS)
    assert zero == pytest.approx(base, rel=0.05)


@pytest.mark.parametrize("cls", [IRTPredictor, MatrixFactorizationPredictor])
def test_item_probabilities_rank_items(split, cls):
    data, train, test = split
    model = cls().fit(train)
    block = data.items["alpha"]
    ys, ps = [], []
    for m in test[:20]:
        q = data.query(m, items={"alpha": block.items[:10]})
        p = model.item_probabilities(q, "alpha")
        assert p.shape == (len(block.items),) and np.all((p >= 0) & (p <= 1))
        ys.append(block.values[data.index[m], 10:])
        ps.append(p[10:])
    y, p = np.concatenate(ys), np.concatenate(ps)
    assert p[y == 1].mean() > p[y == 0].mean() + 0.1
    assert model.item_probabilities(ModelQuery("x"), "delta") is None  # no items: not modelled


def test_mf_uses_known_scores_and_predicts_item_only_benchmark(split):
    data, train, test = split
    mf = MatrixFactorizationPredictor().fit(train)
    base = _mae(GlobalMeanPredictor().fit(train).predict_frame([data.query(m) for m in test]), data, ["gamma", "delta"])
    known = [data.query(m, benchmarks_known=("alpha", "beta")) for m in test]
    frame = mf.predict_frame(known)
    assert _mae(frame, data, ["gamma", "delta"]) < 0.8 * base
    # the complete-items benchmark "c" (no score column) is predicted on the 0-100 scale
    c = frame[frame["benchmark"] == "c"]["predicted"]
    assert len(c) == len(test) and c.between(0, 100).all()
    # with all of c's items revealed its prediction is exactly their mean
    m = test[0]
    q = data.query(m, items={"c": data.items["c"].items})
    pred = {p.benchmark: p.predicted for p in mf.predict([q])}
    assert pred["c"] == pytest.approx(100 * data.items["c"].values[data.index[m]].mean())


def test_full_scores_fall_back_to_complete_items_only_where_the_score_is_missing():
    models = ["a", "b", "c"]
    block = ItemBlock(["i1", "i2"], np.array([[1, 0], [1, 1], [0, np.nan]], dtype=np.float32))
    scores = pd.DataFrame({"x": [70.0, np.nan, np.nan]}, index=models)
    data = ReferenceData(models, scores, {"x": block}, pd.DataFrame(index=models), [],
                         {"x": BenchmarkInfo("x", has_scores=True, items_complete=True, n_items=2)})
    s = full_scores(data)
    assert s.at["a", "x"] == 70.0 and s.at["b", "x"] == pytest.approx(100.0) and np.isnan(s.at["c", "x"])

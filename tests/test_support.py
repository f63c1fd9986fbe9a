"""The reference's support: which queries are flagged as extrapolating, why, and how much their
intervals widen (learned on the shift holdout of the strongest and newest models)."""
from __future__ import annotations

import numpy as np
import pytest
from synthetic_lowrank import FAST, make_reference
from threadpoolctl import threadpool_limits

from lrmf_plugin.dataset import ReferenceData
from lrmf_plugin.lineage import LineageGraph
from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.models.lrmf.shift import shift_holdout
from lrmf_plugin.models.scores import full_scores


@pytest.fixture(autouse=True)
def one_openmp_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data():
    data, _ = make_reference(n_families=14, family_size=6, seed=5)
    # upload dates spread over two years, one per model, so the newest are a real holdout
    data.metadata["upload_date"] = [f"{2023 + i % 2}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(len(data.models))]
    return data


@pytest.fixture(scope="module")
def fitted(data):
    return LRMFPredictor(**FAST, seed=0).fit(data)


def _model(data, k: int = 1) -> str:
    """A scored model of the reference (a fine-tune: the family roots have no data)."""
    return [m for m, h in zip(data.models, data.has_data()) if h][k]


def test_a_query_like_the_references_models_is_not_flagged(data, fitted):
    q = data.query(_model(data), benchmarks_known=("alpha",))
    assert not any(p.flags for p in fitted.predict([q]))


@pytest.mark.parametrize("change,words", [
    (lambda q: q.scores.update(alpha=100.0), "alpha 100.0 outside the reference's range"),
    (lambda q: q.metadata.update(params_b=400.0), "400B parameters, more than the reference's largest model (70B)"),
    (lambda q: q.metadata.update(upload_date="2031-05-01"), "upload date 2031-05-01, after the reference's newest"),
])
def test_evidence_beyond_the_reference_flags_every_predicted_benchmark(data, fitted, change, words):
    q = data.query(_model(data), benchmarks_known=("alpha",))
    change(q)
    predictions = fitted.predict([q])
    predicted = [p for p in predictions if not p.observed]
    assert predicted and all(any(words in f for f in p.flags) for p in predicted)
    assert not any(p.flags for p in predictions if p.observed)


def test_answers_better_than_any_reference_model_are_flagged_and_few_lucky_ones_are_not(data, fitted):
    block = data.items["alpha"]
    every = {it: 1.0 for it in block.items}
    assert np.nanmean(block.values[data.has_data()], axis=1).max() < 0.95  # no reference model answered nearly all
    q = data.query(_model(data))
    q.items = {"alpha": every}
    assert any("alpha: 40 of its 40 items right, more than the best" in f for p in fitted.predict([q]) for f in p.flags)
    q.items = {"alpha": dict(list(every.items())[:3])}  # three right answers are no evidence of anything
    assert not any(p.flags for p in fitted.predict([q]))


def test_a_flagged_interval_is_widened_by_its_benchmarks_learned_factor(data, fitted):
    assert fitted.support_.widen and all(k >= 1.0 for k in fitted.support_.widen.values())
    q = data.query(_model(data))
    q.metadata["params_b"] = 400.0
    widened = fitted.predict([q])
    plain = fitted.with_shift({}, {})
    level = fitted.predictive().level(q)
    for w, p in zip(widened, plain.predict([q])):
        k = fitted.support_.widen.get(w.benchmark, 1.0)
        room = fitted.support_.room(p, level)
        assert w.predicted == p.predicted and w.flags == p.flags
        assert w.upper == pytest.approx(min(p.predicted + room * k * (p.upper - p.predicted), 100.0))
        assert w.lower == pytest.approx(max(p.predicted - k * (p.predicted - p.lower), 0.0))


def test_every_interval_gets_its_levels_headroom_above_and_keeps_its_lower_side(data, fitted):
    headroom = fitted.support_.headroom
    assert {"lineage", "scores"} <= {key.split(",")[0] for key in headroom} and all(k >= 1.0 for f in headroom.values() for k in f.values())
    assert any(k > 1.0 for f in headroom.values() for k in f.values())  # the stronger models did lie above
    # a prediction at or above the benchmark's upper quartile in the reference has its own headroom
    top = fitted.support_.top
    assert set(top) == set(data.scores.columns)
    assert top["alpha"] == pytest.approx(data.scores["alpha"][data.has_data()].quantile(0.75))
    q = data.query(_model(data), benchmarks_known=("alpha",))
    plain = fitted.with_shift(fitted.support_.widen, {})
    roomy = fitted.predict([q])
    for p in roomy:
        high = p.predicted >= top.get(p.benchmark, np.inf)
        assert fitted.support_.room_key("scores", p) == ("scores, top" if high else "scores")
    assert not any(p.flags for p in roomy)
    for w, p in zip(roomy, plain.predict([q])):
        room = fitted.support_.room(p, "scores")
        assert (w.predicted, w.lower) == (p.predicted, p.lower)
        assert w.upper == pytest.approx(min(p.predicted + room * (p.upper - p.predicted), 100.0))


def test_the_headroom_holds_the_truths_of_models_stronger_than_the_reference(data):
    """Fitted without its strongest models, the reference's random-fold intervals miss them above far
    more often than 5%; the headroom learned on its own shift holdout (half of it its strongest
    models, half its newest, which here are any) brings a good share of them back."""
    strength = full_scores(data).rank(pct=True).mean(axis=1)
    has = data.has_data()
    strong = strength[has].sort_values().index[-int(0.15 * has.sum()):]
    keep = has & ~np.isin(np.array(data.models), strong)
    fitted = LRMFPredictor(**FAST, seed=0).fit(data.subset(keep))
    plain = fitted.with_shift(fitted.support_.widen, {})
    truth = full_scores(data)
    queries = [data.query(m) for m in strong]

    def above(predictor) -> float:
        rows = [(p.upper, truth.at[p.model, p.benchmark]) for p in predictor.predict(queries) if not p.observed]
        return float(np.mean([y > upper for upper, y in rows if y == y]))

    assert above(plain) > 0.15 and above(fitted) < 0.6 * above(plain)


def test_the_shift_holdout_is_the_strongest_and_the_newest(data):
    strong, newest = shift_holdout(data, 0.2)
    rows = np.flatnonzero(data.has_data())
    assert len(strong) == len(newest) == int(0.1 * len(rows))
    strength = full_scores(data).rank(pct=True).mean(axis=1)
    assert strength.iloc[strong].min() >= strength.iloc[np.setdiff1d(rows, strong)].max()
    dates = data.metadata["upload_date"]
    assert dates.iloc[newest].min() >= dates.iloc[np.setdiff1d(rows, newest)].max()
    # the submission date, when the leaderboard saw a model, wins over its upload date
    submitted = data.metadata.assign(submission_date=dates.iloc[::-1].to_numpy())
    _, newest = shift_holdout(ReferenceData(data.models, data.scores, data.items, submitted, data.edges,
                                            dict(data.benchmarks)), 0.2)
    later = submitted["submission_date"]
    assert later.iloc[newest].min() >= later.iloc[np.setdiff1d(rows, newest)].max()


def test_the_stored_predictor_keeps_its_support(data, fitted, tmp_path):
    fitted.save(tmp_path / "lrmf", "fp")
    loaded = LRMFPredictor.load(tmp_path / "lrmf", LineageGraph(data.edges), "fp")
    q = data.query(_model(data))
    q.metadata["upload_date"] = "2031-05-01"
    assert loaded.predict([q]) == fitted.predict([q])
    assert loaded.support_.widen == fitted.support_.widen and loaded.support_.headroom == fitted.support_.headroom


def test_a_random_share_reserves_the_prefix_of_a_fixed_random_order_and_plans_the_rest(data, fitted):
    from lrmf_plugin.planning import plan_items, random_reserve, reserve_count

    q = data.query(_model(data))
    plain = plan_items(fitted, q, 10, seed=4)
    shared = plan_items(fitted, q, 10, seed=4, random_share=0.3)
    for b, ids in shared.items():
        drawn = random_reserve(b, list(fitted.posterior_.item_col[b]), reserve_count(10, 0.3), 4)
        assert len(drawn) == 3 and ids[:3] == drawn and len(ids) == len(set(ids)) == 10
        assert drawn == random_reserve(b, list(fitted.posterior_.item_col[b]), 5, 4)[:3]  # a prefix of one order
        assert set(ids[3:]) <= set(fitted.posterior_.item_col[b]) - set(drawn)
    assert plan_items(fitted, q, 10, seed=4, random_share=0.0) == plain


def test_random_items_correct_a_model_stronger_than_the_reference_towards_its_truth(data, fitted):
    from lrmf_plugin.planning import random_reserve

    ids = list(fitted.posterior_.item_col["c"])
    drawn = random_reserve("c", ids, 12, 0)
    q = data.query(_model(data))
    q.items = {"c": {it: 1.0 for it in drawn}}  # a model that answers every item right (truth: 100)
    plain = next(p for p in fitted.predict([q]) if p.benchmark == "c")
    q.random_items = {"c": drawn}
    corrected = next(p for p in fitted.predict([q]) if p.benchmark == "c")
    assert plain.predicted < corrected.predicted <= 100.0
    assert abs(corrected.predicted - 100.0) < abs(plain.predicted - 100.0)
    assert corrected.upper - corrected.lower >= plain.upper - plain.lower - 1e-9 or corrected.upper == 100.0
    others = {p.benchmark: p for p in fitted.predict([q]) if p.benchmark != "c"}
    q.random_items = {}
    assert others == {p.benchmark: p for p in fitted.predict([q]) if p.benchmark != "c"}  # scores keep their scale

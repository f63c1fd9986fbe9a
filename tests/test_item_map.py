"""The item map: item answers -> full scores by a factor-analysis Gaussian conditional, how the
calibration pass keeps or drops it, its planner, and its place in the stored predictor."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from synthetic_lowrank import FAST, prediction_errors

from lrmf_plugin.dataset import ReferenceData
from lrmf_plugin.errors import UnknownItemError
from lrmf_plugin.lineage import LineageGraph
from lrmf_plugin.models.item_map import ItemScoreMap
from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.models.lrmf.calibration import held_out_cases
from lrmf_plugin.defaults import Z90
from lrmf_plugin.models.lrmf.defaults import ITEM_WEIGHTS
from lrmf_plugin.models.lrmf.predictive import Predictive, SharedSteps
from lrmf_plugin.models.lrmf.progress import FitProgress
from lrmf_plugin.planning import plan_items
from lrmf_plugin.schema import ModelQuery


@pytest.fixture(scope="module")
def mapped(split):
    """Without a calibration pass to choose, the map predicts the scores (as chosen on the leaderboard)."""
    return LRMFPredictor(**FAST, calibrate=False, seed=0).fit(split[1])


def _items(data, model, n):
    return data.query(model, items={b: list(data.items[b].items[:n]) for b in data.items})


def test_the_map_conditions_like_a_dense_gaussian():
    rng = np.random.default_rng(0)
    n, s, m = 400, 3, 12
    latent = rng.normal(size=(n, 4))
    scores = latent[:, :3] @ rng.normal(size=(3, s)) * 10 + 50
    prior = scores + rng.normal(scale=5.0, size=(n, s))
    items = (rng.random((n, m)) < 1 / (1 + np.exp(-latent @ rng.normal(size=(4, m))))).astype(float)
    fitted = ItemScoreMap(rank=5).fit(scores, prior, items, ["a", "b", "c"])
    C = fitted.loadings_ @ fitted.loadings_.T + np.diag(fitted.noise_)
    index = np.array([3, 5, fitted.item_variable(0), fitted.item_variable(7), 1])  # priors, items, a score
    values = np.array([40.0, 61.0, 1.0, 0.0, 55.0])
    extra = np.array([0.0, 0.0, 0.0, 0.0, 4.0])  # the revealed score is an estimate (sd 2)
    mean, var = fitted.predict(index, values, extra)
    # the dense conditional of the scores' true values (a revealed estimate's noise is not theirs)
    Coo = C[np.ix_(index, index)] + np.diag(extra)
    gain = C[:s][:, index] @ np.linalg.inv(Coo)
    assert mean == pytest.approx(fitted.mean_[:s] + gain @ (values - fitted.mean_[index]))
    assert var == pytest.approx(np.diag(C[:s, :s] - gain @ C[index][:, :s]))
    # a score revealed without noise is returned as itself
    exact, exact_var = fitted.predict(np.array([1]), np.array([55.0]), np.array([0.0]))
    assert exact[1] == pytest.approx(55.0) and exact_var[1] == pytest.approx(0.0)


def test_calibration_keeps_the_map_only_where_it_predicts_held_out_models_better(split, mapped, monkeypatch):
    # the fixture's answers follow the factorisation's own item model, which the linear map only
    # approximates: held out, the vector predicts better, so the calibration pass drops the map
    data, train, held = split
    calibrated = LRMFPredictor(**FAST, calibrate=True, seed=0).fit(train)
    assert mapped.item_map_ is not None and calibrated.item_map_ is None
    queries = [_items(data, m, 10) for m in held]
    with_map, _ = prediction_errors(mapped, data, queries)
    monkeypatch.setattr(mapped, "item_map_", None)
    without, _ = prediction_errors(mapped, data, queries)
    assert without.mean() < with_map.mean()


def _moments_one_by_one(predictive, cases):
    """What ``case_moments`` yields, each query's moments computed alone."""
    return [(level, b, y, *predictive.moments(q, mean)[b]) for level, q, truth, mean in cases
            for b, y in truth.items() if b not in q.scores and b in predictive.posterior.benchmarks]


def test_the_calibration_options_share_steps_without_changing_a_moment(split, mapped):
    # the item-weight search reuses a case's links, map moments, metadata targets (computed for all
    # cases in one batch) and weight-free fold-ins across its options: every option's moments (what
    # the choice is made from) must be exactly those computed afresh
    data, _, held = split
    cases, _ = held_out_cases(data, mapped, held, np.random.default_rng(0), FitProgress(False))
    cases = [c for c in cases if c[1].items]
    means = mapped.posterior_.prior_means([q for _, q, _ in cases])
    cases = [(*c, m) for c, m in zip(cases, means)]
    shared, by_option = SharedSteps(), {}
    for w in ITEM_WEIGHTS:  # in the search's order: weights, then without and with the map
        post = mapped.posterior_.with_item_weight(w)
        for m in (None, mapped.item_map_):
            predictive = Predictive(post, m, mapped.map_levels_)
            by_option[w, m is not None] = list(predictive.case_moments(cases, shared))
            assert by_option[w, m is not None] == list(predictive.case_moments(cases))
            # alone, a query's metadata targets are its row of the batch: the same trees, walked row
            # by row (the ridge prior of this fixture: the same product, up to its last bit)
            alone = _moments_one_by_one(predictive, cases)
            assert [mo[:3] + mo[5:] for mo in alone] == [mo[:3] + mo[5:] for mo in by_option[w, m is not None]]
            assert np.array([mo[3:5] for mo in alone]) == pytest.approx(
                np.array([mo[3:5] for mo in by_option[w, m is not None]]), rel=1e-12, abs=1e-12)
    # not vacuous: the weight moves the vector's moments, and the map's are its own
    assert by_option[ITEM_WEIGHTS[0], False] != by_option[ITEM_WEIGHTS[-1], False]
    assert any(mo[-1] for mo in by_option[ITEM_WEIGHTS[0], True])
    assert not any(mo[-1] for mo in by_option[ITEM_WEIGHTS[0], False])


def test_the_map_predicts_scores_of_item_queries_only(split, mapped, monkeypatch):
    data, _, held = split
    q = _items(data, held[0], 10)
    by_map = {p.benchmark: p.predicted for p in mapped.predict([q])}
    zero_with = [p.predicted for p in mapped.predict([data.query(held[0])])]
    monkeypatch.setattr(mapped, "item_map_", None)
    by_vector = {p.benchmark: p.predicted for p in mapped.predict([q])}
    assert all(by_map[b] != pytest.approx(by_vector[b]) for b in mapped.posterior_.score_names)
    assert by_map["c"] == pytest.approx(by_vector["c"])  # an item-only benchmark stays with the vector
    assert [p.predicted for p in mapped.predict([data.query(held[0])])] == pytest.approx(zero_with)


def test_the_map_predicts_only_at_the_evidence_levels_the_calibration_chose(split, mapped, monkeypatch, tmp_path):
    # the calibration pass keeps the map per level: on v1 it wins with many answers, while with a
    # few the folded-in vector can be better
    data, _, held = split
    few, many = _items(data, held[0], 10), _items(data, held[0], 40)
    assert (mapped.predictive().level(few), mapped.predictive().level(many)) == ("items", "many items")

    def centres(predictor, q):
        return {p.benchmark: p.predicted for p in predictor.predict([q])}

    by_map = {q.n_items(): centres(mapped, q) for q in (few, many)}
    monkeypatch.setattr(mapped, "map_levels_", ("many items",))
    chosen = {q.n_items(): centres(mapped, q) for q in (few, many)}
    mapped.save(tmp_path / "m", "x")
    loaded = LRMFPredictor.load(tmp_path / "m", LineageGraph(data.edges), "x")
    assert loaded.map_levels_ == ("many items",) and centres(loaded, few) == chosen[few.n_items()]
    monkeypatch.setattr(mapped, "item_map_", None)
    by_vector = {q.n_items(): centres(mapped, q) for q in (few, many)}
    assert chosen[few.n_items()] == pytest.approx(by_vector[few.n_items()])
    assert chosen[many.n_items()] == pytest.approx(by_map[many.n_items()])
    assert all(by_map[many.n_items()][b] != pytest.approx(by_vector[many.n_items()][b]) for b in mapped.posterior_.score_names)


def test_map_intervals_are_the_maps_gaussian_on_the_score_scale(split, mapped):
    # the map is Gaussian on the 0-100 scale: its interval is centre +- z90 * sd * k there; carried
    # through the normal-scores map it came out lopsided and much too wide where scores bunch
    data, _, held = split
    for model in held[:4]:
        q = _items(data, model, 10)
        moments = mapped.predictive().moments(q, mapped.posterior_.prior_means([q])[0])
        level = mapped.predictive().level(q)
        for p in mapped.predict([q]):
            if p.benchmark not in mapped.item_map_.score_names_ or p.benchmark not in q.items:
                continue  # the benchmarks without items come from the items' estimated scores
            mean, sd, raw = moments[p.benchmark]
            half = Z90 * sd * mapped.calibration_.get((p.benchmark, level), 1.0)
            assert raw and p.predicted == pytest.approx(min(max(mean, 0.0), 100.0))
            assert (p.lower, p.upper) == pytest.approx((max(mean - half, 0.0), min(mean + half, 100.0)))


def test_revealed_scores_are_map_evidence_and_estimated_ones_count_less(split, mapped):
    data, _, held = split
    model = held[1]
    q = _items(data, model, 10)
    truth = float(data.scores.loc[model, "gamma"])
    shifted = truth + 15.0

    def delta(sd=None):
        query = ModelQuery(model, q.metadata, q.parents, q.items, {"gamma": shifted}, sd or {})
        return {p.benchmark: p.predicted for p in mapped.predict([query])}

    base = {p.benchmark: p.predicted for p in mapped.predict([q])}
    exact, noisy = delta(), delta({"gamma": 10.0})
    assert exact["gamma"] == shifted and noisy["gamma"] != shifted
    moved = [abs(exact[b] - base[b]) for b in ("alpha", "beta", "delta")]
    less = [abs(noisy[b] - base[b]) for b in ("alpha", "beta", "delta")]
    assert max(moved) > 0.5 and sum(less) < sum(moved)


def test_map_predictions_batch_and_round_trip(split, mapped, tmp_path):
    data, _, held = split
    queries = [_items(data, m, n) for m, n in zip(held[:6], (3, 5, 10, 20, 40, 1))]
    batch = mapped.predict(queries)
    alone = [p for q in queries for p in mapped.predict([q])]
    assert [p.predicted for p in batch] == pytest.approx([p.predicted for p in alone])
    mapped.save(tmp_path / "m", "x")
    loaded = LRMFPredictor.load(tmp_path / "m", LineageGraph(data.edges), "x")
    assert loaded.item_map_ is not None
    assert [(p.predicted, p.lower, p.upper) for p in loaded.predict(queries)] == [
        (p.predicted, p.lower, p.upper) for p in batch]


@pytest.fixture(scope="module")
def scores_only(split):
    """The fixture without its item-only benchmark: every target is a score, so the planner works
    in the map's factors."""
    full, _, held = split
    data = ReferenceData(full.models, full.scores, {b: full.items[b] for b in ("alpha", "beta")}, full.metadata,
                         full.edges, {b: i for b, i in full.benchmarks.items() if b != "c"})
    keep = data.has_data().copy()
    keep[[data.index[m] for m in held]] = False
    return data, LRMFPredictor(**FAST, calibrate=False, seed=0).fit(data.subset(keep))


def test_the_planner_designs_in_the_maps_factors(split, scores_only):
    held = split[2]
    data, mapped = scores_only
    item_map, n = mapped.item_map_, len(mapped.posterior_.score_names)
    spread = (item_map.loadings_[:n] ** 2).sum(axis=1) + item_map.noise_[:n]

    def variance(items):  # summed target variances, each in units of the reference's spread
        _, var = item_map.predict(*mapped.posterior_.map_evidence(item_map, data.query(held[0], items=items), np.zeros(n)))
        return float(np.sum(var / spread))

    plan = plan_items(mapped, data.query(held[0]), 6, benchmarks=["alpha", "beta"])
    assert all(len(ids) == 6 for ids in plan.values())
    # the first pick (alpha's turn comes first) is the item whose answer shrinks the map's variance most
    drops = {it: variance({}) - variance({"alpha": [it]}) for it in data.items["alpha"].items}
    assert plan["alpha"][0] == max(drops, key=drops.get)
    random = plan_items(mapped, data.query(held[0]), 6, selection="random", seed=2, benchmarks=["alpha", "beta"])
    assert variance(plan) < variance(random)


def test_the_planner_designs_under_whatever_will_predict_at_the_plans_level(split, scores_only, monkeypatch):
    # 6 answers per benchmark is the "items" level: if the map predicts only "many items", the
    # plan's answers will be read by the folded-in vector, so the vector's design must choose them
    held = split[2]
    data, mapped = scores_only

    def plans(budget):
        return [plan_items(mapped, data.query(m), budget, benchmarks=["alpha", "beta"]) for m in held[:6]]

    assert "items" in mapped.map_levels_  # not calibrated: the map predicts at every item level
    by_map, by_map_many = plans(6), plans(20)
    monkeypatch.setattr(mapped, "map_levels_", ("many items",))
    chosen, chosen_many = plans(6), plans(20)  # 20 per benchmark: "many items", where the map stays
    monkeypatch.setattr(mapped, "item_map_", None)
    assert chosen == plans(6) and chosen != by_map
    assert chosen_many == by_map_many != plans(20)


def test_the_maps_planner_refuses_unknown_items_like_the_fold_in(split, scores_only):
    data, mapped = scores_only
    q = ModelQuery(split[2][0], items={"alpha": {"no-such-item": 1.0}})
    for call in (lambda: mapped.predict([q]), lambda: plan_items(mapped, q, 3, benchmarks=["alpha"])):
        with pytest.raises(UnknownItemError, match="no-such-item"):
            call()


def test_a_score_few_answering_models_have_stays_out_of_the_map(split):
    # a reference mixing suites: "zeta" is known for a fifth of the models that answer every item,
    # so the map is learned over the other scores and zeta is predicted from the vector
    full, _, held = split
    zeta = full.scores["alpha"].where(np.arange(len(full.models)) % 5 == 0) * 0.5 + 20.0
    benchmarks = {**full.benchmarks, "zeta": dataclasses.replace(full.benchmarks["gamma"], name="zeta")}
    data = ReferenceData(full.models, full.scores.assign(zeta=zeta), full.items, full.metadata, full.edges, benchmarks)
    keep = data.has_data().copy()
    keep[[data.index[m] for m in held]] = False
    fitted = LRMFPredictor(**FAST, calibrate=False, seed=0).fit(data.subset(keep))
    assert fitted.item_map_ is not None and "zeta" not in fitted.item_map_.score_names_
    assert set(fitted.item_map_.score_names_) == {"alpha", "beta", "gamma", "delta"}
    q = _items(data, held[0], 10)
    moments = fitted.predictive().moments(q, fitted.posterior_.prior_means([q])[0])
    # the map predicts the benchmarks with items; those without (zeta among them, outside the map)
    # are read from the vector folded in on the scores the map estimated
    assert moments["alpha"][2] is True and moments["zeta"][2] is False and moments["gamma"][2] is False
    assert np.isfinite(moments["zeta"][:2]).all() and moments["zeta"][1] > 0
    assert plan_items(fitted, data.query(held[0]), 3, benchmarks=["alpha"])["alpha"]  # the vector designs

"""Gradient-boosted trees as plain arrays: LightGBM's public dump copied exactly, walked together,
and grown one ensemble per target on features binned once."""
from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pytest

from lrmf_plugin.models.lrmf import MetadataPrior
from lrmf_plugin.models.lrmf.defaults import METADATA_TREES
from lrmf_plugin.models.trees import Forest, TreeEnsemble, fit_ensembles

PARAMS = {"objective": "l1", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1}


def _missing_data(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Features with missing values in training (column 0 and 1), one column without any (2), and a
    target in which a missing value carries its own signal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X[:, 0] + 2.0 * (X[:, 1] > 0) + np.sin(X[:, 2])
    X[:, :2][rng.random((n, 2)) < 0.3] = np.nan
    return X, np.where(np.isnan(X[:, 0]), 5.0, y)


def test_exported_trees_predict_as_lightgbm_does_missing_values_included():
    X, y = _missing_data(1)
    booster = lgb.train(PARAMS, lgb.Dataset(X, y), num_boost_round=30)
    ours = TreeEnsemble.from_lightgbm(booster)
    rng = np.random.default_rng(2)
    new = rng.normal(size=(300, 3))
    new[:, :2][rng.random((300, 2)) < 0.3] = np.nan  # missing where training had missing values
    for rows in (X, new):
        assert np.allclose(ours.predict(rows), booster.predict(rows), rtol=0, atol=1e-10)
    assert len(ours.roots) == 30
    assert ours.missing_left.any() and not ours.missing_left.all()


def test_a_value_never_missing_in_training_goes_where_most_rows_went():
    """LightGBM would read it as 0 (a size of 0, a date in 1970); it goes to the bigger child."""
    x = np.random.default_rng(9).uniform(-1.0, 4.0, size=(500, 1))  # four in five rows above 0
    booster = lgb.train({**PARAMS, "num_leaves": 2}, lgb.Dataset(x, 10.0 * (x[:, 0] > 0)), num_boost_round=1)
    ours = TreeEnsemble.from_lightgbm(booster)
    missing = np.array([[np.nan]])
    assert ours.predict(missing) == pytest.approx(booster.predict(np.array([[3.0]])))
    assert booster.predict(missing) == pytest.approx(booster.predict(np.array([[0.0]])))  # LightGBM's own


def test_an_early_stopped_booster_is_exported_up_to_its_best_round():
    X, y = _missing_data(3)
    fit, check = np.arange(300), np.arange(300, 400)
    train = lgb.Dataset(X[fit], y[fit])
    booster = lgb.train(PARAMS, train, num_boost_round=500, valid_sets=[lgb.Dataset(X[check], y[check], reference=train)],
                        callbacks=[lgb.early_stopping(5, verbose=False)], keep_training_booster=True)
    assert 0 < booster.best_iteration < booster.current_iteration() <= 500
    ours = TreeEnsemble.from_lightgbm(booster)
    assert len(ours.roots) == booster.best_iteration
    assert np.allclose(ours.predict(X), booster.predict(X, num_iteration=booster.best_iteration), atol=1e-10)


def test_several_ensembles_walk_together_as_each_alone(monkeypatch):
    X, _ = _missing_data(4, 250)
    boosters = [lgb.train(PARAMS, lgb.Dataset(X, np.nan_to_num(X[:, k]) ** 2), num_boost_round=n)
                for k, n in enumerate((25, 5, 40))]
    trees = [TreeEnsemble.from_lightgbm(b) for b in boosters]
    stump = dataclasses.replace(trees[1], roots=trees[1].roots[:0], baseline=0.5)  # no trees: its baseline
    out = Forest([trees[0], stump, trees[1], trees[2]]).predict(X)
    assert out.shape == (250, 4)
    for k, b in ((0, boosters[0]), (2, boosters[1]), (3, boosters[2])):
        assert np.allclose(out[:, k], b.predict(X), atol=1e-10)
    assert np.allclose(out[:, 1], 0.5)
    assert np.allclose(Forest(trees).predict(X[:1]), out[:1, [0, 2, 3]])
    import lrmf_plugin.models.trees as trees_module
    monkeypatch.setattr(trees_module, "WALK_PAIRS", 700)  # 10 rows per walk: the rows go in several chunks
    assert np.allclose(Forest([trees[0], stump, trees[1], trees[2]]).predict(X), out)


def test_a_joined_forest_predicts_a_row_alone_exactly_as_in_its_batch():
    # fold-in predicts one row at a time from the forest joined once; the calibration pass and
    # predict share a batch's rows with those one-row predictions, so they must be the same bits
    X, _ = _missing_data(5, 120)
    trees = [TreeEnsemble.from_lightgbm(lgb.train(PARAMS, lgb.Dataset(X, np.nan_to_num(X[:, k])), num_boost_round=20))
             for k in range(2)]
    forest = Forest(trees)
    batch = forest.predict(X)
    assert all(np.array_equal(forest.predict(X[i:i + 1]), batch[i:i + 1]) for i in range(len(X)))
    assert np.array_equal(batch, Forest(trees).predict(X))  # a fresh join: the same
    assert forest.joins(list(trees)) and not forest.joins([trees[1], trees[0]])
    assert not forest.joins([dataclasses.replace(trees[0]), trees[1]])  # an equal copy is another ensemble


def test_each_target_learns_only_from_its_known_rows_on_features_binned_once(monkeypatch):
    """``fit_ensembles`` as separate LightGBM fits would do it: a target's unknown rows are left
    out, every ensemble is reported in target order, and the same seed grows the same trees,
    whether the targets grow side by side or one after the other."""
    X, y = _missing_data(5, 600)
    rng = np.random.default_rng(6)
    Y = np.column_stack([y, np.where(rng.random(600) < 0.5, np.nan, 3.0 * np.nan_to_num(X[:, 1]))])
    grown = []
    params = {**METADATA_TREES, "rounds": 60}
    ensembles = fit_ensembles(X, Y, params, seed=0, done=grown.append)
    assert grown == ensembles and len(ensembles) == 2
    import lrmf_plugin.models.trees as trees_module
    monkeypatch.setattr(trees_module, "TREE_THREADS", 1)  # grown one after the other: the same trees
    again = fit_ensembles(X, Y, params, seed=0)
    assert all(np.array_equal(a.value, b.value) and np.array_equal(a.threshold, b.threshold)
               for a, b in zip(ensembles, again))
    known = ~np.isnan(Y[:, 1])
    alone = fit_ensembles(X[known], Y[known, 1:], params, seed=0)[0]
    assert len(alone.roots) > 0
    # the held-out share is drawn over all rows, so the split differs; both must fit the target
    for ens in (ensembles[1], alone):
        assert np.mean(np.abs(ens.predict(X[known]) - Y[known, 1])) < 0.5 * np.mean(np.abs(Y[known, 1]))


def test_metadata_trees_never_split_a_constant_column():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(200, 5))
    F[:, 1] = 1.0                                           # constant: never split
    F[:, 3] = np.where(rng.random(200) < 0.3, np.nan, 2.0)  # one value or missing: can split
    T = np.column_stack([F[:, 0] + 3.0 * np.isnan(F[:, 3]), F[:, 4] ** 2])
    trees = MetadataPrior("gbm", 1.0, 0).fit(F, T).trees_  # identity basis: the targets are T
    used = {int(f) for t in trees for f in t.feature if f >= 0}
    assert 1 not in used and 3 in used
    for k, t in enumerate(trees):
        assert np.mean(np.abs(t.predict(F) - T[:, k])) < 0.5 * np.mean(np.abs(T[:, k] - np.median(T[:, k])))


def test_unsupported_splits_are_refused():
    X = np.random.default_rng(7).integers(0, 4, size=(200, 1)).astype(float)
    booster = lgb.train({**PARAMS, "min_data_per_group": 5, "cat_smooth": 1.0}, lgb.Dataset(X, X[:, 0] * 2.0,
                        categorical_feature=[0]), num_boost_round=3)
    with pytest.raises(ValueError, match="numeric"):
        TreeEnsemble.from_lightgbm(booster)


def test_copies_of_one_row_are_held_out_together_so_early_stopping_stops():
    """Four copies of each of 150 models and a target that is noise: with copies validating each
    other the trees memorise the noise for every round allowed; held out by model they stop soon."""
    rng = np.random.default_rng(8)
    X = np.repeat(rng.normal(size=(150, 4)), 4, axis=0)
    Y = np.repeat(rng.normal(size=(150, 1)), 4, axis=0)
    model = np.repeat(np.arange(150), 4)
    params = {**METADATA_TREES, "rounds": 80}
    leaky = fit_ensembles(X, Y, params, seed=0)[0]
    grouped = fit_ensembles(X, Y, params, seed=0, groups=model)[0]
    assert len(leaky.roots) == 80
    assert len(grouped.roots) < 30

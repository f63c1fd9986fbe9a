"""The normal-scores transform: monotone, exact round trip, ties, out-of-range values, storage."""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from lrmf_plugin.models.normal_scores import N_KNOTS, NormalScores


def _skewed(seed: int = 0, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    math_like = np.where(rng.random(n) < 0.3, 0.0, rng.gamma(1.5, 8.0, n)).clip(0, 100)
    bimodal = np.where(rng.random(n) < 0.5, rng.normal(25, 5, n), rng.normal(70, 8, n)).clip(0, 100)
    S = np.column_stack([math_like, bimodal])
    S[rng.random(n) < 0.1, 1] = np.nan
    return S


def test_forward_is_standard_normal_and_inverse_round_trips():
    S = _skewed()
    ns = NormalScores().fit(S)
    t = ns.forward(1, S[:, 1][~np.isnan(S[:, 1])])
    assert abs(np.mean(t)) < 0.05 and abs(np.std(t) - 1) < 0.05
    # a bimodal column becomes symmetric: its quartiles sit where a normal's do
    assert np.allclose(np.quantile(t, [0.25, 0.75]), norm.ppf([0.25, 0.75]), atol=0.05)
    grid = np.linspace(np.nanmin(S[:, 1]), np.nanmax(S[:, 1]), 50)
    assert np.allclose(ns.inverse(1, ns.forward(1, grid)), grid, atol=0.5)


def test_transform_is_monotone_and_ties_map_to_one_point():
    S = _skewed()
    ns = NormalScores().fit(S)
    grid = np.linspace(-5, 105, 500)
    t = ns.forward(0, grid)
    assert np.all(np.diff(t) >= -1e-12)
    # 30% of the column is exactly 0: zero maps to the middle of that mass, not to its edge
    assert np.isclose(ns.forward(0, 0.0), norm.ppf(0.15), atol=0.03)
    # beyond the reference's range the extremes hold (no extrapolated scores above the best model)
    assert ns.inverse(0, 9.0) <= np.nanmax(S[:, 0]) + 1e-9
    assert ns.forward(0, 1e6) == ns.forward(0, np.nanmax(S[:, 0]))


def test_slope_maps_a_standard_error_onto_the_normal_scale():
    S = _skewed()
    ns = NormalScores().fit(S)
    s = float(np.nanmedian(S[:, 1]))
    h = 0.5
    numeric = (ns.forward(1, s + h) - ns.forward(1, s - h)) / (2 * h)
    assert ns.slope(1, s) > 0
    assert np.isclose(ns.slope(1, s), numeric, rtol=0.5)


def test_knots_are_thinned_and_stored_as_arrays():
    S = _skewed(n=5000)
    ns = NormalScores().fit(S)
    assert all(len(v) <= N_KNOTS for v in ns.values_)
    back = NormalScores.from_arrays(ns.to_arrays("n_"), "n_")
    grid = np.linspace(0, 100, 33)
    for k in range(2):
        assert np.array_equal(back.forward(k, grid), ns.forward(k, grid))


def test_constant_and_empty_columns_do_not_break():
    S = np.column_stack([np.full(10, 42.0), np.full(10, np.nan)])
    ns = NormalScores().fit(S)
    assert np.all(ns.forward(0, np.array([0.0, 42.0, 99.0])) == 0.0)
    assert np.all(ns.inverse(0, np.array([-2.0, 0.0, 2.0])) == 42.0)
    assert np.isfinite(ns.forward(1, np.array([5.0]))).all()

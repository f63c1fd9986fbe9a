"""Per-benchmark 2PL item response theory (tinyBenchmarks / metabench-style).

For each benchmark with items, ``P(correct) = sigmoid(a_i * theta_m + d_i)`` is fitted jointly on the
reference's models by MAP (Gaussian priors, L-BFGS). A new model's ability ``theta`` is the MAP from
the items it answered; its item-level estimate is the mean over the benchmark's items of the observed
value where it has one and the IRT probability elsewhere (p-IRT), and a monotone map learned on the
reference models turns that mean into the full score (the stored items may be a subset of the
benchmark). Benchmarks without items, or with none observed, get the global mean: one benchmark's
ability says nothing about another here, by design of the baseline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from ..dataset import ReferenceData
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .monotone import MonotoneMap
from .scores import full_scores, make_prediction, observed_item_vector


@dataclass
class _BenchmarkIRT:
    items: list[str]
    slope: np.ndarray
    intercept: np.ndarray
    score_map: MonotoneMap | None


class IRTPredictor(Predictor):
    """Per-benchmark 2PL IRT with MAP ability fold-in and a learned item-mean -> score map.

    Parameters
    ----------
    slope_prior_sd, intercept_prior_sd: Gaussian prior widths of ``a`` (centred at 1) and ``d`` (at 0).
    max_iter: L-BFGS iterations of the joint fit.
    """

    name = "irt"

    def __init__(self, slope_prior_sd: float = 1.0, intercept_prior_sd: float = 3.0, max_iter: int = 300) -> None:
        self.slope_prior_sd = slope_prior_sd
        self.intercept_prior_sd = intercept_prior_sd
        self.max_iter = max_iter

    def fit(self, data: ReferenceData) -> "IRTPredictor":
        scores = full_scores(data)
        self.benchmarks_ = list(scores.columns)
        self.mean_ = scores.mean(axis=0).to_numpy()
        self.irt_: dict[str, _BenchmarkIRT] = {}
        for b in self.benchmarks_:
            if b not in data.items:
                continue
            values = data.items[b].values.astype(float)
            rows = ~np.isnan(values).all(axis=1)
            if rows.sum() < 2:
                continue
            theta, slope, intercept = self._fit_2pl(values[rows])
            model = _BenchmarkIRT(list(data.items[b].items), slope, intercept, None)
            y = scores[b].to_numpy()[rows]
            ok = ~np.isnan(y)
            if ok.any():
                x = self._item_mean(values[rows], theta, model)
                model.score_map = MonotoneMap().fit(x[ok], y[ok])
            self.irt_[b] = model
        self.data_ = data
        return self

    def _fit_2pl(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Joint MAP of abilities, slopes and intercepts on a (models x items) matrix with NaN gaps."""
        n, m = y.shape
        mask = ~np.isnan(y)
        y0 = np.where(mask, y, 0.0)
        # start from the standardised logit of each model's mean, the usual 1-D IRT initialisation
        rate = np.clip(np.nanmean(y, axis=1), 0.02, 0.98)
        theta0 = np.log(rate / (1 - rate))
        theta0 = (theta0 - theta0.mean()) / (theta0.std() + 1e-9)
        item_rate = np.clip(np.nanmean(np.where(mask, y, np.nan), axis=0), 0.02, 0.98)
        x0 = np.concatenate([theta0, np.ones(m), np.nan_to_num(np.log(item_rate / (1 - item_rate)))])
        va, vd = self.slope_prior_sd ** 2, self.intercept_prior_sd ** 2

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            theta, a, d = x[:n], x[n:n + m], x[n + m:]
            z = np.outer(theta, a) + d
            p = expit(z)
            nll = np.sum(mask * (np.logaddexp(0.0, z) - y0 * z))
            r = mask * (p - y0)
            f = nll + 0.5 * (theta @ theta + np.sum((a - 1) ** 2) / va + d @ d / vd)
            grad = np.concatenate([r @ a + theta, r.T @ theta + (a - 1) / va, r.sum(axis=0) + d / vd])
            return float(f), grad

        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        return res.x[:n], res.x[n:n + m], res.x[n + m:]

    @staticmethod
    def _item_mean(values: np.ndarray, theta: np.ndarray, model: _BenchmarkIRT) -> np.ndarray:
        """Per row: mean over items of the observed value, or the IRT probability where unobserved."""
        p = expit(np.outer(theta, model.slope) + model.intercept)
        return np.where(np.isnan(values), p, values).mean(axis=1)

    def _ability(self, observed: np.ndarray, model: _BenchmarkIRT, iterations: int = 25) -> np.ndarray:
        """MAP ability (standard normal prior) per row of ``observed`` (NaN = unseen), by Newton steps."""
        mask = ~np.isnan(observed)
        y = np.where(mask, observed, 0.0)
        theta = np.zeros(observed.shape[0])
        a, d = model.slope, model.intercept
        for _ in range(iterations):
            p = expit(np.outer(theta, a) + d)
            grad = (mask * (y - p)) @ a - theta
            hess = (mask * p * (1 - p)) @ (a ** 2) + 1.0
            step = grad / hess
            theta += step
            if np.max(np.abs(step)) < 1e-8:
                break
        return theta

    def _observed(self, queries: Sequence[ModelQuery], benchmark: str) -> np.ndarray:
        items = self.irt_[benchmark].items
        return np.array([observed_item_vector(q, benchmark, items) for q in queries]).reshape(len(queries), len(items))

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        estimate = np.tile(self.mean_, (len(queries), 1))
        for j, b in enumerate(self.benchmarks_):
            model = self.irt_.get(b)
            if model is None or model.score_map is None or not queries:
                continue
            observed = self._observed(queries, b)
            any_seen = ~np.isnan(observed).all(axis=1)
            if any_seen.any():
                theta = self._ability(observed[any_seen], model)
                estimate[any_seen, j] = model.score_map(self._item_mean(observed[any_seen], theta, model))
        return [make_prediction(q, b, estimate[i, j]) for i, q in enumerate(queries) for j, b in enumerate(self.benchmarks_)]

    def item_probabilities(self, query: ModelQuery, benchmark: str) -> np.ndarray | None:
        self._check_fitted()
        model = self.irt_.get(benchmark)
        if model is None:
            return None
        theta = self._ability(self._observed([query], benchmark), model)
        return expit(theta[0] * model.slope + model.intercept)

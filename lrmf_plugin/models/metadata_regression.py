"""Metadata regression: predict each benchmark from card facts alone (size, architecture, type, name).

The baseline for a model with no relatives and no evaluations. One ridge regression per benchmark on
the shared :class:`~lrmf_plugin.features.MetadataFeaturizer` features; the ridge strength is chosen
per benchmark by exact leave-one-out error (closed form from one eigendecomposition), and the same leave-one-out
residuals give a natural 90% interval.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..dataset import ReferenceData
from ..features import MetadataFeaturizer
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .scores import full_scores, make_prediction


class MetadataRegressionPredictor(Predictor):
    """Per-benchmark ridge regression on metadata features.

    Parameters
    ----------
    alphas: candidate ridge strengths (on standardised features); the leave-one-out best is kept.
    coverage: nominal coverage of the residual-quantile interval.
    """

    name = "metadata_regression"

    def __init__(self, alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0), coverage: float = 0.9) -> None:
        self.alphas = alphas
        self.coverage = coverage

    def fit(self, data: ReferenceData) -> "MetadataRegressionPredictor":
        scores = full_scores(data)
        self.benchmarks_ = list(scores.columns)
        # only models with a score teach the regression; lineage-only nodes would just cost time
        rows_with = scores.notna().any(axis=1).to_numpy()
        meta = data.metadata[rows_with]
        self.featurizer_ = MetadataFeaturizer().fit(meta)
        x = self.featurizer_.transform(meta)
        scores = scores[rows_with]
        tail = (1.0 - self.coverage) / 2.0
        n_feat = x.shape[1]
        self.coef_ = np.zeros((len(self.benchmarks_), n_feat))
        self.intercept_ = np.full(len(self.benchmarks_), np.nan)
        self.residual_quantiles_ = np.full((len(self.benchmarks_), 2), np.nan)
        self.alpha_ = np.full(len(self.benchmarks_), np.nan)
        for j, b in enumerate(self.benchmarks_):
            y = scores[b].to_numpy()
            rows = ~np.isnan(y)
            if rows.sum() < 3:
                self.intercept_[j] = np.nanmean(y) if rows.any() else np.nan
                continue
            coef, intercept, alpha, loo = self._ridge_loo(x[rows], y[rows])
            self.coef_[j], self.intercept_[j], self.alpha_[j] = coef, intercept, alpha
            self.residual_quantiles_[j] = np.quantile(loo, [tail, 1.0 - tail])
        self.data_ = data
        return self

    def _ridge_loo(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray]:
        """Ridge fit whose alpha minimises the exact leave-one-out squared error; returns LOO residuals."""
        xm, ym = x.mean(axis=0), y.mean()
        xc, yc = x - xm, y - ym
        # thin SVD through the small feature Gram matrix: far cheaper than svd(xc) when rows >> features
        evals, v = np.linalg.eigh(xc.T @ xc)
        keep = evals > 1e-9 * max(evals.max(), 1e-300)
        s, v = np.sqrt(evals[keep]), v[:, keep]
        u, vt = (xc @ v) / s, v.T
        uty = u.T @ yc
        best = None
        for alpha in self.alphas:
            shrink = s ** 2 / (s ** 2 + alpha)
            fitted = u @ (shrink * uty)
            # leverage of the centred fit plus the intercept's 1/n
            h = (u ** 2) @ shrink + 1.0 / len(y)
            loo = (yc - fitted) / np.clip(1.0 - h, 1e-6, None)
            err = float(np.mean(loo ** 2))
            if best is None or err < best[0]:
                best = (err, alpha, loo)
        _, alpha, loo = best
        coef = vt.T @ ((s / (s ** 2 + alpha)) * uty)
        return coef, float(ym - xm @ coef), float(alpha), loo

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        if not queries:
            return []
        x = self.featurizer_.transform([q.metadata for q in queries], models=[q.model for q in queries])
        pred = x @ self.coef_.T + self.intercept_
        lo = pred + self.residual_quantiles_[:, 0]
        hi = pred + self.residual_quantiles_[:, 1]
        return [make_prediction(q, b, pred[i, j], lo[i, j], hi[i, j])
                for i, q in enumerate(queries) for j, b in enumerate(self.benchmarks_)]

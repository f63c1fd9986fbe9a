"""AIPW: a model's item predictions, corrected by the mean residual on a uniformly random sample.

As in arXiv 2506.07673's package, the "model" is learned per query from the reference: each item
is a sample whose features are the reference models' answers to it, and a ridge regression fitted
on the query's observed items predicts the query's answer to every item of the block. With ``S``
the ``n`` observed items and ``R`` the other ``N - n``, the block mean is estimated as

    mean_S(y) + (N - n) / N * (mean_R(yhat) - mean_S(yhat)),

i.e. the observed items as they are plus, for the unobserved ones, the model's predictions shifted
by the mean residual on ``S``. When ``S`` is a uniformly random sample the residual term makes the
estimate design-unbiased whatever the model gets wrong (a poor model only costs variance), which is
why it keeps its accuracy on models unlike the reference. The interval is the sampling spread of the
mean residual (leave-one-out residuals of the ridge, with the finite-population correction), put on
the score scale as random sampling's is (:func:`~lrmf_plugin.models.random_sampling.on_score_scale`).
"""
from __future__ import annotations

import math

import numpy as np

from ..dataset import ReferenceData
from ..defaults import Z90
from .random_sampling import ItemBaseline, on_score_scale


class AIPWPredictor(ItemBaseline):
    """Augmented inverse-probability-weighted (prediction-powered) block mean, as a score.

    Parameters
    ----------
    alpha: ridge penalty of the per-query item model (features: the reference models' 0/1 answers).
    """

    name = "aipw"

    def __init__(self, min_models: int = 10, alpha: float = 10.0) -> None:
        super().__init__(min_models)
        self.alpha = alpha

    def fit(self, data: ReferenceData) -> "AIPWPredictor":
        super().fit(data)
        # items x models: the reference models that answered the whole block are the features
        self.features_ = {b: np.ascontiguousarray(block.values[~np.isnan(block.values).any(axis=1)].T, dtype=float)
                          for b, block in data.items.items() if b in self.lines_}
        return self

    def estimate(self, benchmark: str, vec: np.ndarray, seen: np.ndarray) -> tuple[float, float, float] | None:
        line = self.lines_.get(benchmark)
        feats = self.features_.get(benchmark)
        if line is None or feats is None or feats.shape[1] < self.min_models:
            return None
        y = vec[seen]
        yhat, loo = self._ridge(feats, seen, y)
        n, n_block = len(seen), len(vec)
        rest = np.ones(n_block, dtype=bool)
        rest[seen] = False
        mean = float(y.mean())
        if rest.any():
            mean += rest.sum() / n_block * float(yhat[rest].mean() - yhat[seen].mean())
        # one pseudo-residual of binomial size: a handful of items can all agree with the model, and a
        # zero-width interval would claim a certainty the sample does not have
        p = (y.sum() + 1.0) / (n + 2.0)
        var = (float(np.sum(loo ** 2)) + p * (1 - p)) / n
        sd = math.sqrt(var / n * max(0.0, 1.0 - n / n_block))
        return on_score_scale(line, mean, mean - Z90 * sd, mean + Z90 * sd)

    def _ridge(self, feats: np.ndarray, seen: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictions for every item, and leave-one-out residuals on the observed ones (kernel form:
        a handful of items against hundreds or thousands of reference models)."""
        x = feats[seen]
        xm, ym = x.mean(axis=0), float(y.mean())
        xc = x - xm
        kernel = xc @ xc.T
        solve = np.linalg.solve(kernel + self.alpha * np.eye(len(y)), np.c_[y - ym, kernel])
        weights = xc.T @ solve[:, 0]
        yhat = ym + (feats - xm) @ weights
        hat = np.diag(solve[:, 1:]) + 1.0 / len(y)
        loo = (y - yhat[seen]) / np.maximum(1.0 - hat, 1e-6)
        return yhat, loo

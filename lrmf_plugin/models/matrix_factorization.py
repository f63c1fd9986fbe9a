"""Plain matrix factorisation over scores and items, without lineage or metadata (CPP-style MF).

All reference columns (benchmark scores and item observations) are standardised and factorised as
``Z ~ U V^T`` with a Gaussian likelihood and ridge penalties, by alternating least squares. Rows
(and columns) that share the same pattern of observed entries share one linear solve, so dense
blocks cost a handful of solves per sweep. A new model's vector is the ridge solution on whatever
it gives (known scores, observed items); with nothing it is zero and the prediction is the column
mean. This is the "conventional MF" LRMF is compared with.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..dataset import ReferenceData
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .scores import full_scores, make_prediction, observed_item_vector


def _solve_grouped(r: np.ndarray, mask: np.ndarray, factors: np.ndarray, weights: np.ndarray,
                   penalty: float) -> np.ndarray:
    """Ridge solutions, one per row of ``r``, over the columns each row observes.

    Rows with identical observation patterns are solved together: one factorisation per pattern.
    """
    k = factors.shape[1]
    out = np.zeros((r.shape[0], k))
    if r.shape[0] == 0:
        return out
    packed = np.packbits(mask, axis=1)
    _, group = np.unique(packed, axis=0, return_inverse=True)
    group = group.ravel()
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        cols = np.flatnonzero(mask[rows[0]])
        if len(cols) == 0:
            continue
        f = factors[cols] * np.sqrt(weights[cols])[:, None]
        gram = f.T @ f + penalty * np.eye(k)
        rhs = (r[np.ix_(rows, cols)] * np.sqrt(weights[cols])) @ f
        out[rows] = np.linalg.solve(gram, rhs.T).T
    return out


class MatrixFactorizationPredictor(Predictor):
    """Gaussian MF of standardised score and item columns, fitted by ALS.

    Parameters
    ----------
    n_factors: latent dimension.
    penalty: ridge penalty on model and column vectors.
    score_weight: weight of a score cell relative to an item cell (scores are few, items many).
    n_iter: ALS sweeps.
    seed: initialisation seed.
    """

    name = "mf"

    def __init__(self, n_factors: int = 5, penalty: float = 1.0, score_weight: float = 5.0,
                 n_iter: int = 30, seed: int = 0) -> None:
        self.n_factors = n_factors
        self.penalty = penalty
        self.score_weight = score_weight
        self.n_iter = n_iter
        self.seed = seed

    def fit(self, data: ReferenceData) -> "MatrixFactorizationPredictor":
        scores = full_scores(data)
        self.benchmarks_ = list(scores.columns)
        # benchmarks known only by complete items are modelled through their items, not twice
        self.score_columns_ = [b for b in self.benchmarks_ if b in data.scores.columns and scores[b].notna().any()]
        self.item_blocks_ = {b: data.items[b].items for b in self.benchmarks_ if b in data.items}
        parts = [scores[self.score_columns_].to_numpy(dtype=float)]
        parts += [data.items[b].values.astype(float) for b in self.item_blocks_]
        raw = np.concatenate(parts, axis=1)
        self.center_ = np.nan_to_num(np.nanmean(raw, axis=0))
        self.scale_ = np.nan_to_num(np.nanstd(raw, axis=0), nan=1.0)
        self.scale_ = np.where(self.scale_ > 1e-6, self.scale_, 1.0)
        self.weights_ = np.ones(raw.shape[1])
        self.weights_[: len(self.score_columns_)] = self.score_weight
        z = (raw - self.center_) / self.scale_
        mask = ~np.isnan(z)
        z = np.where(mask, z, 0.0)
        rows = mask.any(axis=1)
        rng = np.random.default_rng(self.seed)
        v = rng.normal(scale=0.1, size=(z.shape[1], self.n_factors))
        u = np.zeros((rows.sum(), self.n_factors))
        for _ in range(self.n_iter):
            u = _solve_grouped(z[rows], mask[rows], v, self.weights_, self.penalty)
            # a weight-w column counts as w copies of itself, penalty included, so it cancels here
            v = _solve_grouped(z[rows].T, mask[rows].T, u, np.ones(len(u)), self.penalty)
        self.components_ = v
        self.data_ = data
        return self

    def _offsets(self) -> dict[str, slice]:
        """Column slice of each item block in the stacked matrix."""
        out, start = {}, len(self.score_columns_)
        for b, items in self.item_blocks_.items():
            out[b] = slice(start, start + len(items))
            start += len(items)
        return out

    def _vectors(self, queries: Sequence[ModelQuery]) -> np.ndarray:
        """Fold-in: each query's latent vector from its known scores and observed items."""
        raw = np.full((len(queries), len(self.center_)), np.nan)
        offsets = self._offsets()
        for i, q in enumerate(queries):
            for j, b in enumerate(self.score_columns_):
                if b in q.scores:
                    raw[i, j] = q.scores[b]
            for b, sl in offsets.items():
                raw[i, sl] = observed_item_vector(q, b, self.item_blocks_[b])
        z = (raw - self.center_) / self.scale_
        mask = ~np.isnan(z)
        return _solve_grouped(np.where(mask, z, 0.0), mask, self.components_, self.weights_, self.penalty)

    def _reconstruct(self, u: np.ndarray) -> np.ndarray:
        return self.center_ + self.scale_ * (u @ self.components_.T)

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        if not queries:
            return []
        full = self._reconstruct(self._vectors(queries))
        offsets = self._offsets()
        out = []
        for i, q in enumerate(queries):
            for b in self.benchmarks_:
                if b in self.score_columns_:
                    value = full[i, self.score_columns_.index(b)]
                elif b in self.item_blocks_:  # known only by its complete items: observed where seen, else predicted
                    obs = observed_item_vector(q, b, self.item_blocks_[b])
                    pred = np.clip(full[i, offsets[b]], 0.0, 1.0)
                    value = 100.0 * np.where(np.isnan(obs), pred, obs).mean()
                else:  # nothing to learn from
                    value = np.nan
                out.append(make_prediction(q, b, value))
        return out

    def item_probabilities(self, query: ModelQuery, benchmark: str) -> np.ndarray | None:
        self._check_fitted()
        if benchmark not in self.item_blocks_:
            return None
        full = self._reconstruct(self._vectors([query]))[0]
        return np.clip(full[self._offsets()[benchmark]], 0.0, 1.0)

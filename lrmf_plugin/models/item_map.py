"""Item answers -> full benchmark scores: a factor-analysis (linear-Gaussian) map learned from the reference.

In the factorisation, an item reaches a benchmark score only through the model vector: its loadings
are logistic, fitted with the vector pinned by the scores on the normal-scores scale, and answers
are assumed independent given the vector, so that path levels off however many items are answered.
A full score is a mean of item answers, so on the 0-100 scale it is close to linear in them, and the
answers share structure the vector does not carry: a Gaussian conditional of the scores on the
answered items, with the covariance learned from the reference's models, uses both.

The variables are ``[scores (s), prior predictions (s), items (m)]``: the prior predictions are the
factorisation's zero-evidence predictions (metadata and lineage), so the map can lean on them when
few items are answered. Their covariance is a factor model, ``L L' + diag(D)`` (rank ``rank``, from a
truncated SVD of the standardised complete rows, plus a nugget), so conditioning on any subset of
variables costs an ``r x r`` solve however many items the reference has, and a greedy planner can
score candidates by rank-one updates of the factors' posterior.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.extmath import randomized_svd

#: factors of the map's covariance (more did not predict better; see docs/experiments.md)
MAP_RANK = 50
#: share of each variable's variance kept as its own noise (shrinks the covariance toward its diagonal)
NUGGET = 0.05
#: complete rows (every score of the map and every item observed) needed to learn the map
MIN_MAP_ROWS = 50
#: a score is one of the map's variables if at least this share of the models with every item has it
#: (a reference that mixes suites has no model with every score)
MAP_SCORE_SHARE = 0.9


class ItemScoreMap:
    """Mean ``mean_``, loadings ``loadings_`` (variables x r) and noise variances ``noise_`` of the
    variables ``[scores, prior predictions, items]``; ``score_names_`` names the s scores, in order."""

    def __init__(self, rank: int = MAP_RANK, nugget: float = NUGGET):
        self.rank = rank
        self.nugget = nugget

    def fit(self, scores: np.ndarray, prior: np.ndarray, items: np.ndarray, score_names: list[str]) -> "ItemScoreMap":
        """Learn the map from complete rows (one per reference model): raw scores (columns
        ``score_names``), the factorisation's out-of-fold zero-evidence predictions of them, and item
        answers."""
        X = np.hstack([scores, prior, items]).astype(np.float32)
        n, v = X.shape
        self.score_names_ = list(score_names)
        self.n_scores_ = len(self.score_names_)
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        sd = X.std(axis=0, dtype=np.float64)
        sd[sd < 1e-9] = 1.0  # a constant variable: no loadings, only the nugget
        X -= self.mean_.astype(np.float32)
        X /= (sd * np.sqrt(n)).astype(np.float32)
        r = max(1, min(self.rank, n - 1, v - 1))
        if r >= min(n, v) // 2:
            _, s, vt = np.linalg.svd(X, full_matrices=False)
            s, vt = s[:r], vt[:r]
        else:  # a randomised range finder: at leaderboard scale several times faster than ARPACK
            _, s, vt = randomized_svd(X, r, n_iter=4, random_state=0)
        L = vt.T.astype(np.float64) * s.astype(np.float64)  # standardised loadings: |row|^2 <= 1
        D = np.maximum(1.0 - (L ** 2).sum(axis=1), 0.0) + self.nugget
        self.loadings_ = L * sd[:, None]
        self.noise_ = D * sd ** 2
        return self

    def factors(self, index: np.ndarray, values: np.ndarray, extra_noise: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and covariance of the factors given variables ``index`` = ``values``
        (``extra_noise``: added variance of each, e.g. an estimated score's squared standard error)."""
        L = self.loadings_[index]
        w = 1.0 / (self.noise_[index] + (0.0 if extra_noise is None else extra_noise))
        precision = np.eye(L.shape[1]) + (L * w[:, None]).T @ L
        cov = np.linalg.inv(precision)
        return cov @ (L.T @ (w * (values - self.mean_[index]))), cov

    def predict(self, index: np.ndarray, values: np.ndarray, extra_noise: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and variance of every score variable given variables ``index`` = ``values``
        (with ``extra_noise``). A score revealed with extra noise also keeps what its own reading says
        beyond the factors (its share ``D / (D + extra)`` of the residual)."""
        f, cov = self.factors(index, values, extra_noise)
        s = self.n_scores_
        L = self.loadings_[:s]
        mean = self.mean_[:s] + L @ f
        common = np.einsum("sr,rq,sq->s", L, cov, L)
        own = np.zeros(s)  # share of each score's own residual its reading reveals
        var_own = self.noise_[:s].copy()
        for k, j in enumerate(index):
            if j < s:
                a = self.noise_[j] / (self.noise_[j] + extra_noise[k])
                mean[j] += a * (values[k] - mean[j])
                own[j], var_own[j] = a, a * extra_noise[k]
        return mean, (1 - own) ** 2 * common + var_own

    def item_variable(self, column: np.ndarray | int) -> np.ndarray | int:
        """Variable index of item column(s) of the factorisation's item block."""
        return 2 * self.n_scores_ + column

    # -- persistence ---------------------------------------------------------------------------
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean_, f"{prefix}loadings": self.loadings_, f"{prefix}noise": self.noise_,
                f"{prefix}scores": np.array(self.score_names_, dtype=str),
                f"{prefix}hyper": np.array([self.rank, self.nugget])}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "ItemScoreMap":
        rank, nugget = arrays[f"{prefix}hyper"]
        self = cls(int(rank), float(nugget))
        self.mean_, self.loadings_ = arrays[f"{prefix}mean"], arrays[f"{prefix}loadings"]
        self.noise_, self.score_names_ = arrays[f"{prefix}noise"], [str(b) for b in arrays[f"{prefix}scores"]]
        self.n_scores_ = len(self.score_names_)
        return self

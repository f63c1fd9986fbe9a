"""Normal scores: a monotone map of each benchmark's scores onto a standard normal scale.

Leaderboard scores are far from Gaussian (MATH piles up at 0, IFEval is bimodal, GSM8K is skewed)
and their relation to item-level ability is not linear on the 0-100 scale: a model near chance on
MMLU can gain many items without moving its score. On the normal-scores scale ``t = Phi^-1(F(s))``,
with ``F`` the reference's empirical distribution, a Gaussian likelihood fits, item logits are close
to linear in ``t``, and a Gaussian prediction maps back exactly: quantiles are preserved by a
monotone map, so the back-transformed posterior mean is the predictive median (what minimises the
absolute error) and back-transformed ``t`` quantiles are the interval's ends.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

#: quantile knots kept per benchmark (the artifact stores them; more adds nothing at leaderboard sizes)
N_KNOTS = 401


class NormalScores:
    """Per-column empirical-quantile transform, fitted on the reference's scores (NaN ignored).

    State: ``values_[k]`` (non-decreasing knots of column k) and ``probs_[k]`` (their cumulative
    probabilities, averaged over tied values so a pile of zeros maps to one point in the middle of
    its mass). Arrays only, so it is stored in the predictor's npz.
    """

    def fit(self, S: np.ndarray) -> "NormalScores":
        self.values_, self.probs_ = [], []
        for col in np.asarray(S, dtype=float).T:
            x = np.sort(col[~np.isnan(col)])
            if len(x) == 0:
                x = np.array([0.0])
            n = len(x)
            q = (np.arange(n) + 0.5) / n
            values, inverse = np.unique(x, return_inverse=True)
            probs = np.bincount(inverse, weights=q) / np.bincount(inverse)
            if len(values) > N_KNOTS:  # thin evenly in probability, keeping both ends
                keep = np.unique(np.searchsorted(probs, np.linspace(probs[0], probs[-1], N_KNOTS)).clip(0, len(values) - 1))
                values, probs = values[keep], probs[keep]
            self.values_.append(values)
            self.probs_.append(probs)
        return self

    def forward(self, k: int, s: np.ndarray | float) -> np.ndarray:
        """Scores of column ``k`` -> normal scores (outside the reference's range: its extremes)."""
        values, probs = self.values_[k], self.probs_[k]
        if len(values) == 1:
            return np.zeros_like(np.asarray(s, dtype=float))
        return ndtri(np.interp(s, values, probs))

    def inverse(self, k: int, t: np.ndarray | float) -> np.ndarray:
        """Normal scores of column ``k`` -> scores."""
        values, probs = self.values_[k], self.probs_[k]
        if len(values) == 1:
            return np.full_like(np.asarray(t, dtype=float), values[0])
        return np.interp(ndtr(t), probs, values)

    def slope(self, k: int, s: float) -> float:
        """d t / d s at score ``s`` (maps a score's standard error onto the normal-scores scale)."""
        values = self.values_[k]
        h = max(1e-3, 0.02 * float(values[-1] - values[0]))
        return float((self.forward(k, s + h) - self.forward(k, s - h)) / (2 * h))

    # -- persistence ---------------------------------------------------------------------------
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}n": np.array([len(v) for v in self.values_], dtype=int)}
        out[f"{prefix}values"] = np.concatenate(self.values_) if self.values_ else np.zeros(0)
        out[f"{prefix}probs"] = np.concatenate(self.probs_) if self.probs_ else np.zeros(0)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "NormalScores":
        self = cls()
        cuts = np.cumsum(arrays[f"{prefix}n"])[:-1]
        self.values_ = list(np.split(arrays[f"{prefix}values"], cuts)) if len(arrays[f"{prefix}n"]) else []
        self.probs_ = list(np.split(arrays[f"{prefix}probs"], cuts)) if len(arrays[f"{prefix}n"]) else []
        return self

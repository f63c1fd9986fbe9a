"""Random sampling, the baseline that survives shift (arXiv 2506.07673): a score from the plain mean
of items drawn uniformly at random, and its regression variant.

The mean of ``n`` items drawn without replacement from a block of ``N`` is a design-unbiased estimate
of the block's mean whatever the model is, which is why it keeps working on models unlike the
reference when learned predictors break down. Two steps are not design-based, and say so:

* the block mean is put on the benchmark's score scale by a straight line fitted on the reference
  models that answered the whole block (:func:`fit_score_lines`). Where the block is the benchmark's
  whole test set (v2 IFEval and MuSR responses) that line is the leaderboard's own rescaling, up to
  IFEval's instruction-level half; where the block is a chosen subset (v1's metabench items, picked
  for being informative) the line is a regression across models, so the estimate inherits its bias
  on models unlike the reference and is no longer design-unbiased for the score;
* the interval is the Wilson 90% interval of the block mean, with the finite-population correction,
  mapped through the line and widened in quadrature by the line's residual spread.

:class:`RandomRegressionPredictor` is "random sampling + regression": the score regressed (ridge) on
the sampled items' answers across the reference models, fitted for each query's own items.
Benchmarks without observed items get the global-mean baseline's estimate and interval.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..dataset import ReferenceData
from ..defaults import Z90
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .global_mean import GlobalMeanPredictor
from .scores import full_scores, make_prediction, observed_item_vector


@dataclass(frozen=True)
class ScoreLine:
    """``score = intercept + slope * block mean``, and the spread of the reference around it."""

    intercept: float
    slope: float
    resid_sd: float

    def __call__(self, mean: float) -> float:
        return self.intercept + self.slope * mean


def fit_score_lines(data: ReferenceData, min_models: int = 10) -> dict[str, ScoreLine]:
    """Per benchmark with items: the line from a model's mean over the whole block to its score,
    fitted on the reference models that answered every item (fewer than ``min_models``: no line)."""
    scores = full_scores(data)
    lines = {}
    for b, block in data.items.items():
        if b not in scores.columns:
            continue
        y = scores[b].to_numpy()
        ok = ~np.isnan(block.values).any(axis=1) & ~np.isnan(y)
        if ok.sum() < min_models:
            continue
        x = block.values[ok].mean(axis=1).astype(float)
        slope, intercept = np.polyfit(x, y[ok], 1)
        resid = y[ok] - (intercept + slope * x)
        lines[b] = ScoreLine(float(intercept), float(slope), float(np.sqrt(np.mean(resid ** 2))))
    return lines


def wilson(p: float, n: int, n_block: int, z: float = Z90) -> tuple[float, float]:
    """Wilson interval of a mean of ``n`` items drawn without replacement from ``n_block``: the
    finite-population correction enters as a larger effective sample (all items: no uncertainty)."""
    if n >= n_block:
        return p, p
    n_eff = n * (n_block - 1) / (n_block - n)
    denom = 1.0 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
    return centre - half, centre + half


class ItemBaseline(Predictor):
    """What the item baselines share: the fallback for benchmarks without items, the score lines."""

    def __init__(self, min_models: int = 10) -> None:
        self.min_models = min_models

    def fit(self, data: ReferenceData) -> "ItemBaseline":
        self.fallback_ = GlobalMeanPredictor().fit(data)
        self.benchmarks_ = list(self.fallback_.benchmarks_)
        self.lines_ = fit_score_lines(data, self.min_models)
        self.data_ = data
        return self

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        fb = self.fallback_
        out = []
        for q in queries:
            for j, b in enumerate(self.benchmarks_):
                estimate = None
                if b in self.data_.items and b not in q.scores:
                    vec = observed_item_vector(q, b, self.data_.items[b].items)
                    seen = np.flatnonzero(~np.isnan(vec))
                    if len(seen):
                        estimate = self.estimate(b, vec, seen)
                if estimate is None:
                    estimate = (fb.mean_[j], fb.lower_[j], fb.upper_[j])
                out.append(make_prediction(q, b, *estimate))
        return out

    @abstractmethod
    def estimate(self, benchmark: str, vec: np.ndarray, seen: np.ndarray) -> tuple[float, float, float] | None:
        """(estimate, lower, upper) from the observed items ``vec[seen]``, or None to fall back."""


def on_score_scale(line: ScoreLine, mean: float, lower: float, upper: float) -> tuple[float, float, float]:
    """A block-mean estimate and interval as a score: through the line, widened by its residual spread."""
    centre = line(mean)
    ends = sorted((line(lower), line(upper)))
    low = math.hypot(centre - ends[0], Z90 * line.resid_sd)
    high = math.hypot(ends[1] - centre, Z90 * line.resid_sd)
    return centre, centre - low, centre + high


class RandomSamplingPredictor(ItemBaseline):
    """The plain mean of the observed items with its binomial (Wilson) interval, as a score."""

    name = "random_sampling"

    def estimate(self, benchmark: str, vec: np.ndarray, seen: np.ndarray) -> tuple[float, float, float] | None:
        line = self.lines_.get(benchmark)
        if line is None:
            return None
        p = float(vec[seen].mean())
        return on_score_scale(line, p, *wilson(p, len(seen), len(vec)))


class RandomRegressionPredictor(ItemBaseline):
    """Random sampling + regression: ridge of the score on the answers to the query's own items,
    fitted across the reference models that answered them; the interval from leave-one-out residuals.

    Parameters
    ----------
    alpha: ridge penalty on the item weights (answers are 0/1, so it is on the scale of item counts).
    """

    name = "random_regression"

    def __init__(self, min_models: int = 10, alpha: float = 1.0) -> None:
        super().__init__(min_models)
        self.alpha = alpha

    def fit(self, data: ReferenceData) -> "RandomRegressionPredictor":
        super().fit(data)
        self.scores_ = full_scores(data)
        self.cache_: dict[tuple[str, tuple[int, ...]], tuple[float, np.ndarray, float] | None] = {}
        return self

    def estimate(self, benchmark: str, vec: np.ndarray, seen: np.ndarray) -> tuple[float, float, float] | None:
        key = (benchmark, tuple(seen.tolist()))
        if key not in self.cache_:
            self.cache_[key] = self._ridge(benchmark, seen)
        fitted = self.cache_[key]
        if fitted is None:
            return None
        intercept, weights, sd = fitted
        est = intercept + float(vec[seen] @ weights)
        return est, est - Z90 * sd, est + Z90 * sd

    def _ridge(self, benchmark: str, cols: np.ndarray) -> tuple[float, np.ndarray, float] | None:
        x = self.data_.items[benchmark].values[:, cols].astype(float)
        y = self.scores_[benchmark].to_numpy()
        ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
        if ok.sum() < max(self.min_models, len(cols) + 2):
            return None
        x, y = x[ok], y[ok]
        xm, ym = x.mean(axis=0), y.mean()
        xc = x - xm
        inv = np.linalg.inv(xc.T @ xc + self.alpha * np.eye(len(cols)))
        w = inv @ xc.T @ (y - ym)
        resid = (y - ym) - xc @ w
        # leave-one-out residuals (hat diagonal, the intercept's 1/m included): in-sample ones flatter
        hat = np.einsum("ij,jk,ik->i", xc, inv, xc) + 1.0 / len(y)
        sd = float(np.sqrt(np.mean((resid / (1.0 - hat)) ** 2)))
        return float(ym - xm @ w), w, sd

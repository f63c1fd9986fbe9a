"""Global mean: every benchmark predicted by its mean over the reference's models.

The floor every other method must beat. Its interval is the natural one for a method that knows
nothing about the model: the central 90% of the reference's scores.
"""
from __future__ import annotations

from typing import Sequence

from ..dataset import ReferenceData
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .scores import full_scores, make_prediction


class GlobalMeanPredictor(Predictor):
    """Per-benchmark mean of the reference scores, with the 5%-95% quantiles as the interval."""

    name = "global_mean"

    def __init__(self, coverage: float = 0.9) -> None:
        self.coverage = coverage

    def fit(self, data: ReferenceData) -> "GlobalMeanPredictor":
        scores = full_scores(data)
        tail = (1.0 - self.coverage) / 2.0
        self.benchmarks_ = list(scores.columns)
        # a benchmark with no scores at all predicts NaN rather than inventing a number
        self.mean_ = scores.mean(axis=0).to_numpy()
        self.lower_ = scores.quantile(tail, axis=0).to_numpy()
        self.upper_ = scores.quantile(1.0 - tail, axis=0).to_numpy()
        self.data_ = data
        return self

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        return [make_prediction(q, b, self.mean_[j], self.lower_[j], self.upper_[j])
                for q in queries for j, b in enumerate(self.benchmarks_)]


"""Subset mapping: the mean of the items a model answered, mapped to the full score (COD-style).

For the exact subset ``S`` of items a query observed on a benchmark, every reference model's mean
over ``S`` is paired with its full score and a monotone map is fitted on those pairs; the query's
own mean over ``S`` then goes through the map. Fitting per subset (not once on all items) keeps the
map honest about ``S``'s difficulty and about how noisy a mean of ``|S|`` items is. Benchmarks with
no observed items fall back to the global mean.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..dataset import ReferenceData
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .monotone import MonotoneMap
from .scores import full_scores, make_prediction, observed_item_vector


class SubsetMappingPredictor(Predictor):
    """Observed subset mean -> full score, with a monotone map fitted per subset on reference models.

    Parameters
    ----------
    min_models: fewer reference models than this with the subset and the score -> global mean.
    """

    name = "subset_mapping"

    def __init__(self, min_models: int = 10) -> None:
        self.min_models = min_models

    def fit(self, data: ReferenceData) -> "SubsetMappingPredictor":
        scores = full_scores(data)
        self.benchmarks_ = list(scores.columns)
        self.truth_ = scores
        self.mean_ = scores.mean(axis=0).to_numpy()
        self.items_ = {b: data.items[b] for b in self.benchmarks_ if b in data.items}
        self.data_ = data
        return self

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        maps: dict[tuple[str, tuple[int, ...]], MonotoneMap | None] = {}
        out = []
        for q in queries:
            for j, b in enumerate(self.benchmarks_):
                estimate = self.mean_[j]
                block = self.items_.get(b)
                if block is not None and b not in q.scores:
                    vec = observed_item_vector(q, b, block.items)
                    seen = np.flatnonzero(~np.isnan(vec))
                    if len(seen):
                        key = (b, tuple(seen))
                        if key not in maps:
                            maps[key] = self._subset_map(b, seen)
                        if maps[key] is not None:
                            estimate = float(maps[key](vec[seen].mean()))
                out.append(make_prediction(q, b, estimate))
        return out

    def _subset_map(self, benchmark: str, cols: np.ndarray) -> MonotoneMap | None:
        y = self.truth_[benchmark].to_numpy()
        sub = self.items_[benchmark].values[:, cols]
        answered = ~np.isnan(sub).any(axis=1)
        ok = answered & ~np.isnan(y)
        if ok.sum() < self.min_models:
            return None
        return MonotoneMap().fit(sub[ok].mean(axis=1), y[ok])

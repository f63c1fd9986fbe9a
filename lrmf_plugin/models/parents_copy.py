"""Copy the parents: a derivative scores what its direct parents score (their mean, for a merge).

The baseline a user would compute by hand for a fine-tune, merge or quantised copy, and the one the
``ids-and-parents`` backtest setting must beat. Only direct parents count (the Hub's edges and the
query's own parents; the leaderboard's root-ancestor ``family`` links do not); a model without a
scored parent gets the global mean. No interval.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..dataset import ReferenceData
from ..lineage import LineageGraph
from ..schema import ModelQuery, Prediction
from .base import Predictor
from .scores import full_scores, make_prediction


class ParentsCopyPredictor(Predictor):
    """Mean full scores of the scored direct parents, falling back to the global mean."""

    name = "parents_copy"

    def fit(self, data: ReferenceData) -> "ParentsCopyPredictor":
        scores = full_scores(data)
        self.benchmarks_ = list(scores.columns)
        self.scores_ = {m: row for m, row in zip(scores.index, scores.to_numpy()) if not np.isnan(row).all()}
        self.mean_ = scores.mean(axis=0).to_numpy()
        self.graph_ = LineageGraph(data.edges)
        self.data_ = data
        return self

    def parents(self, query: ModelQuery) -> list[str]:
        """The query's scored direct parents (reference edges and the query's own)."""
        links = [(e.parent, e.relation) for e in self.graph_.parents(query.model)] + list(query.parents)
        return list(dict.fromkeys(p for p, rel in links if rel != "family" and p in self.scores_ and p != query.model))

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        out = []
        for q in queries:
            parents = self.parents(q)
            estimate = self.mean_
            if parents:
                rows = np.array([self.scores_[p] for p in parents])
                count = (~np.isnan(rows)).sum(axis=0)
                avg = np.nansum(rows, axis=0) / np.maximum(count, 1)
                estimate = np.where(count > 0, avg, self.mean_)
            out += [make_prediction(q, b, estimate[j]) for j, b in enumerate(self.benchmarks_)]
        return out

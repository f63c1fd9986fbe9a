"""Lineage averaging: a model scores like its relatives, the closer the more so.

The "simpler lineage averaging method" LRMF is compared with: walk the lineage graph (through
ancestors that have no data of their own; see :meth:`LineageGraph.relatives` for which paths count),
weight every relative with a known score by its path weight, and average. A model with no scored
relative within ``max_hops`` gets the global mean, so this baseline is only as good as the lineage
coverage of the reference.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..dataset import ReferenceData
from ..lineage import DEFAULT_RELATION_WEIGHTS, LineageGraph
from ..schema import ModelQuery, Prediction, normalise_relation
from .base import Predictor
from .scores import full_scores, make_prediction


class LineageAveragePredictor(Predictor):
    """Proximity-weighted mean of relatives' scores, falling back to the global mean.

    Parameters
    ----------
    max_hops: relatives more than this many edges away are ignored.
    hop_decay: weight multiplier per extra hop.
    relation_weights: weight of one hop per relation (default: the lineage graph's defaults).
    """

    name = "lineage_average"

    def __init__(self, max_hops: int = 3, hop_decay: float = 0.5,
                 relation_weights: Mapping[str, float] | None = None) -> None:
        self.max_hops = max_hops
        self.hop_decay = hop_decay
        self.relation_weights = relation_weights

    def fit(self, data: ReferenceData) -> "LineageAveragePredictor":
        scores = full_scores(data)
        self.benchmarks_ = list(scores.columns)
        self.scores_ = {m: row for m, row in zip(scores.index, scores.to_numpy()) if not np.isnan(row).all()}
        self.mean_ = scores.mean(axis=0).to_numpy()
        self.graph_ = LineageGraph(data.edges)
        self.data_ = data
        return self

    def relatives(self, query: ModelQuery) -> dict[str, float]:
        """Scored relatives of the query's model (never itself) -> weight.

        Uses the reference's edges of the model and the query's own ``parents``: a parent is a
        relative at one hop, and the parent's relatives are one hop farther.
        """
        self._check_fitted()
        weights = dict(DEFAULT_RELATION_WEIGHTS if self.relation_weights is None else self.relation_weights)
        among = set(self.scores_)
        graph = self.graph_
        rel = graph.relatives(query.model, self.max_hops, weights, self.hop_decay, among=among) \
            if query.model in graph else {}
        extra = [(p, normalise_relation(r)) for p, r in query.parents if p != query.model]
        n_merge = sum(1 for _, r in extra if r == "merge")
        for parent, relation in extra:
            w = weights.get(relation, 0.0) / (n_merge if relation == "merge" else 1)
            if parent in among and w > rel.get(parent, 0.0):
                rel[parent] = w
            if self.max_hops > 1 and parent in graph:
                for other, v in graph.relatives(parent, self.max_hops - 1, weights, self.hop_decay, among=among).items():
                    rel[other] = max(rel.get(other, 0.0), w * v * self.hop_decay)
        rel.pop(query.model, None)
        return rel

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        self._check_fitted()
        out = []
        for q in queries:
            rel = self.relatives(q)
            estimate = self.mean_.copy()
            if rel:
                rows = np.array([self.scores_[m] for m in rel])
                w = np.array(list(rel.values()))[:, None] * ~np.isnan(rows)
                total = w.sum(axis=0)
                avg = np.nansum(rows * w, axis=0) / np.where(total > 0, total, 1.0)
                estimate = np.where(total > 0, avg, estimate)
            out += [make_prediction(q, b, estimate[j]) for j, b in enumerate(self.benchmarks_)]
        return out

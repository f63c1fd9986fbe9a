"""Copy the parents: a derivative scores what its direct parents score (their mean, for a merge).

The baseline a user would compute by hand for a fine-tune, merge or quantised copy, and the one the
``ids-and-parents`` backtest setting must beat. It is lineage averaging restricted to the direct
parents, weighted equally: the Hub's edges and the query's own parents count, the leaderboard's
root-ancestor ``family`` links do not. A model without a scored parent gets the global mean. No interval.
"""
from __future__ import annotations

from ..schema import ModelQuery
from .lineage_average import LineageAveragePredictor


class ParentsCopyPredictor(LineageAveragePredictor):
    """Mean full scores of the scored direct parents, falling back to the global mean."""

    name = "parents_copy"

    def relatives(self, query: ModelQuery) -> dict[str, float]:
        """The query's scored direct parents (reference edges and the query's own), each with weight 1."""
        self._check_fitted()
        links = [(e.parent, e.relation) for e in self.graph_.parents(query.model)] + list(query.parents)
        return {p: 1.0 for p, rel in links if rel != "family" and p in self.scores_ and p != query.model}

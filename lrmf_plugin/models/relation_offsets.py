"""What a relation does to scores: a quantised copy scores what its parent scores, a merge about what
its parents score on average, give or take what the reference's own pairs show.

The factorisation treats a copy or a merge like any relative, so its prediction leans on metadata
and the population as much as on the parents, and comes out below strong parents. The reference's
scored (parents, child) pairs say how far apart they really are, benchmark by benchmark:
:class:`RelationOffsets` learns that offset and its spread for one relation, and predicts a child as
its parents' mean score plus the offset, with an interval from the pairs' spread (and the parents'
own uncertainty when they are only predicted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..defaults import Z90
from ..lineage import LineageGraph
from ..schema import Prediction

#: Below this many scored pairs of a benchmark, its offset is taken as zero and its spread as the default.
MIN_PAIRS = 5
#: Spread (score points, one standard deviation) assumed where the reference has too few pairs: a
#: re-run of the same weights on the leaderboard differs by about this much.
DEFAULT_SPREAD = 1.0


@dataclass(frozen=True)
class Offset:
    """A benchmark's mean copy-minus-parent difference, its spread, and how many pairs said so."""

    mean: float
    spread: float
    n_pairs: int


class RelationOffsets:
    """Learns per-benchmark child-minus-parents offsets of one relation from a reference's scored pairs.

    Parameters
    ----------
    relation: ``quantized`` (one parent) or ``merge`` (the mean of all merge parents, every one scored).
    """

    def __init__(self, relation: str):
        self.relation = relation

    def fit(self, scores: pd.DataFrame, graph: LineageGraph) -> "RelationOffsets":
        """``scores``: models x benchmarks (NaN = unknown)."""
        parents: dict[str, list[str]] = {}
        for e in graph.edges:
            if e.relation == self.relation:
                parents.setdefault(e.child, []).append(e.parent)
        pairs = [(ps, c) for c, ps in parents.items() if c in scores.index and all(p in scores.index for p in ps)]
        self.offsets_: dict[str, Offset] = {}
        for b in scores.columns:
            diff = np.array([scores.at[c, b] - np.mean([scores.at[p, b] for p in ps]) for ps, c in pairs],
                            dtype=float)
            diff = diff[np.isfinite(diff)]
            if len(diff) < MIN_PAIRS:
                self.offsets_[b] = Offset(0.0, DEFAULT_SPREAD, len(diff))
                continue
            mean = float(np.median(diff))
            # a robust spread: one broken re-upload should not widen every copy's interval
            mad = float(np.median(np.abs(diff - mean))) * 1.4826
            spread = max(mad, DEFAULT_SPREAD) * math.sqrt(1.0 + 1.0 / len(diff))
            self.offsets_[b] = Offset(mean, spread, len(diff))
        return self

    def predict(self, model: str, parents: list[list[Prediction]]) -> list[Prediction]:
        """The child's predictions from each parent's, benchmark by benchmark (a measured parent has a
        zero-width interval)."""
        out = []
        for rows in zip(*parents):
            off = self.offsets_.get(rows[0].benchmark, Offset(0.0, DEFAULT_SPREAD, 0))
            parent_sd = float(np.mean([(p.upper - p.lower) / (2 * Z90) for p in rows]))
            half = Z90 * math.hypot(off.spread, parent_sd)
            centre = min(max(float(np.mean([p.predicted for p in rows])) + off.mean, 0.0), 100.0)
            out.append(Prediction(model, rows[0].benchmark, centre, max(centre - half, 0.0), min(centre + half, 100.0)))
        return out

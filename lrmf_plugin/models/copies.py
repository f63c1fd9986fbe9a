"""Quantised copies: a copy scores what its parent scores, give or take what quantisation costs.

The factorisation treats a copy like any relative, so its prediction leans on metadata and the
population as much as on the parent, and comes out far below a strong parent. A copy is not a
new model, though: the reference's own (parent, quantised child) pairs with both scored say how
far apart they are, benchmark by benchmark. :class:`CopyOffsets` learns that offset and its spread,
and predicts a copy as its parent's score plus the offset, with an interval from the pairs'
spread (and the parent's own uncertainty when the parent is only predicted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..lineage import LineageGraph
from ..schema import Prediction

#: The interval's normal quantile (90%).
Z90 = 1.6448536269514722
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


class CopyOffsets:
    """Learns per-benchmark copy offsets from a reference's scored quantised pairs."""

    def fit(self, scores: pd.DataFrame, graph: LineageGraph) -> "CopyOffsets":
        """``scores``: models x benchmarks (NaN = unknown)."""
        pairs = [(e.parent, e.child) for e in graph.edges
                 if e.relation == "quantized" and e.parent in scores.index and e.child in scores.index]
        self.offsets_: dict[str, Offset] = {}
        for b in scores.columns:
            diff = np.array([scores.at[c, b] - scores.at[p, b] for p, c in pairs], dtype=float)
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

    def predict(self, model: str, parent: list[Prediction]) -> list[Prediction]:
        """The copy's predictions from its parent's (measured: a zero-width interval; or predicted)."""
        out = []
        for p in parent:
            off = self.offsets_.get(p.benchmark, Offset(0.0, DEFAULT_SPREAD, 0))
            parent_sd = (p.upper - p.lower) / (2 * Z90)
            half = Z90 * math.hypot(off.spread, parent_sd)
            centre = min(max(p.predicted + off.mean, 0.0), 100.0)
            out.append(Prediction(model, p.benchmark, centre, max(centre - half, 0.0), min(centre + half, 100.0)))
        return out

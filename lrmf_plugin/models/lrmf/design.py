"""The fit's design: which models are rows, and the column blocks their data fills."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...dataset import ReferenceData
from ...lineage import LineageGraph
from ..normal_scores import NormalScores
from .newton import Block


def informative_nodes(graph: LineageGraph, data_models: set[str]) -> set[str]:
    """Lineage-only nodes that lie between data models: dangling chains of data-less ancestors are
    pruned (repeatedly removing data-less nodes with at most one neighbour), since they carry no
    information and would only enlarge the fit. Fold-in still walks the full graph."""
    neighbours: dict[str, set[str]] = {}
    for e in graph.edges:
        neighbours.setdefault(e.parent, set()).add(e.child)
        neighbours.setdefault(e.child, set()).add(e.parent)
    alive = set(neighbours)
    queue = [m for m in alive if m not in data_models and len(neighbours[m]) <= 1]
    while queue:
        m = queue.pop()
        if m not in alive:
            continue
        alive.discard(m)
        for other in neighbours[m]:
            if other in alive:
                neighbours[other].discard(m)
                if other not in data_models and len(neighbours[other]) <= 1:
                    queue.append(other)
    return {m for m in alive if m not in data_models}


@dataclass
class Design:
    """Rows (``rows``: model ids; ``has``: which have data), score columns (``score_names``, raw
    ``S`` and their ``normal`` scales), items (``item_names``, answers ``Y`` or ``None``) and the
    likelihood blocks built from them (scores first)."""

    rows: list[str]
    has: np.ndarray
    score_names: list[str]
    S: np.ndarray
    normal: NormalScores
    item_names: list[tuple[str, str]]
    Y: np.ndarray | None
    blocks: list[Block]


def build_design(data: ReferenceData, graph: LineageGraph) -> Design:
    """The rows (models with data, and the data-less ancestors between them) and the blocks."""
    has = data.has_data()
    keep_nodes = informative_nodes(graph, {m for m, h in zip(data.models, has) if h})
    rows = [m for m, h in zip(data.models, has) if h or m in keep_nodes]
    take = np.array([data.index[m] for m in rows], dtype=int)
    n = len(rows)
    blocks = []
    score_cols = [b for b in data.scores.columns if data.scores[b].notna().any()]
    S = data.scores[score_cols].to_numpy(dtype=np.float64)[take] if score_cols else np.zeros((n, 0))
    normal = NormalScores().fit(S)
    if score_cols:
        Z = np.column_stack([normal.forward(k, S[:, k]) for k in range(len(score_cols))]).astype(np.float32)
        Z[np.isnan(S)] = np.nan
        blocks.append(Block("gaussian", [(b, "") for b in score_cols], Z, ~np.isnan(Z)))
    item_names: list[tuple[str, str]] = []
    item_vals = []
    for b in sorted(data.items):
        item_names += [(b, it) for it in data.items[b].items]
        item_vals.append(data.items[b].values[take])
    Y = None
    if item_names:
        Y = np.concatenate(item_vals, axis=1).astype(np.float32)
        # a cut: a model with benchmark scores gets its vector from them (a full score summarises
        # every item of its benchmark), and items are fitted to that vector; letting the few
        # hundred reference items pull the vector too would overfit them and bend the scores
        scored = ~np.isnan(S).all(axis=1) if score_cols else np.zeros(n, dtype=bool)
        blocks.append(Block("bernoulli", item_names, Y, ~np.isnan(Y), informs=~scored))
    return Design(rows, has[take], score_cols, S, normal, item_names, Y, blocks)

"""Which relatives of a model the Lineage tab draws.

A popular base model has thousands of descendants; a readable tree keeps the closest ones, so the
selection is ordered: the model, its ancestors, its children, its siblings through a direct parent,
the other parents of merges among those, deeper descendants, and last the siblings that only share
the leaderboard's root ancestor (``family`` edges: often hundreds). Within a group the nearest hop
comes first, then models with scores.
"""
from __future__ import annotations

from typing import Callable

from lrmf_plugin.lineage import LineageGraph
from lrmf_plugin.schema import Edge


def neighbourhood(graph: LineageGraph, model: str, hops: int, limit: int,
                  has_data: Callable[[str], bool]) -> tuple[list[str], list[Edge], int]:
    """Up to ``limit`` models around ``model`` within ``hops``, the edges among them, and how many
    relatives there were before the cut."""
    ranked: dict[str, tuple[int, int, int, str]] = {model: (0, 0, 0, model)}

    def offer(node: str, group: int, hop: int) -> None:
        key = (group, hop, 0 if has_data(node) else 1, node)
        if node not in ranked or key < ranked[node]:
            ranked[node] = key

    for node, hop in graph.ancestors(model, max_hops=hops).items():
        offer(node, 1, hop)
    for node, hop in graph.descendants(model, max_hops=hops).items():
        offer(node, 2 if hop == 1 else 5, hop)
    for parent_edge in graph.parents(model):
        for sibling_edge in graph.children(parent_edge.parent):
            if sibling_edge.child != model:
                direct = "family" not in (parent_edge.relation, sibling_edge.relation)
                offer(sibling_edge.child, 3 if direct else 6, 1)
    # a merge among the relatives is only readable with all its parents
    for node in list(ranked):
        for e in graph.parents(node):
            if e.relation == "merge" and e.parent not in ranked:
                offer(e.parent, 4 if ranked[node][0] <= 3 else 7, ranked[node][1])
    chosen = sorted(ranked, key=ranked.__getitem__)[:limit]
    keep = set(chosen)
    edges = [e for n in chosen for e in graph.parents(n) if e.parent in keep]
    return chosen, edges, len(ranked) - 1

"""The lineage graph: who was fine-tuned, merged, adapted or quantised from whom.

Lineage is the main prior for a model nobody has evaluated, so the graph must survive whatever the
Hub says: self-edges, repeated edges and cycles are dropped on construction and recorded in
:attr:`LineageGraph.dropped` (``reference show`` lists them), never raised. Every traversal is
iterative, so a 30k-edge graph with deep chains neither recurses nor hangs.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from .schema import RELATIONS, Edge

#: Weight of one hop along each relation when none is given: a quantised or adapted copy is nearly
#: the same model; ``family`` (a root ancestor, path unknown) says less than a known direct parent.
DEFAULT_RELATION_WEIGHTS: dict[str, float] = {
    "finetune": 1.0, "merge": 1.0, "adapter": 1.0, "quantized": 1.0, "family": 0.5}

_UP, _DOWN = 0, 1


class LineageGraph:
    """A typed, directed multi-parent graph over model ids (``parent -> child``).

    Parameters
    ----------
    edges:
        Lineage edges in input order. The order decides which edge of a cycle is dropped (the one
        that would close it), so the same input always yields the same graph.
    """

    def __init__(self, edges: Iterable[Edge]):
        self.edges: list[Edge] = []
        self.dropped: list[tuple[Edge, str]] = []
        candidates: list[Edge] = []
        seen: set[Edge] = set()
        for e in edges:
            if e.parent == e.child:
                self.dropped.append((e, "self-edge"))
            elif e in seen:
                self.dropped.append((e, "duplicate"))
            else:
                seen.add(e)
                candidates.append(e)
        cyclic = _edges_in_cycles(candidates)
        self._parents: dict[str, list[Edge]] = defaultdict(list)
        self._children: dict[str, list[Edge]] = defaultdict(list)
        nodes: set[str] = set()
        for i, e in enumerate(candidates):
            # only edges inside a strongly connected component can close a cycle, so the costly
            # reachability check runs on those few instead of on all 30k edges
            if i in cyclic and self._reaches(e.child, e.parent):
                self.dropped.append((e, "closes a cycle"))
                continue
            self.edges.append(e)
            self._parents[e.child].append(e)
            self._children[e.parent].append(e)
            nodes.update((e.parent, e.child))
        self.nodes: list[str] = sorted(nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, model: object) -> bool:
        return model in self._parents or model in self._children

    def parents(self, model: str) -> list[Edge]:
        """Edges from the direct parents of ``model`` (several for a merge)."""
        return list(self._parents.get(model, ()))

    def children(self, model: str) -> list[Edge]:
        """Edges to the models derived directly from ``model``."""
        return list(self._children.get(model, ()))

    def ancestors(self, model: str, max_hops: int | None = None) -> dict[str, int]:
        """Every ancestor of ``model`` with its distance in hops (shortest path)."""
        return self._walk(model, self._parents, lambda e: e.parent, max_hops)

    def descendants(self, model: str, max_hops: int | None = None) -> dict[str, int]:
        """Every descendant of ``model`` with its distance in hops (shortest path)."""
        return self._walk(model, self._children, lambda e: e.child, max_hops)

    def edge_weight(self, edge: Edge, relation_weights: Mapping[str, float]) -> float:
        """The weight of one hop; a merge's weight is shared by its merge parents.

        A child merged from ``p`` parents gets ``weight / p`` per merge edge, so it sits between
        its parents instead of being as close to each as a plain fine-tune.
        """
        w = float(relation_weights.get(edge.relation, 0.0))
        if edge.relation == "merge":
            n_merge = sum(1 for p in self._parents.get(edge.child, ()) if p.relation == "merge")
            w /= max(n_merge, 1)
        return w

    def relatives(self, model: str, max_hops: int = 2,
                  relation_weights: Mapping[str, float] | None = None,
                  hop_decay: float = 0.5, among: set[str] | None = None) -> dict[str, float]:
        """Relatives of ``model`` within ``max_hops`` and how close each is.

        A path goes up to ancestors, then down to their descendants (so siblings, cousins and
        uncles are reached through a shared ancestor, but two co-parents of a merge are not related
        through their child). Its weight is the product of the edge weights times
        ``hop_decay ** (hops - 1)``; a relative's weight is the best over its paths. Relations
        missing from ``relation_weights`` are not traversed. ``among`` restricts the returned
        relatives (paths may still pass through other models).
        """
        weights = DEFAULT_RELATION_WEIGHTS if relation_weights is None else relation_weights
        best: dict[str, float] = {}
        frontier: dict[tuple[str, int], float] = {(model, _UP): 1.0}
        for hop in range(1, max_hops + 1):
            decay = hop_decay ** (hop - 1)
            nxt: dict[tuple[str, int], float] = {}
            for (node, phase), value in frontier.items():
                steps = [(e, e.child, _DOWN) for e in self._children.get(node, ())]
                if phase == _UP:
                    steps += [(e, e.parent, _UP) for e in self._parents.get(node, ())]
                for e, other, new_phase in steps:
                    w = self.edge_weight(e, weights)
                    if w <= 0.0 or other == model:
                        continue
                    v = value * w
                    if v > nxt.get((other, new_phase), 0.0):
                        nxt[(other, new_phase)] = v
                    if among is None or other in among:
                        if v * decay > best.get(other, 0.0):
                            best[other] = v * decay
            frontier = nxt
        return best

    def adjacency(self, models: Sequence[str], relation_weights: Mapping[str, float] | None = None,
                  max_hops: int = 1, hop_decay: float = 0.5) -> sp.csr_matrix:
        """Symmetric weighted adjacency over ``models`` (rows/columns in that order), zero diagonal.

        ``A[i, j]`` is the :meth:`relatives` weight of ``models[j]`` seen from ``models[i]``; paths
        may pass through models outside the list (e.g. data-less ancestors).
        """
        index = {m: i for i, m in enumerate(models)}
        targets = set(index)
        rows, cols, vals = [], [], []
        for m, i in index.items():
            if m not in self:
                continue
            for other, w in self.relatives(m, max_hops, relation_weights, hop_decay, among=targets).items():
                rows.append(i)
                cols.append(index[other])
                vals.append(w)
        n = len(models)
        a = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(n, n))
        a = a.maximum(a.T).tocsr()  # paths reverse exactly, but be exact about symmetry
        a.setdiag(0.0)
        a.eliminate_zeros()
        return a

    def laplacian(self, models: Sequence[str], relation_weights: Mapping[str, float] | None = None,
                  max_hops: int = 1, hop_decay: float = 0.5) -> sp.csr_matrix:
        """The graph Laplacian ``D - A`` of :meth:`adjacency` (sparse, symmetric, rows sum to 0)."""
        a = self.adjacency(models, relation_weights, max_hops, hop_decay)
        return (sp.diags(np.asarray(a.sum(axis=1)).ravel()) - a).tocsr()

    def relation_counts(self) -> dict[str, int]:
        """Kept edges per relation, in :data:`~lrmf_plugin.schema.RELATIONS` order."""
        counts = dict.fromkeys(RELATIONS, 0)
        for e in self.edges:
            counts[e.relation] = counts.get(e.relation, 0) + 1
        return counts

    def _walk(self, start: str, adjacency: Mapping[str, list[Edge]], other, max_hops: int | None) -> dict[str, int]:
        """Breadth-first distances along one direction."""
        dist: dict[str, int] = {}
        frontier = [start]
        hops = 0
        while frontier and (max_hops is None or hops < max_hops):
            hops += 1
            nxt = []
            for node in frontier:
                for e in adjacency.get(node, ()):
                    o = other(e)
                    if o != start and o not in dist:
                        dist[o] = hops
                        nxt.append(o)
            frontier = nxt
        return dist

    def _reaches(self, source: str, target: str) -> bool:
        """Whether ``target`` is a descendant of ``source`` among the edges kept so far."""
        stack, seen = [source], {source}
        while stack:
            node = stack.pop()
            if node == target:
                return True
            for e in self._children.get(node, ()):
                if e.child not in seen:
                    seen.add(e.child)
                    stack.append(e.child)
        return False


def _edges_in_cycles(edges: Sequence[Edge]) -> set[int]:
    """Indices of edges whose both ends lie in the same strongly connected component.

    Iterative Tarjan: an edge outside every non-trivial component can never close a cycle.
    """
    succ: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        succ[e.parent].append(e.child)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    comp: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in list(succ):
        if root in index:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, i = work[-1]
            children = succ.get(node, ())
            if i < len(children):
                work[-1] = (node, i + 1)
                child = children[i]
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp[member] = index[node]
                    if member == node:
                        break
    return {i for i, e in enumerate(edges) if comp.get(e.parent) == comp.get(e.child)
            and e.parent in comp and e.child in comp}


def connected_to(graph: LineageGraph, models: set[str]) -> set[str]:
    """Lineage nodes in a weakly connected component that contains one of ``models``."""
    neighbours: dict[str, list[str]] = defaultdict(list)
    for e in graph.edges:
        neighbours[e.parent].append(e.child)
        neighbours[e.child].append(e.parent)
    seen = {m for m in models if m in neighbours}
    stack = list(seen)
    while stack:
        for other in neighbours[stack.pop()]:
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen - models

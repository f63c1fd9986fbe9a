"""Which relatives of a model the Lineage tab draws.

A popular base model has thousands of descendants, most of them unmeasured quantised or adapted
copies. The tree is walked ring by ring (``hops`` = steps along lineage edges in either direction,
so siblings are two hops away); at each node, relatives of one relation and direction form a group.
A small group is drawn whole; a large one keeps its measured members (they carry scores) and folds
the rest into one box ("+412 quantised copies"), so the drawing budget goes to informative models
and every extra hop still adds a visible ring.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from lrmf_plugin.lineage import LineageGraph
from lrmf_plugin.schema import Edge

#: Groups up to this size are drawn whole.
SMALL_GROUP = 4
#: Fewest models folded into a box.
FOLD_AT_LEAST = 3
#: Most measured members drawn from one large group.
MEASURED_PER_GROUP = 6

#: How a group of relatives is named in its box (children, then parents of the relation).
_GROUP_WORDS: dict[str, tuple[str, str]] = {
    "finetune": ("fine-tunes", "base models"), "merge": ("merges", "merge parents"),
    "adapter": ("adapters", "adapter bases"), "quantized": ("quantised copies", "originals"),
    "family": ("leaderboard descendants", "leaderboard roots"),
}


@dataclass
class Family:
    """A drawable neighbourhood: models (the focus first), folded groups and the edges among them."""

    nodes: list[str]
    edges: list[Edge]
    groups: dict[str, str] = field(default_factory=dict)  # group box id -> its label
    total: int = 0                                         # relatives within the hops, drawn or not

    @property
    def models(self) -> list[str]:
        return [n for n in self.nodes if n not in self.groups]


def _group_label(relation: str, as_children: bool, count: int) -> str:
    words = _GROUP_WORDS.get(relation, (f"{relation} relatives", f"{relation} relatives"))
    return f"+{count:,} {words[0] if as_children else words[1]}"


def _buckets(graph: LineageGraph, node: str) -> dict[tuple[bool, str], list[str]]:
    """The node's relatives by (are they its children, relation)."""
    out: dict[tuple[bool, str], list[str]] = {}
    for e in graph.parents(node):
        out.setdefault((False, e.relation), []).append(e.parent)
    for e in graph.children(node):
        out.setdefault((True, e.relation), []).append(e.child)
    return out


def _within(graph: LineageGraph, model: str, hops: int) -> int:
    """How many models lie within ``hops`` lineage steps of ``model`` (either direction)."""
    seen, frontier = {model}, {model}
    for _ in range(hops):
        frontier = {m for n in frontier for ms in _buckets(graph, n).values() for m in ms} - seen
        seen |= frontier
    return len(seen) - 1


def neighbourhood(graph: LineageGraph, model: str, hops: int, limit: int,
                  has_data: Callable[[str], bool]) -> Family:
    """Up to ``limit`` boxes (models and folded groups) within ``hops`` of ``model``, nearest rings first."""
    out = Family([model], [])
    seen = {model}
    frontier = [model]
    for _ in range(hops):
        ring: list[str] = []
        for node in frontier:
            # parents before children; ``family`` (shared leaderboard root only) after direct relations
            for (as_children, relation), members in sorted(_buckets(graph, node).items(),
                                                           key=lambda kv: (kv[0][0], kv[0][1] == "family", kv[0][1])):
                for m in members:  # links to relatives already drawn
                    if m in out.nodes and m != node:
                        out.edges.append(Edge(node, m, relation) if as_children else Edge(m, node, relation))
                new = sorted((m for m in dict.fromkeys(members) if m not in seen), key=lambda m: (not has_data(m), m))
                keep = [m for m in new if has_data(m)][:MEASURED_PER_GROUP]
                if len(new) <= SMALL_GROUP or len(new) - len(keep) <= FOLD_AT_LEAST - 1:
                    keep = new  # a box for one or two models would hide them for no room gained
                for m in keep:
                    if len(out.nodes) >= limit:
                        break
                    out.nodes.append(m)
                    ring.append(m)
                    out.edges.append(Edge(node, m, relation) if as_children else Edge(m, node, relation))
                seen.update(new)
                folded = len(new) - len([m for m in keep if m in ring])
                if folded and len(out.nodes) < limit:
                    box = f"{node} {'>' if as_children else '<'} {relation}"
                    out.nodes.append(box)
                    out.groups[box] = _group_label(relation, as_children, folded)
                    out.edges.append(Edge(node, box, relation) if as_children else Edge(box, node, relation))
        frontier = ring
    out.edges = list(dict.fromkeys(out.edges))
    out.total = _within(graph, model, hops)
    return out

"""The lineage graph: dropping bad edges, multi-hop queries, weights, adjacency and Laplacian."""
from __future__ import annotations

import numpy as np
import pytest

from lrmf_plugin.lineage import LineageGraph
from lrmf_plugin.schema import Edge

W = {"finetune": 1.0, "merge": 1.0, "adapter": 0.8, "quantized": 0.9, "family": 0.5}


def _family() -> LineageGraph:
    """base -> a -> a1, base -> b (adapter), a + b -> m (merge), c isolated pair c -> c1."""
    return LineageGraph([
        Edge("base", "a", "finetune"), Edge("a", "a1", "finetune"), Edge("base", "b", "adapter"),
        Edge("a", "m", "merge"), Edge("b", "m", "merge"), Edge("c", "c1", "quantized")])


def test_self_duplicate_and_cycle_edges_are_dropped_and_reported():
    edges = [Edge("x", "y", "finetune"), Edge("y", "y", "finetune"), Edge("x", "y", "finetune"),
             Edge("y", "z", "finetune"), Edge("z", "x", "merge"), Edge("x", "y", "quantized")]
    g = LineageGraph(edges)
    assert g.dropped == [(Edge("y", "y", "finetune"), "self-edge"), (Edge("x", "y", "finetune"), "duplicate"),
                         (Edge("z", "x", "merge"), "closes a cycle")]
    # the same pair with another relation is a different (multi-)edge, not a duplicate
    assert set(g.edges) == {Edge("x", "y", "finetune"), Edge("y", "z", "finetune"), Edge("x", "y", "quantized")}
    assert g.nodes == ["x", "y", "z"]
    # the edge that closes the cycle depends on the input order, deterministically
    g2 = LineageGraph([Edge("z", "x", "merge"), Edge("x", "y", "finetune"), Edge("y", "z", "finetune")])
    assert [e for e, _ in g2.dropped] == [Edge("y", "z", "finetune")]


def test_long_chains_and_big_cycles_neither_recurse_nor_hang():
    n = 20000
    chain = [Edge(f"m{i}", f"m{i + 1}", "finetune") for i in range(n)]
    g = LineageGraph(chain + [Edge(f"m{n}", "m0", "finetune")])  # one edge closes a 20001-node ring
    assert [r for _, r in g.dropped] == ["closes a cycle"]
    anc = g.ancestors(f"m{n}")
    assert len(anc) == n and anc["m0"] == n and anc[f"m{n - 1}"] == 1
    assert g.descendants("m0", max_hops=3) == {"m1": 1, "m2": 2, "m3": 3}


def test_parents_children_ancestors_descendants():
    g = _family()
    assert {e.parent for e in g.parents("m")} == {"a", "b"}
    assert {e.child for e in g.children("base")} == {"a", "b"}
    assert g.ancestors("m") == {"a": 1, "b": 1, "base": 2}
    assert g.ancestors("m", max_hops=1) == {"a": 1, "b": 1}
    assert g.descendants("base") == {"a": 1, "b": 1, "a1": 2, "m": 2}
    assert g.ancestors("unknown-model") == {} and "unknown-model" not in g


def test_relatives_weights_hops_and_merge_split():
    g = _family()
    decay = 0.5
    r1 = g.relatives("a1", max_hops=1, relation_weights=W, hop_decay=decay)
    assert r1 == {"a": 1.0}
    r3 = g.relatives("a1", max_hops=3, relation_weights=W, hop_decay=decay)
    # a1 -> a (1.0) -> m: merge with 2 parents = 1.0/2, two hops
    assert r3["m"] == pytest.approx(1.0 * 0.5 * decay)
    # sibling-of-parent: a1 -> a -> base -> b (adapter 0.8), three hops
    assert r3["b"] == pytest.approx(1.0 * 1.0 * 0.8 * decay ** 2)
    assert r3["base"] == pytest.approx(decay)
    assert "c" not in r3 and "a1" not in r3
    # co-parents of a merge are not related through their child (down then up is not a path)
    rb = g.relatives("b", max_hops=2, relation_weights=W, hop_decay=decay)
    assert rb["a"] == pytest.approx(0.8 * 1.0 * decay)  # via the shared parent base, not via m
    # a relation missing from the weights is not traversed
    assert "b" not in g.relatives("base", max_hops=1, relation_weights={"finetune": 1.0})


def test_relatives_take_the_best_path():
    # s reaches t via a weak direct edge and a strong two-hop detour through u
    g = LineageGraph([Edge("p", "s", "family"), Edge("p", "t", "finetune"),
                      Edge("q", "s", "finetune"), Edge("q", "t", "finetune")])
    r = g.relatives("s", max_hops=2, relation_weights=W, hop_decay=0.9)
    assert r["t"] == pytest.approx(1.0 * 1.0 * 0.9)  # via q beats via p (0.5 * 1.0 * 0.9)


def test_adjacency_is_symmetric_restricted_and_uses_outside_paths():
    g = _family()
    models = ["a1", "b", "m", "c1", "not-in-graph"]
    a = g.adjacency(models, W, max_hops=3, hop_decay=0.5)
    dense = a.toarray()
    assert a.shape == (5, 5)
    assert np.allclose(dense, dense.T)
    assert np.all(np.diag(dense) == 0)
    # a1 and b are related only through 'a' and 'base', which are not in the list
    assert dense[0, 1] == pytest.approx(0.8 * 0.25)
    assert dense[3].sum() == 0 and dense[4].sum() == 0  # c1's relative c is outside; unknown model: none
    one_hop = g.adjacency(models, W, max_hops=1).toarray()
    expected = np.zeros((5, 5))
    expected[1, 2] = expected[2, 1] = 0.5  # b is one of m's two merge parents
    assert np.allclose(one_hop, expected)


def test_laplacian_properties():
    g = _family()
    models = g.nodes
    lap = g.laplacian(models, W, max_hops=2, hop_decay=0.5).toarray()
    assert np.allclose(lap, lap.T)
    assert np.allclose(lap.sum(axis=1), 0.0)
    assert np.all(np.diag(lap) >= 0) and np.all(lap - np.diag(np.diag(lap)) <= 0)
    assert np.linalg.eigvalsh(lap).min() > -1e-9  # positive semi-definite
    # two connected components (the family and c -> c1) -> nullity 2
    assert np.sum(np.abs(np.linalg.eigvalsh(lap)) < 1e-9) == 2

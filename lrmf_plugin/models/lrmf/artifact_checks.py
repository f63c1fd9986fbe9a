"""The shapes a stored LRMF predictor's arrays must have, checked before any array is read.

:func:`lrmf_plugin.artifact.load_artifact` passes the ``.npy`` headers' shapes and the JSON header
here; a predictor whose arrays disagree with each other or with its JSON (a crafted or foreign file
with a matching checksum) is refused in one line instead of failing later inside a prediction with
a broadcast error or allocating whatever it declares.
"""
from __future__ import annotations

from typing import Any

from ...artifact import ArraySpec
from ...schema import RELATIONS

_TREE_NODE_ARRAYS = ("feature", "threshold", "left", "right", "value", "missing_left")


def check_predictor(specs: dict[str, ArraySpec], meta: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first array whose shape disagrees with the others or with ``meta``."""
    shape = _Shapes(specs)
    n_nodes = shape.of("models", 1)[0]
    k = shape.of("U", 2)[1]
    shape.expect("U", (n_nodes, k))
    shape.expect("M", (n_nodes, k))
    shape.expect("node_cov", (n_nodes, k, k))
    for name in ("meta_prec", *(f"{p}_{r}" for r in RELATIONS for p in ("rel_prec", "inherit"))):
        shape.expect(name, (k, k))
    # the prior's targets: the score loadings plus a completion of the latent space, so more rows
    # than latent dimensions once the reference has more score benchmarks than dimensions
    targets = max(shape.of("prior_basis", 2)[0], k)
    shape.expect("prior_basis", (targets, k))
    shape.expect("prior_const", (targets,))
    shape.expect("prior_coef", (shape.of("prior_coef", 2)[0], targets))
    n_items = shape.of("item_benchmark", 1)[0]
    shape.expect("item_id", (n_items,))
    rows = {"gaussian": len(meta["score_names"]), "bernoulli": n_items}
    for b, kind in enumerate(meta["blocks"]):
        n = rows.get(kind, shape.of(f"V{b}", 2)[0])
        shape.expect(f"V{b}", (n, k))
        shape.expect(f"c{b}", (n,))
    shape.expect("normal_probs", shape.of("normal_values", 1))
    prefixes = [f"tree{t}_" for t in range(int(meta["n_trees"]))]
    prefixes += [f"ctree{t}_" for t in range(int(meta["n_conditional_trees"]))]
    prefixes += [f"stree{p}_{t}_" for p, (_, targets) in enumerate(meta["specialists"]) for t in range(len(targets))]
    for prefix in prefixes:
        nodes = shape.of(f"{prefix}feature", 1)
        for name in _TREE_NODE_ARRAYS:
            shape.expect(prefix + name, nodes)
        shape.of(f"{prefix}roots", 1)
        shape.expect(f"{prefix}baseline", (1,))


class _Shapes:
    def __init__(self, specs: dict[str, ArraySpec]):
        self.specs = specs

    def of(self, name: str, ndim: int) -> tuple[int, ...]:
        if name not in self.specs:
            raise ValueError(f"array {name!r} is missing")
        found = self.specs[name].shape
        if len(found) != ndim:
            raise ValueError(f"array {name!r} has shape {found}, expected {ndim} dimension(s)")
        return found

    def expect(self, name: str, expected: tuple[int, ...]) -> None:
        found = self.of(name, len(expected))
        if found != tuple(expected):
            raise ValueError(f"array {name!r} has shape {found}, expected {tuple(expected)}")

"""The priors of the model vectors, estimated from out-of-fold residuals (empirical Bayes)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...lineage import LineageGraph
from ...schema import RELATIONS
from .defaults import FALLBACK_RELATION_PRECISION, MIN_RELATION_EDGES
from .metadata_prior import Grown, MetadataPrior, shrunk_covariance

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Priors:
    """Precisions of the metadata prior (``meta_prec``) and of each lineage relation (``rel_prec``),
    each relation's inheritance ``K_r`` (``inherit``: the share of the metadata-predicted change that
    happens across such an edge), and what the estimate saw (``report``: spreads, slopes, edge counts)."""

    meta_prec: np.ndarray
    rel_prec: dict[str, np.ndarray]
    inherit: dict[str, np.ndarray]
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def warm_up(cls, d: int, metadata_strength: float, multipliers: dict[str, float]) -> "Priors":
        """Fixed priors for the sweeps before there is a fit to estimate them from."""
        return cls(metadata_strength * np.eye(d),
                   {r: multipliers[r] * FALLBACK_RELATION_PRECISION[r] * np.eye(d) for r in RELATIONS},
                   {r: np.eye(d) for r in RELATIONS})

    # -- persistence (key names as in version 8 of the artifact) ------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"meta_prec": self.meta_prec}
        for r, P in self.rel_prec.items():
            arrays[f"rel_prec_{r}"], arrays[f"inherit_{r}"] = P, self.inherit[r]
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], report: dict[str, Any]) -> "Priors":
        return cls(arrays["meta_prec"], {r: arrays[f"rel_prec_{r}"] for r in RELATIONS},
                   {r: arrays[f"inherit_{r}"] for r in RELATIONS}, report)


def edge_pairs(graph: LineageGraph, row: dict[str, int], has: np.ndarray, relation: str) -> np.ndarray:
    """(parent row, child row) of the ``relation`` edges whose both ends are fitted rows with data."""
    return np.array([(row[e.parent], row[e.child]) for e in graph.edges
                     if e.relation == relation and e.parent in row and e.child in row
                     and has[row[e.parent]] and has[row[e.child]]], dtype=int).reshape(-1, 2)


def estimate_priors(U: np.ndarray, F: np.ndarray, has: np.ndarray, prior: MetadataPrior, graph: LineageGraph,
                    row: dict[str, int], metadata_strength: float, multipliers: dict[str, float],
                    done: Grown = None) -> tuple[Priors, np.ndarray]:
    """Prior precisions from out-of-fold residuals (full covariances), times the multipliers; also the
    out-of-fold prior means of the data rows (``done``: told of each out-of-fold tree ensemble).

    Residuals ``r = u - g(phi)`` come from metadata models that did not see the model. Metadata
    precision: the inverse covariance of those residuals, so residuals of related benchmarks (BBH
    and MuSR, say) inform each other. Relation r, over r-edges whose both ends have data: per target
    direction, the share ``beta`` of the metadata-predicted change that really happens across an
    edge (a least-squares slope in [0, 1]: a fine-tune inherits knowledge benchmarks, while its chat
    training changes instruction following), then the inverse covariance of what remains (with
    fewer than ``MIN_RELATION_EDGES`` such edges, beta = 1 and the fallback weight relative to the
    metadata precision). Full covariances make the precisions independent of the target basis.
    """
    B = prior.basis_
    resid = np.zeros((len(U), B.shape[0]))
    resid[has] = prior.out_of_fold_residuals(F[has], U[has], done=done)
    target = U @ B.T
    tau = shrunk_covariance(resid[has])
    meta_prec = metadata_strength * B.T @ np.linalg.inv(tau) @ B
    report: dict[str, Any] = {"metadata_sd": np.sqrt(np.diag(tau)).round(4).tolist()}
    rel_prec, inherit = {}, {}
    for r in RELATIONS:
        pairs = edge_pairs(graph, row, has, r)
        beta = np.ones(B.shape[0])
        if len(pairs) >= MIN_RELATION_EDGES:
            change = target[pairs[:, 1]] - target[pairs[:, 0]]
            predicted = change - (resid[pairs[:, 1]] - resid[pairs[:, 0]])
            beta = np.clip((change * predicted).sum(axis=0) / np.maximum((predicted ** 2).sum(axis=0), 1e-12), 0.0, 1.0)
            delta = shrunk_covariance(change - beta * predicted)
            report[f"{r}_sd"] = np.sqrt(np.diag(delta)).round(4).tolist()
            report[f"{r}_beta"] = beta.round(3).tolist()
            report[f"{r}_edges"] = int(len(pairs))
        else:
            delta = tau / FALLBACK_RELATION_PRECISION[r]
        rel_prec[r] = multipliers[r] * B.T @ np.linalg.inv(delta) @ B
        inherit[r] = prior.back_ @ (beta[:, None] * B)
    log.info("empirical Bayes: %s", report)
    return Priors(meta_prec, rel_prec, inherit, report), (U[has] @ B.T - resid[has]) @ prior.back_.T

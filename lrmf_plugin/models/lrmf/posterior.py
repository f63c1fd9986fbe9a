"""The fitted factors, frozen: what a new model's vector is folded into, and what the planner reads.

A new model is *folded in*: its vector's Gaussian prior comes from its metadata (:meth:`prior_means`)
and fitted relatives (:meth:`links`), and its observations update it by Newton steps (a Laplace
approximation; item answers tempered by ``item_weight``, since they are not independent given the
vector).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ...errors import UnknownBenchmarkError, UnknownItemError
from ...features import MetadataFeaturizer
from ...lineage import LineageGraph
from ...schema import RELATIONS, BenchmarkInfo, ModelQuery, normalise_relation
from ..item_map import ItemScoreMap
from ..normal_scores import NormalScores
from .defaults import FOLD_IN_STEPS, FOLD_IN_TOLERANCE
from .empirical_bayes import Priors
from .metadata_prior import MetadataPrior
from .newton import damped, sigmoid

#: (fitted row, precision of the link, inheritance ``K`` of its first edge) of a relative
Link = tuple[int, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Posterior:
    """Model vectors ``U`` (rows ``models``) with their prior means ``M`` and approximate covariances
    ``node_cov``; per column block (``block_kinds``) loadings and biases; the scales, metadata prior,
    priors and lineage graph they were fitted with. ``item_weight`` tempers item answers in fold-in."""

    models: list[str]
    U: np.ndarray
    M: np.ndarray
    node_cov: np.ndarray
    loadings: list[np.ndarray]
    biases: list[np.ndarray]
    block_kinds: list[str]
    score_names: list[str]
    benchmarks: list[str]
    info: dict[str, BenchmarkInfo]
    item_names: list[tuple[str, str]]
    normal: NormalScores
    featurizer: MetadataFeaturizer
    prior: MetadataPrior
    priors: Priors
    multipliers: dict[str, float]
    graph: LineageGraph
    score_noise: float
    item_weight: float
    row: dict[str, int] = field(init=False)
    item_col: dict[str, dict[str, int]] = field(init=False)
    item_index: dict[str, np.ndarray] = field(init=False)
    item_position: dict[str, dict[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        item_col: dict[str, dict[str, int]] = {}
        for j, (b, it) in enumerate(self.item_names):
            item_col.setdefault(b, {})[it] = j
        set_ = object.__setattr__  # derived indices of a frozen object, built once
        set_(self, "row", {m: i for i, m in enumerate(self.models)})
        set_(self, "item_col", item_col)  # benchmark -> {item -> column in the item block}
        set_(self, "item_position", {b: {it: k for k, it in enumerate(cols)} for b, cols in item_col.items()})
        # a benchmark's item columns, as an index array built once (predictions need all of them)
        set_(self, "item_index", {b: np.fromiter(cols.values(), dtype=int, count=len(cols)) for b, cols in item_col.items()})

    def with_item_weight(self, weight: float) -> "Posterior":
        return dataclasses.replace(self, item_weight=float(weight))

    @property
    def score_loadings(self) -> tuple[np.ndarray, np.ndarray]:
        """Loadings and biases of the score columns (rows follow ``score_names``)."""
        k = self.block_kinds.index("gaussian")
        return self.loadings[k], self.biases[k]

    @property
    def item_loadings(self) -> tuple[np.ndarray, np.ndarray]:
        """Loadings and biases of the item columns (see ``item_col`` and ``item_index``)."""
        k = self.block_kinds.index("bernoulli")
        return self.loadings[k], self.biases[k]

    def links(self, q: ModelQuery) -> list[Link]:
        """Every relative that informs the query model, as (fitted row, link precision, inheritance).

        Direct relatives come from the reference's graph (both directions) and the query's own
        parents. A relative that is not a fitted row (e.g. a data-less base model) is bridged to its
        own fitted relatives: the two edges act in series, so their variances add.
        """
        graph, prec, unit = self.graph, self.priors.rel_prec, dict.fromkeys(RELATIONS, 1.0)
        direct: list[tuple[str, str, float]] = []
        if q.model in graph:
            for e in graph.parents(q.model):
                direct.append((e.parent, e.relation, graph.edge_weight(e, unit)))
            for e in graph.children(q.model):
                direct.append((e.child, e.relation, graph.edge_weight(e, unit)))
        extra = [(p, normalise_relation(r)) for p, r in q.parents if p != q.model]
        n_merge = sum(1 for _, r in extra if r == "merge")
        known = {m for m, _, _ in direct}
        direct += [(p, r, 1.0 / n_merge if r == "merge" else 1.0) for p, r in extra if p not in known]
        links: list[Link] = []
        for other, rel, w in direct:
            if w <= 0 or self.multipliers[rel] <= 0:
                continue
            cov = np.linalg.inv(w * prec[rel])
            if other in self.row:
                links.append((self.row[other], cov, self.priors.inherit[rel]))
            elif other in graph:
                for e in graph.parents(other) + graph.children(other):
                    far = e.parent if e.child == other else e.child
                    w2 = graph.edge_weight(e, unit)
                    if far != q.model and far in self.row and w2 > 0 and self.multipliers[e.relation] > 0:
                        links.append((self.row[far], cov + np.linalg.inv(w2 * prec[e.relation]), self.priors.inherit[rel]))
        return [(row, np.linalg.inv(cov + self.node_cov[row]), K) for row, cov, K in links]

    def prior_targets(self, queries: Sequence[ModelQuery]) -> tuple[np.ndarray, np.ndarray]:
        """Metadata features of each query and the metadata prior's targets for them, before any
        revealed score (what :meth:`prior_means` starts from; they depend on the model and its metadata only)."""
        F = self.featurizer.transform([q.metadata for q in queries], [q.model for q in queries])
        return F, self.prior.predict_targets(F)

    def prior_means(self, queries: Sequence[ModelQuery], estimates: bool = False,
                    targets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Metadata prior mean of each query's vector, in one vectorised pass (featurising and walking
        the trees one row at a time is most of a lone fold-in's cost).

        A query that reveals exact scores gets the score-conditional trees' mean, with the revealed
        scores' own directions set to what they reveal (so the fold-in's likelihood of those
        scores does not move the rest a second time). Estimated scores (with a standard error)
        stay evidence for the fold-in only (the trees learned from exact ones), unless
        ``estimates``: scores estimated as posterior means (already shrunk toward what the model's
        other evidence says) then condition the trees as their values, the first-order value of the
        conditional mean over the estimate's error. ``targets``: the queries' :meth:`prior_targets`,
        when already computed.
        """
        F, G = self.prior_targets(queries) if targets is None else targets
        M = G @ self.prior.back_.T
        if not self.prior.conditional_:
            return M
        R = np.full((len(queries), len(self.score_names)), np.nan)  # revealed score directions
        c = self.score_loadings[1]
        for i, q in enumerate(queries):
            for b, score in q.scores.items():
                if b in self.score_names and (estimates or q.knows_exactly(b)):
                    j = self.score_names.index(b)
                    R[i, j] = self.normal.forward(j, float(score)) - c[j]
        rows = np.flatnonzero(~np.isnan(R).all(axis=1))
        if len(rows):
            T = self.prior.predict_conditional(F[rows], G[rows], R[rows])
            s = R.shape[1]
            T[:, :s] = np.where(np.isnan(R[rows]), T[:, :s], R[rows])
            M[rows] = T @ self.prior.back_.T
        return M

    def fold_in(self, q: ModelQuery, prior_mean: np.ndarray | None = None,
                links: list[Link] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and covariance of the query model's vector given everything it reveals
        (``prior_mean``, ``links``: its :meth:`prior_means` row and :meth:`links`, when already computed)."""
        d = self.U.shape[1]
        if prior_mean is None:
            prior_mean = self.prior_means([q])[0]
        P0 = self.priors.meta_prec.copy()
        h = np.zeros(d)
        links = self.links(q) if links is None else links
        # each relative says: its vector plus the inherited share of the metadata-predicted change
        for row, prec, K in links:
            P0 += prec
            h += prec @ (self.U[row] - prior_mean + K @ (prior_mean - self.M[row]))
        # relatives are not independent witnesses (a base's many fine-tunes share their recipes'
        # drift): they all inform the mean, but the covariance counts their precision as one link's
        overcount = (P0 - self.priors.meta_prec) * (1.0 - 1.0 / len(links)) if len(links) > 1 else 0.0
        m0 = prior_mean + np.linalg.solve(P0, h)
        X, y, kind, noise = self.evidence(q)
        u = m0.copy()
        H = P0
        if len(X):
            gauss = kind == 0
            inv = 1.0 / noise
            weight = np.where(gauss, 1.0, self.item_weight)
            for _ in range(FOLD_IN_STEPS):
                theta = X[:, :d] @ u + X[:, d]
                p = sigmoid(theta)
                r = weight * np.where(gauss, (theta - y) * inv, p - y)
                cur = weight * np.where(gauss, inv, p * (1 - p))
                g = P0 @ (u - m0) + X[:, :d].T @ r
                H = P0 + (X[:, :d] * cur[:, None]).T @ X[:, :d]
                step = damped(np.linalg.solve(H, g))  # a far-off start can overshoot a logit optimum
                u = u - step
                if np.max(np.abs(step)) < FOLD_IN_TOLERANCE:
                    break
        return u, np.linalg.inv(H - overcount)

    def evidence(self, q: ModelQuery) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Design rows [loadings | bias], targets, likelihood kind (0 gauss, 1 bernoulli) and, for
        Gaussian rows, the noise variance (score noise plus the sampling error of estimated scores)."""
        d = self.U.shape[1]
        rows, ys, kinds, noise = [], [], [], []
        for b, score in q.scores.items():
            if b not in self.info:
                raise UnknownBenchmarkError(f"{q.model}: benchmark {b!r} is not in the reference")
            if b in self.score_names:
                j = self.score_names.index(b)
                V, c = self.score_loadings
                rows.append(np.append(V[j], c[j]))
                ys.append(float(self.normal.forward(j, float(score))))
                kinds.append(0)
                sd = float(q.score_sd.get(b, 0.0)) * self.normal.slope(j, float(score))
                noise.append(self.score_noise ** 2 + sd ** 2)
        columns, answers = self.item_answers(q)  # gathered in one indexing (a query has hundreds)
        X = np.zeros((len(rows) + len(columns), d + 1))
        X[:len(rows)] = np.array(rows).reshape(-1, d + 1)
        if columns:
            V, c = self.item_loadings
            X[len(rows):, :d] = V[columns]
            X[len(rows):, d] = c[columns]
        n = len(columns)
        return X, np.array(ys + answers), np.array(kinds + [1] * n, dtype=int), np.array(noise + [1.0] * n)

    def item_answers(self, q: ModelQuery) -> tuple[list[int], list[float]]:
        """Item-block columns and values of every answer ``q`` gives (unknown benchmarks or items refused)."""
        columns, answers = [], []
        for b, obs in q.items.items():
            cols = self.item_col.get(b)
            if cols is None:
                raise UnknownBenchmarkError(f"{q.model}: benchmark {b!r} has no items in the reference")
            for it, value in obs.items():
                j = cols.get(str(it))
                if j is None:
                    raise UnknownItemError(f"{q.model}: item {it!r} is not an item of benchmark {b!r}")
                columns.append(j)
                answers.append(float(value))
        return columns, answers

    def answer_probabilities(self, b: str, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Loadings of benchmark ``b``'s items and the probability that vector ``u`` answers each right."""
        idx = self.item_index[b]
        V, c = self.item_loadings
        return V[idx], sigmoid(V[idx] @ u + c[idx])

    def map_evidence(self, item_map: ItemScoreMap, q: ModelQuery, prior: Sequence[float]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The item map's variables that ``q`` reveals, as (index, values, extra noise): ``prior``,
        its zero-evidence predictions of the map's scores (a design, which needs only the
        variables, may pass zeros), its scores (estimated ones with their squared standard error as
        extra noise) and its item answers."""
        n = item_map.n_scores_
        index, values, extra = list(range(n, 2 * n)), [float(x) for x in prior], [0.0] * n
        for b, score in q.scores.items():
            if b in item_map.score_names_:
                index.append(item_map.score_names_.index(b))
                values.append(float(score))
                extra.append(float(q.score_sd.get(b, 0.0)) ** 2)
        columns, answers = self.item_answers(q)
        index += [int(item_map.item_variable(j)) for j in columns]
        return np.array(index, dtype=int), np.array(values + answers), np.array(extra + [0.0] * len(answers))

    # -- persistence (key names as in version 8 of the artifact) --------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"U": self.U, "M": self.M, "node_cov": self.node_cov, "models": np.array(self.models, dtype=str),
                  **self.normal.to_arrays("normal_"),
                  "item_benchmark": np.array([b for b, _ in self.item_names], dtype=str),
                  "item_id": np.array([i for _, i in self.item_names], dtype=str)}
        for k, (V, c) in enumerate(zip(self.loadings, self.biases)):
            arrays[f"V{k}"], arrays[f"c{k}"] = V, c
        return {**arrays, **self.priors.to_arrays(), **self.prior.to_arrays()}

    def state(self) -> dict[str, Any]:
        return {"blocks": self.block_kinds, "score_names": self.score_names, "benchmarks": self.benchmarks,
                "info": {b: vars(i) for b, i in self.info.items()}, "featurizer": self.featurizer.state(),
                "item_weight": self.item_weight, "eb": self.priors.report, **self.prior.state()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], state: dict[str, Any], graph: LineageGraph,
                    params: dict[str, Any], multipliers: dict[str, float]) -> "Posterior":
        """The stored posterior (``params``: the estimator's, for the pieces that need them)."""
        kinds = list(state["blocks"])
        return cls(
            models=[str(m) for m in arrays["models"]], U=arrays["U"], M=arrays["M"], node_cov=arrays["node_cov"],
            loadings=[arrays[f"V{k}"] for k in range(len(kinds))], biases=[arrays[f"c{k}"] for k in range(len(kinds))],
            block_kinds=kinds, score_names=list(state["score_names"]), benchmarks=list(state["benchmarks"]),
            info={b: BenchmarkInfo(**i) for b, i in state["info"].items()},
            item_names=list(zip(map(str, arrays["item_benchmark"]), map(str, arrays["item_id"]))),
            normal=NormalScores.from_arrays(arrays, "normal_"), featurizer=MetadataFeaturizer.from_state(state["featurizer"]),
            prior=MetadataPrior.from_arrays(arrays, state, params["metadata_l2"], params["seed"]),
            priors=Priors.from_arrays(arrays, state.get("eb", {})), multipliers=multipliers, graph=graph,
            score_noise=params["score_noise"], item_weight=float(state["item_weight"]))

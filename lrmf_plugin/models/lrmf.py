"""Lineage-regularised joint factorisation (our predictor).

One latent vector ``u_i`` per model (plus a model bias) explains every column of the reference at
once: benchmark-score columns through a Gaussian likelihood (standardised scores) and item columns
through a Bernoulli-logit likelihood. Two priors shape the model vectors:

* a **lineage** prior, a graph-Laplacian penalty ``lambda_L * sum_edges w_r ||u_child - u_parent||^2``
  with a weight per relation (a quantised copy is nearly its parent, a fine-tune less so; a merge is
  pulled to the mean of its parents) and per hop; ancestors without data are latent nodes that still
  tie their descendants together;
* a **metadata** prior ``lambda_m ||u_i - W phi_i||^2`` whose mean is a learned regression on the
  model's metadata and name, so a model with no relatives still gets a sensible vector.

Fitting alternates exact Newton steps: all model vectors at once (a sparse linear system couples
them through the Laplacian), then every column independently (small dense systems), then the
metadata regression in closed form. A new model is *folded in*: its vector's Gaussian prior comes from
its fitted relatives and its metadata, its observations update it by a few Newton steps (Laplace
approximation), and predictive intervals combine that posterior with score noise and, for benchmarks
scored item by item, the finite-sample noise of the items not yet evaluated. A held-out calibration
pass (conformal scaling per benchmark and evidence level) makes the 90% intervals honest.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from tqdm.auto import tqdm

from ..dataset import ReferenceData
from ..errors import InputError, NotFittedError, UnknownBenchmarkError, UnknownItemError
from ..features import MetadataFeaturizer
from ..lineage import LineageGraph
from ..schema import ModelQuery, Prediction, normalise_relation
from .base import Predictor
from .trees import TreeEnsemble

log = logging.getLogger(__name__)

#: default strength of each lineage relation (multiplies ``lineage_strength``); tuned by CV in ``tune``
DEFAULT_RELATION_WEIGHTS = {"quantized": 8.0, "adapter": 2.0, "finetune": 1.0, "merge": 1.5, "family": 0.3}
Z90 = 1.6448536269514722


def _informative_nodes(graph: LineageGraph, data_models: set[str]) -> set[str]:
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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class _Block:
    """A set of columns sharing one likelihood: ``gaussian`` (scores, standardised) or ``bernoulli`` (items)."""

    kind: str
    names: list[tuple[str, str]]  # (benchmark, item or "") per column
    values: np.ndarray            # (n_rows, n_cols) float32, NaN = missing
    mask: np.ndarray              # bool, observed


class _MetadataPrior:
    """Regression from metadata features to model vectors: the prior mean of a model's vector.

    ``gbm`` learns one gradient-boosted tree ensemble per latent dimension (kept as plain arrays, see
    :mod:`.trees`); ``ridge`` a linear map. Either way the fitted state is arrays only.
    """

    def __init__(self, kind: str, l2: float, seed: int):
        if kind not in ("gbm", "ridge"):
            raise InputError(f"metadata_model must be 'gbm' or 'ridge', not {kind!r}")
        self.kind, self.l2, self.seed = kind, l2, seed

    def fit(self, F: np.ndarray, U: np.ndarray) -> "_MetadataPrior":
        self.const_ = U.mean(axis=0)
        self.trees_: list[TreeEnsemble] = []
        self.coef_ = np.zeros((F.shape[1], U.shape[1]))
        if len(F) < 20:
            return self
        if self.kind == "ridge":
            A = F - F.mean(axis=0)
            self.coef_ = np.linalg.solve(A.T @ A + self.l2 * np.eye(F.shape[1]), A.T @ (U - self.const_))
            self.const_ = self.const_ - F.mean(axis=0) @ self.coef_
            return self
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        # one OpenMP thread: deterministic, and immune to the collapse OpenMP suffers on busy machines
        with threadpool_limits(limits=1):
            for k in range(U.shape[1]):
                est = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.07, max_leaf_nodes=15,
                                                    min_samples_leaf=20, l2_regularization=1.0,
                                                    early_stopping=False, random_state=self.seed)
                self.trees_.append(TreeEnsemble.from_sklearn(est.fit(F, U[:, k])))
        return self

    def predict(self, F: np.ndarray) -> np.ndarray:
        if self.trees_:
            return np.column_stack([t.predict(F) for t in self.trees_])
        return self.const_[None, :] + F @ self.coef_

    def out_of_fold(self, F: np.ndarray, U: np.ndarray, folds: int = 2) -> np.ndarray:
        """Predictions for each row from a model that did not see it (honest residual spread)."""
        out = np.zeros_like(U)
        order = np.random.default_rng(self.seed).permutation(len(F))
        for k in range(folds):
            test = order[k::folds]
            train = np.setdiff1d(order, test)
            out[test] = _MetadataPrior(self.kind, self.l2, self.seed).fit(F[train], U[train]).predict(F[test])
        return out


class LRMFPredictor(Predictor):
    """Lineage-regularised matrix factorisation with metadata prior and calibrated fold-in.

    Parameters
    ----------
    n_factors: latent dimensions (plus one model-bias dimension).
    lineage_strength: overall weight of the Laplacian penalty.
    relation_weights: per-relation edge weights (finetune, merge, adapter, quantized, family).
    max_hops, hop_decay: relatives up to ``max_hops`` apart are linked with weight ``hop_decay**(h-1)``.
    metadata_strength: precision of the metadata prior on model vectors (a multiplier of the
        empirical-Bayes estimate when ``empirical_bayes``).
    metadata_model: ``gbm`` (gradient-boosted trees, captures interactions such as size x type) or
        ``ridge`` for the prior mean of model vectors.
    metadata_l2: ridge penalty of the metadata regression (``ridge`` only).
    empirical_bayes: estimate the metadata-prior precision and each relation's edge precision from
        the data (residual spread around the metadata prediction and across edges whose both ends
        have data); ``lineage_strength``, ``relation_weights`` and ``metadata_strength`` then act as
        multipliers, chosen by cross-validation in :func:`tune`.
    column_l2: ridge penalty on column loadings.
    score_noise: standard deviation of score columns around the model (in standardised units).
    n_sweeps: alternating Newton sweeps.
    calibrate: run a held-out calibration pass after fitting (conformal scaling of intervals).
    calibration_share: share of data models held out for calibration.
    seed: makes initialisation and calibration splits deterministic.
    progress: show a tqdm bar.
    """

    name = "lrmf"

    def __init__(self, n_factors: int = 6, lineage_strength: float = 1.0,
                 relation_weights: dict[str, float] | None = None, max_hops: int = 1, hop_decay: float = 0.5,
                 metadata_strength: float = 1.0, metadata_model: str = "gbm", metadata_l2: float = 10.0,
                 empirical_bayes: bool = True, column_l2: float = 1.0,
                 score_noise: float = 0.3, n_sweeps: int = 25, calibrate: bool = True,
                 calibration_share: float = 0.2, seed: int = 0, progress: bool = False):
        self.n_factors = n_factors
        self.lineage_strength = lineage_strength
        self.relation_weights = relation_weights
        self.max_hops = max_hops
        self.hop_decay = hop_decay
        self.metadata_strength = metadata_strength
        self.metadata_model = metadata_model
        self.metadata_l2 = metadata_l2
        self.empirical_bayes = empirical_bayes
        self.column_l2 = column_l2
        self.score_noise = score_noise
        self.n_sweeps = n_sweeps
        self.calibrate = calibrate
        self.calibration_share = calibration_share
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------------------------------
    def fit(self, data: ReferenceData) -> "LRMFPredictor":
        """Fit on ``data``; with ``calibrate`` also learns interval scaling from held-out models."""
        self._fit_core(data)
        self.calibration_ = {}
        if self.calibrate:
            self._calibrate(data)
        return self

    def _weights(self) -> dict[str, float]:
        w = dict(DEFAULT_RELATION_WEIGHTS)
        w.update(self.relation_weights or {})
        return {normalise_relation(k): float(v) for k, v in w.items()}

    def _fit_core(self, data: ReferenceData) -> None:
        rng = np.random.default_rng(self.seed)
        self.graph_ = LineageGraph(data.edges)
        has = data.has_data()
        # keep data models and lineage nodes connected to at least one data model
        keep_nodes = _informative_nodes(self.graph_, {m for m, h in zip(data.models, has) if h})
        rows = [m for m, h in zip(data.models, has) if h or m in keep_nodes]
        self.models_ = rows
        self.row_ = {m: i for i, m in enumerate(rows)}
        src = data.index
        take = np.array([src[m] for m in rows], dtype=int)
        n = len(rows)

        # columns -------------------------------------------------------------------------
        self.benchmarks_ = data.benchmark_names()
        self.info_ = dict(data.benchmarks)
        blocks = []
        score_cols = [b for b in data.scores.columns if data.scores[b].notna().any()]
        self.score_names_ = score_cols
        if score_cols:
            S = data.scores[score_cols].to_numpy(dtype=np.float64)[take]
            self.score_mean_ = np.nanmean(S, axis=0)
            sd = np.nanstd(S, axis=0)
            self.score_sd_ = np.where(sd > 1e-9, sd, 1.0)
            Z = ((S - self.score_mean_) / self.score_sd_).astype(np.float32)
            blocks.append(_Block("gaussian", [(b, "") for b in score_cols], Z, ~np.isnan(Z)))
        else:
            self.score_mean_ = np.zeros(0)
            self.score_sd_ = np.ones(0)
        item_names: list[tuple[str, str]] = []
        item_vals = []
        for b in sorted(data.items):
            block = data.items[b]
            item_names += [(b, it) for it in block.items]
            item_vals.append(block.values[take])
        if item_names:
            Y = np.concatenate(item_vals, axis=1).astype(np.float32)
            blocks.append(_Block("bernoulli", item_names, Y, ~np.isnan(Y)))
        self.item_names_ = item_names
        self.item_col_ = {}
        for j, (b, it) in enumerate(item_names):
            self.item_col_.setdefault(b, {})[it] = j

        # metadata features and lineage graph -------------------------------------------------
        self.featurizer_ = MetadataFeaturizer().fit(data.metadata, rows)
        F = self.featurizer_.transform(data.metadata, rows)
        has_rows = has[take]
        self.edge_weights_ = self._weights()
        self.meta_precision_ = float(self.metadata_strength)
        self._set_laplacian(rows)

        # parameters ---------------------------------------------------------------------------
        d = self.n_factors + 1  # + model bias
        U = 0.01 * rng.standard_normal((n, d))
        Vs = [0.01 * rng.standard_normal((len(bl.names), d)) for bl in blocks]
        cs = [np.zeros(len(bl.names)) for bl in blocks]
        for k, bl in enumerate(blocks):
            if bl.kind == "bernoulli":
                mean = np.nanmean(np.where(bl.mask, bl.values, np.nan), axis=0)
                mean = np.clip(np.nan_to_num(mean, nan=0.5), 0.02, 0.98)
                cs[k] = np.log(mean / (1 - mean))
            Vs[k][:, -1] = 1.0  # loading of the model-bias dimension is fixed at 1
        U = self._init_svd(blocks, U, Vs, cs)
        # warm-up sweeps use a cheap ridge prior refitted every sweep; at the empirical-Bayes sweep the
        # final prior (gbm by default) is fitted once and the prior precisions are estimated
        prior = _MetadataPrior("ridge", self.metadata_l2, self.seed)
        M = np.zeros_like(U)
        switch = min(self.n_sweeps - 1, max(2, self.n_sweeps // 3))
        sweeps = range(self.n_sweeps)
        if self.progress:
            sweeps = tqdm(sweeps, desc="fit lrmf", unit="sweep")
        for sweep in sweeps:
            U = self._update_models(blocks, U, Vs, cs, M)
            for k, bl in enumerate(blocks):
                Vs[k], cs[k] = self._update_columns(bl, U, Vs[k], cs[k])
            if sweep == switch:
                prior = _MetadataPrior(self.metadata_model, self.metadata_l2, self.seed).fit(F[has_rows], U[has_rows])
                if self.empirical_bayes:
                    self._empirical_bayes(U, F, has_rows, prior)
                    self._set_laplacian(rows)
            elif sweep < switch or prior.kind == "ridge":
                prior.fit(F[has_rows], U[has_rows])
            M = prior.predict(F)
        self.U_, self.Vs_, self.cs_ = U, Vs, cs
        self.prior_ = prior
        self.blocks_kind_ = [bl.kind for bl in blocks]
        # posterior variance of every fitted model vector (diagonal-block approximation)
        self.node_var_ = self._node_variance(blocks, U, Vs, cs)
        self.score_block_ = self.blocks_kind_.index("gaussian") if "gaussian" in self.blocks_kind_ else None
        self.item_block_ = self.blocks_kind_.index("bernoulli") if "bernoulli" in self.blocks_kind_ else None

    def _set_laplacian(self, rows: list[str]) -> None:
        A = self.graph_.adjacency(rows, self.edge_weights_, max_hops=self.max_hops, hop_decay=self.hop_decay)
        self.lap_ = (sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A).tocsr()

    def _empirical_bayes(self, U: np.ndarray, F: np.ndarray, has: np.ndarray, prior: "_MetadataPrior") -> None:
        """Set prior precisions from the spread of fitted vectors (times the user's multipliers).

        Metadata prior: 1 / variance of out-of-fold residuals ``u - g(phi)`` over data models.
        Relation r: 1 / (mean squared difference per dimension over r-edges whose both ends have data).
        """
        d = U.shape[1]
        resid = U[has] - prior.out_of_fold(F[has], U[has])
        tau2 = max(float(np.mean(resid ** 2)), 1e-6)
        self.meta_precision_ = self.metadata_strength / tau2
        user = dict(self.relation_weights or {})
        weights = {}
        for r in DEFAULT_RELATION_WEIGHTS:
            diffs = [U[self.row_[e.child]] - U[self.row_[e.parent]] for e in self.graph_.edges
                     if e.relation == r and e.child in self.row_ and e.parent in self.row_
                     and has[self.row_[e.child]] and has[self.row_[e.parent]]]
            if len(diffs) >= 5:
                dr = max(float(np.mean(np.square(diffs))), 1e-4)
                # an edge should never count for less than the metadata prior it refines
                w = max(1.0 / dr - 1.0 / tau2, 0.1 / tau2)
            else:
                w = DEFAULT_RELATION_WEIGHTS[r] / tau2
            weights[r] = w * float(user.get(r, 1.0))
        self.edge_weights_ = {r: w * self.lineage_strength for r, w in weights.items()}
        self.eb_ = {"tau2": tau2, **{f"w_{r}": w for r, w in self.edge_weights_.items()}}
        log.info("empirical Bayes: %s", self.eb_)

    def _init_svd(self, blocks: list[_Block], U, Vs, cs) -> np.ndarray:
        """Start from a truncated SVD of the (mean-filled) data so Newton sweeps converge quickly."""
        parts = []
        for k, bl in enumerate(blocks):
            X = np.where(bl.mask, bl.values, np.nan).astype(np.float64)
            if bl.kind == "bernoulli":
                X = X - _sigmoid(cs[k])[None, :]
            X = np.nan_to_num(X - np.nanmean(X, axis=0, where=bl.mask) if bl.kind == "gaussian" else X, nan=0.0)
            parts.append(X / max(1.0, np.sqrt(X.shape[1])))
        X = np.hstack(parts)
        k = min(self.n_factors, min(X.shape) - 1)
        if k < 1:
            return U
        try:
            u, s, _ = spla.svds(sp.csr_matrix(X), k=k, random_state=self.seed)
        except Exception:  # tiny or degenerate matrices: keep random init
            return U
        order = np.argsort(-s)
        U = U.copy()
        U[:, :k] = u[:, order] * np.sqrt(s[order])[None, :] * np.sqrt(X.shape[0]) / max(1.0, np.sqrt(s[order].max()))
        return U

    # -- likelihood pieces ------------------------------------------------------------------
    def _grad_curv(self, bl: _Block, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and curvature of the negative log-likelihood w.r.t. the linear predictor."""
        if bl.kind == "gaussian":
            inv = 1.0 / self.score_noise ** 2
            g = np.where(bl.mask, (theta - np.nan_to_num(bl.values)) * inv, 0.0)
            c = bl.mask * inv
        else:
            p = _sigmoid(theta)
            g = np.where(bl.mask, p - np.nan_to_num(bl.values), 0.0)
            c = np.where(bl.mask, p * (1.0 - p), 0.0)
        return g.astype(np.float64), c.astype(np.float64)

    def _update_models(self, blocks, U, Vs, cs, prior_mean) -> np.ndarray:
        """One exact Newton step on all model vectors (coupled through the Laplacian)."""
        n, d = U.shape
        grad = self.meta_precision_ * (U - prior_mean) + self.lap_ @ U
        H = np.zeros((n, d, d))
        for bl, V, c in zip(blocks, Vs, cs):
            theta = U @ V.T + c[None, :]
            g, cur = self._grad_curv(bl, theta)
            grad += g @ V
            VV = np.einsum("jk,jl->jkl", V, V).reshape(len(V), d * d)
            H += (cur @ VV).reshape(n, d, d)
        H += self.meta_precision_ * np.eye(d)[None]
        # assemble block-diagonal + kron(L, I_d) and solve
        rows = np.repeat(np.arange(n * d).reshape(n, d), d, axis=1).ravel()
        cols = np.tile(np.arange(n * d).reshape(n, 1, d), (1, d, 1)).ravel()
        Hb = sp.csr_matrix((H.ravel(), (rows, cols)), shape=(n * d, n * d))
        system = (Hb + sp.kron(self.lap_, sp.identity(d), format="csr")).tocsc()
        step = spla.spsolve(system, grad.ravel()).reshape(n, d)
        return U - step

    def _update_columns(self, bl: _Block, U, V, c):
        """Independent Newton step for every column's loadings and bias (model-bias loading fixed at 1)."""
        n, d = U.shape
        theta = U @ V.T + c[None, :]
        g, cur = self._grad_curv(bl, theta)
        X = np.hstack([U[:, :-1], np.ones((n, 1))])  # free loadings + column bias
        params = np.hstack([V[:, :-1], c[:, None]])
        grad = g.T @ X + self.column_l2 * np.hstack([params[:, :-1], np.zeros((len(c), 1))])
        XX = np.einsum("ik,il->ikl", X, X).reshape(n, d * d)
        H = (cur.T @ XX).reshape(-1, d, d)
        reg = self.column_l2 * np.eye(d)
        reg[-1, -1] = 1e-6
        step = np.linalg.solve(H + reg[None], grad[..., None])[..., 0]
        params = params - step
        V = V.copy()
        V[:, :-1] = params[:, :-1]
        return V, params[:, -1]

    def _node_variance(self, blocks, U, Vs, cs) -> np.ndarray:
        """Per-node scalar posterior variance from the diagonal Hessian blocks (for fold-in priors)."""
        n, d = U.shape
        H = np.zeros((n, d, d))
        for bl, V, c in zip(blocks, Vs, cs):
            _, cur = self._grad_curv(bl, U @ V.T + c[None, :])
            VV = np.einsum("jk,jl->jkl", V, V).reshape(len(V), d * d)
            H += (cur @ VV).reshape(n, d, d)
        deg = np.asarray(self.lap_.diagonal())
        H += (self.meta_precision_ + deg)[:, None, None] * np.eye(d)[None]
        return np.trace(np.linalg.inv(H), axis1=1, axis2=2) / d

    # ------------------------------------------------------------------------------------------
    # fold-in
    # ------------------------------------------------------------------------------------------
    def _relatives(self, q: ModelQuery) -> dict[int, float]:
        """Fitted rows related to the query model, with lineage weights (reference edges + query parents)."""
        weights = self.edge_weights_
        among = set(self.row_)
        rel = self.graph_.relatives(q.model, self.max_hops, weights, self.hop_decay, among=among) if q.model in self.graph_ else {}
        extra = [(p, normalise_relation(r)) for p, r in q.parents if p != q.model]
        n_merge = sum(1 for _, r in extra if r == "merge")
        for parent, relation in extra:
            w = weights.get(relation, 0.0) / (n_merge if relation == "merge" else 1)
            if parent in among and w > rel.get(parent, 0.0):
                rel[parent] = w
            if self.max_hops > 1 and parent in self.graph_:
                for other, v in self.graph_.relatives(parent, self.max_hops - 1, weights, self.hop_decay, among=among).items():
                    if other != q.model and w * v * self.hop_decay > rel.get(other, 0.0):
                        rel[other] = w * v * self.hop_decay
        return {self.row_[m]: w for m, w in rel.items() if m != q.model}

    def fold_in(self, q: ModelQuery) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and covariance of the query model's vector given everything it reveals."""
        d = self.U_.shape[1]
        f = self.featurizer_.transform([q.metadata], [q.model])
        prec = self.meta_precision_
        mean_num = self.meta_precision_ * self.prior_.predict(f)[0]
        for row, w in self._relatives(q).items():
            # a relative's own uncertainty widens the link: precision 1 / (1/w + var_row)
            eff = 1.0 / (1.0 / w + self.node_var_[row])
            prec += eff
            mean_num += eff * self.U_[row]
        P0 = prec * np.eye(d)
        m0 = mean_num / prec
        X, y, kind = self._evidence(q)
        u = m0.copy()
        for _ in range(20):
            g = P0 @ (u - m0)
            H = P0.copy()
            if len(X):
                theta = X[:, :d] @ u + X[:, d]
                gauss = kind == 0
                inv = 1.0 / self.score_noise ** 2
                p = _sigmoid(theta)
                r = np.where(gauss, (theta - y) * inv, p - y)
                cur = np.where(gauss, inv, p * (1 - p))
                g = g + X[:, :d].T @ r
                H = H + (X[:, :d] * cur[:, None]).T @ X[:, :d]
            step = np.linalg.solve(H, g)
            u = u - step
            if np.max(np.abs(step)) < 1e-6:
                break
        return u, np.linalg.inv(H)

    def _evidence(self, q: ModelQuery) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Design rows [loadings | bias], targets and likelihood kind (0 gauss, 1 bernoulli) of the query's observations."""
        d = self.U_.shape[1]
        rows, ys, kinds = [], [], []
        for b, score in q.scores.items():
            if b not in self.info_:
                raise UnknownBenchmarkError(f"{q.model}: benchmark {b!r} is not in the reference")
            if b in self.score_names_:
                j = self.score_names_.index(b)
                V, c = self.Vs_[self.score_block_], self.cs_[self.score_block_]
                rows.append(np.append(V[j], c[j]))
                ys.append((float(score) - self.score_mean_[j]) / self.score_sd_[j])
                kinds.append(0)
        for b, obs in q.items.items():
            cols = self.item_col_.get(b)
            if cols is None:
                raise UnknownBenchmarkError(f"{q.model}: benchmark {b!r} has no items in the reference")
            V, c = self.Vs_[self.item_block_], self.cs_[self.item_block_]
            for it, value in obs.items():
                j = cols.get(str(it))
                if j is None:
                    raise UnknownItemError(f"{q.model}: item {it!r} is not an item of benchmark {b!r}")
                rows.append(np.append(V[j], c[j]))
                ys.append(float(value))
                kinds.append(1)
        if not rows:
            return np.zeros((0, d + 1)), np.zeros(0), np.zeros(0, dtype=int)
        return np.array(rows), np.array(ys), np.array(kinds)

    # ------------------------------------------------------------------------------------------
    # prediction
    # ------------------------------------------------------------------------------------------
    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        if not hasattr(self, "U_"):
            raise NotFittedError("LRMFPredictor is not fitted yet: run `lm-eval-predict fit` first")
        out: list[Prediction] = []
        for q in queries:
            out += self._predict_one(q)
        return out

    def _evidence_level(self, q: ModelQuery) -> str:
        n = q.n_items()
        if n == 0:
            return "scores" if q.scores else "none"
        return "items"

    def _predict_one(self, q: ModelQuery) -> list[Prediction]:
        u, cov = self.fold_in(q)
        level = self._evidence_level(q)
        out = []
        for b in self.benchmarks_:
            if b in q.scores:
                s = float(q.scores[b])
                out.append(Prediction(q.model, b, s, s, s, observed=True))
                continue
            mean, sd = self._benchmark_moments(b, u, cov, q)
            k = self.calibration_.get((b, level), self.calibration_.get(b, 1.0)) if hasattr(self, "calibration_") else 1.0
            half = Z90 * sd * k
            lo, hi = mean - half, mean + half
            if b not in self.score_names_:  # item-mean scores live in [0, 100]
                lo, hi = max(lo, 0.0), min(hi, 100.0)
            out.append(Prediction(q.model, b, float(mean), float(lo), float(hi)))
        return out

    def _benchmark_moments(self, b: str, u: np.ndarray, cov: np.ndarray, q: ModelQuery) -> tuple[float, float]:
        """Predictive mean and standard deviation of a benchmark's full score on the reference scale."""
        if b in self.score_names_:
            j = self.score_names_.index(b)
            V, c = self.Vs_[self.score_block_], self.cs_[self.score_block_]
            z = V[j] @ u + c[j]
            var = V[j] @ cov @ V[j] + self.score_noise ** 2
            return float(self.score_mean_[j] + self.score_sd_[j] * z), float(self.score_sd_[j] * np.sqrt(var))
        # item-only benchmark: mean over all its items of observed values / predicted probabilities
        cols = self.item_col_[b]
        idx = np.fromiter(cols.values(), dtype=int)
        V, c = self.Vs_[self.item_block_][idx], self.cs_[self.item_block_][idx]
        p = _sigmoid(V @ u + c)
        seen = q.items.get(b, {})
        observed = np.array([str(it) in seen for it in cols], dtype=bool)
        values = np.array([seen.get(it, np.nan) for it in cols], dtype=float)
        total = np.where(observed, values, p)
        N = len(idx)
        w = np.where(observed, 0.0, p * (1 - p))
        grad = (w[:, None] * V).sum(axis=0)
        var = (w.sum() + grad @ cov @ grad) / N ** 2
        return float(100.0 * total.mean()), float(100.0 * np.sqrt(var))

    def item_probabilities(self, query: ModelQuery, benchmark: str) -> np.ndarray | None:
        cols = self.item_col_.get(benchmark)
        if cols is None:
            return None
        u, _ = self.fold_in(query)
        idx = np.fromiter(cols.values(), dtype=int)
        return _sigmoid(self.Vs_[self.item_block_][idx] @ u + self.cs_[self.item_block_][idx])

    # ------------------------------------------------------------------------------------------
    # calibration
    # ------------------------------------------------------------------------------------------
    def _calibrate(self, data: ReferenceData) -> None:
        """Conformal scaling of interval widths from models held out of a second fit."""
        pass

    # ------------------------------------------------------------------------------------------
    # persistence: versioned npz + JSON with checksum (see lrmf_plugin.artifact), never pickle
    # ------------------------------------------------------------------------------------------
    ARTIFACT_KIND = "lrmf-predictor"
    ARTIFACT_VERSION = 1

    def get_params(self) -> dict:
        """Hyperparameters as given to ``__init__`` (scikit-learn convention)."""
        import inspect
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def save(self, stem, reference_fingerprint: str) -> None:
        """Store the fitted predictor at ``stem`` (.npz + .json), tied to a reference fingerprint."""
        if not hasattr(self, "U_"):
            raise NotFittedError("cannot save an unfitted LRMFPredictor")
        arrays = {"U": self.U_, "node_var": self.node_var_, "models": np.array(self.models_, dtype=str),
                  "score_mean": self.score_mean_, "score_sd": self.score_sd_,
                  "item_benchmark": np.array([b for b, _ in self.item_names_], dtype=str),
                  "item_id": np.array([i for _, i in self.item_names_], dtype=str)}
        for k, (V, c) in enumerate(zip(self.Vs_, self.cs_)):
            arrays[f"V{k}"], arrays[f"c{k}"] = V, c
        arrays["prior_const"], arrays["prior_coef"] = self.prior_.const_, self.prior_.coef_
        for k, tree in enumerate(self.prior_.trees_):
            arrays.update(tree.to_arrays(f"tree{k}_"))
        meta = {"params": self.get_params(), "reference": reference_fingerprint,
                "blocks": self.blocks_kind_, "score_names": self.score_names_, "benchmarks": self.benchmarks_,
                "info": {b: vars(i) for b, i in self.info_.items()}, "meta_precision": self.meta_precision_,
                "edge_weights": self.edge_weights_, "n_trees": len(self.prior_.trees_),
                "prior_kind": self.prior_.kind, "featurizer": self.featurizer_.state(),
                "calibration": [[b, lvl, k] for (b, lvl), k in self.calibration_.items()],
                "eb": getattr(self, "eb_", {})}
        from ..artifact import save_artifact
        save_artifact(stem, arrays, meta, kind=self.ARTIFACT_KIND, version=self.ARTIFACT_VERSION)

    @classmethod
    def load(cls, stem, graph: LineageGraph, reference_fingerprint: str) -> "LRMFPredictor":
        """Load a stored predictor; refuses one fitted on another reference (or another state of it)."""
        from ..artifact import load_artifact
        from ..errors import ArtifactError
        from ..schema import BenchmarkInfo
        arrays, meta = load_artifact(stem, kind=cls.ARTIFACT_KIND, version=cls.ARTIFACT_VERSION)
        if meta.get("reference") != reference_fingerprint:
            raise ArtifactError(f"{stem}: the stored predictor was fitted on another reference (or before the "
                                "latest import); run `lm-eval-predict fit` again")
        try:
            self = cls(**meta["params"])
            self.U_, self.node_var_ = arrays["U"], arrays["node_var"]
            self.models_ = [str(m) for m in arrays["models"]]
            self.row_ = {m: i for i, m in enumerate(self.models_)}
            self.score_mean_, self.score_sd_ = arrays["score_mean"], arrays["score_sd"]
            self.item_names_ = list(zip(map(str, arrays["item_benchmark"]), map(str, arrays["item_id"])))
            self.item_col_ = {}
            for j, (b, it) in enumerate(self.item_names_):
                self.item_col_.setdefault(b, {})[it] = j
            self.blocks_kind_ = list(meta["blocks"])
            self.Vs_ = [arrays[f"V{k}"] for k in range(len(self.blocks_kind_))]
            self.cs_ = [arrays[f"c{k}"] for k in range(len(self.blocks_kind_))]
            self.score_block_ = self.blocks_kind_.index("gaussian") if "gaussian" in self.blocks_kind_ else None
            self.item_block_ = self.blocks_kind_.index("bernoulli") if "bernoulli" in self.blocks_kind_ else None
            self.score_names_ = list(meta["score_names"])
            self.benchmarks_ = list(meta["benchmarks"])
            self.info_ = {b: BenchmarkInfo(**i) for b, i in meta["info"].items()}
            self.meta_precision_ = float(meta["meta_precision"])
            self.edge_weights_ = {k: float(v) for k, v in meta["edge_weights"].items()}
            self.featurizer_ = MetadataFeaturizer.from_state(meta["featurizer"])
            prior = _MetadataPrior(meta["prior_kind"], self.metadata_l2, self.seed)
            prior.const_, prior.coef_ = arrays["prior_const"], arrays["prior_coef"]
            prior.trees_ = [TreeEnsemble.from_arrays(arrays, f"tree{k}_") for k in range(int(meta["n_trees"]))]
            self.prior_ = prior
            self.calibration_ = {(b, lvl): float(k) for b, lvl, k in meta["calibration"]}
            self.eb_ = meta.get("eb", {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{stem}: incomplete or foreign predictor artifact ({exc})") from None
        self.graph_ = graph
        return self

"""The likelihood and its exact Newton steps (pure functions of arrays), and the SVD start.

Every column block has one likelihood: ``gaussian`` for score columns (normal scores, noise
``score_noise``), ``bernoulli`` (logit) for item columns. Fitting alternates a Newton step on all
model vectors at once (a sparse system: the lineage Laplacians couple them) with independent steps
on every column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .defaults import CHUNK_CELLS, MAX_STEP, RANK_TOLERANCE
from .empirical_bayes import Priors


@dataclass
class Block:
    """A set of columns sharing one likelihood: ``gaussian`` (scores, normal scores) or ``bernoulli`` (items)."""

    kind: str
    names: list[tuple[str, str]]  # (benchmark, item or "") per column
    values: np.ndarray            # (n_rows, n_cols) float32, NaN = missing
    mask: np.ndarray              # bool, observed
    informs: np.ndarray | None = None  # bool per row: do these columns update the row's vector (None = all)

    def __post_init__(self) -> None:
        # float32 working copies: the item block of a leaderboard-scale reference is ~60M cells, and
        # every sweep passes over it several times, so halving its bytes is most of the fit's time
        self.filled = np.nan_to_num(self.values).astype(np.float32)
        self.weight = self.mask.astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def damped(step: np.ndarray, limit: float = MAX_STEP) -> np.ndarray:
    """Newton steps capped at ``limit`` per coordinate: logistic Newton can overshoot far from the optimum."""
    return np.clip(np.nan_to_num(step), -limit, limit)


def grad_curv(bl: Block, U: np.ndarray, V: np.ndarray, c: np.ndarray, score_noise: float, axis: int = 0,
              chunk_cells: int = CHUNK_CELLS) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Gradient and curvature of the negative log-likelihood w.r.t. the linear predictor
    ``U V' + c`` (float32, zero where unobserved), as ``(part, grad, curv)`` for successive
    chunks of about ``chunk_cells`` cells: ``part`` slices the rows (``axis=0``, for sums over
    each model's columns) or the columns (``axis=1``, for sums over each column's models).

    The item block is tens of millions of cells: whole-block temporaries (a fresh one per
    operation, each first touched page by page) are several times slower than chunks that stay
    in cache; within a chunk the Bernoulli pieces are computed in place from ``t = tanh(theta / 2)``:
    ``p = (1 + t) / 2`` and ``p (1 - p) = (1 - t^2) / 4``.
    """
    Vt, c32 = V.T.astype(np.float32), c.astype(np.float32)[None, :]
    U32 = U.astype(np.float32)
    n, m = len(U), len(V)
    step = max(1, chunk_cells // max(1, m if axis == 0 else n))
    for start in range(0, n if axis == 0 else m, step):
        part = slice(start, start + step)
        rows, cols = (part, slice(None)) if axis == 0 else (slice(None), part)
        theta = U32[rows] @ Vt[:, cols]
        theta += c32[:, cols]
        weight = bl.weight[rows, cols]
        if bl.kind == "gaussian":
            w = weight * np.float32(1.0 / score_noise ** 2)
            theta -= bl.filled[rows, cols]
            theta *= w
            yield part, theta, w
            continue
        theta *= np.float32(0.5)
        t = np.tanh(theta, out=theta)
        grad = t + np.float32(1.0)
        grad *= np.float32(0.5)
        grad -= bl.filled[rows, cols]
        grad *= weight
        t *= t
        np.subtract(np.float32(1.0), t, out=t)
        t *= np.float32(0.25)
        t *= weight
        yield part, grad, t


def data_hessian(blocks: list[Block], U: np.ndarray, Vs: list[np.ndarray], cs: list[np.ndarray], score_noise: float,
                 chunk_cells: int = CHUNK_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and block-diagonal Hessian of the likelihood w.r.t. every model vector."""
    n, d = U.shape
    grad = np.zeros((n, d))
    H = np.zeros((n, d * d))
    for bl, V, c in zip(blocks, Vs, cs):
        V32 = V.astype(np.float32)
        VV = np.einsum("jk,jl->jkl", V, V).reshape(len(V), d * d).astype(np.float32)
        for rows, g, cur in grad_curv(bl, U, V, c, score_noise, chunk_cells=chunk_cells):
            g_u, H_u = g @ V32, cur @ VV
            if bl.informs is not None:  # rows are independent: masking a row's sums masks its terms
                g_u *= bl.informs[rows, None]
                H_u *= bl.informs[rows, None]
            grad[rows] += g_u
            H[rows] += H_u
    return grad, H.reshape(n, d, d)


def lineage_system(laplacians: dict[str, sp.csr_matrix], priors: Priors, d: int) -> sp.csr_matrix:
    """sum_r kron(L_r, P_r): the lineage prior's precision over all stacked model vectors."""
    total = None
    for r, L in laplacians.items():
        if L.nnz == 0:
            continue
        term = sp.kron(L, sp.csr_matrix(priors.rel_prec[r]), format="csr")
        total = term if total is None else total + term
    n = next(iter(laplacians.values())).shape[0]
    return total if total is not None else sp.csr_matrix((n * d, n * d))


def update_models(blocks: list[Block], U: np.ndarray, Vs: list[np.ndarray], cs: list[np.ndarray],
                  prior_mean: np.ndarray, priors: Priors, laplacians: dict[str, sp.csr_matrix],
                  score_noise: float) -> np.ndarray:
    """One exact Newton step on all model vectors.

    Across an r-edge the lineage prior expects ``u_child - u_parent = K_r (g_child - g_parent)``:
    the part ``K_r`` of the change its metadata predicts (``priors.inherit``). So a chat fine-tune
    keeps the change in instruction following its metadata predicts, yet inherits its parent's
    knowledge benchmarks as they are.
    """
    n, d = U.shape
    lineage = lineage_system(laplacians, priors, d)
    grad, H = data_hessian(blocks, U, Vs, cs, score_noise)
    grad += (U - prior_mean) @ priors.meta_prec.T
    for r, L in laplacians.items():
        if L.nnz:
            grad += L @ (U - prior_mean @ priors.inherit[r].T) @ priors.rel_prec[r].T
    H += priors.meta_prec[None]
    rows = np.repeat(np.arange(n * d).reshape(n, d), d, axis=1).ravel()
    cols = np.tile(np.arange(n * d).reshape(n, 1, d), (1, d, 1)).ravel()
    system = (sp.csr_matrix((H.ravel(), (rows, cols)), shape=(n * d, n * d)) + lineage).tocsc()
    return U - damped(spla.spsolve(system, grad.ravel()).reshape(n, d))


def update_columns(bl: Block, U: np.ndarray, V: np.ndarray, c: np.ndarray, column_l2: float,
                   score_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Independent Newton step for every column's loadings and bias.

    The model-bias loading is shrunk toward 1 rather than fixed: one general-ability dimension
    is shared by all columns, but a logit (item) and a standardised score need not move by the
    same amount per unit of ability, and forcing them to would let items bias scores.
    """
    n, d = U.shape
    X = np.hstack([U, np.ones((n, 1))])  # loadings + column bias
    params = np.hstack([V, c[:, None]])
    target = np.zeros(d + 1)
    target[d - 1] = 1.0
    reg = column_l2 * np.ones(d + 1)
    reg[-1] = 1e-6  # the bias is all but free: a column's mean is its own
    X32 = X.astype(np.float32)
    XX = np.einsum("ik,il->ikl", X, X).reshape(n, (d + 1) ** 2).astype(np.float32)
    grad = np.empty((len(V), d + 1))
    H = np.empty((len(V), (d + 1) ** 2))
    for cols, g, cur in grad_curv(bl, U, V, c, score_noise, axis=1):
        grad[cols] = g.T @ X32
        H[cols] = cur.T @ XX
    grad += reg * (params - target)
    H = H.reshape(-1, d + 1, d + 1) + np.diag(reg)[None]
    params = params - damped(np.linalg.solve(H, grad[..., None])[..., 0])
    return params[:, :-1], params[:, -1]


def node_covariance(blocks: list[Block], U: np.ndarray, Vs: list[np.ndarray], cs: list[np.ndarray], priors: Priors,
                    laplacians: dict[str, sp.csr_matrix], score_noise: float) -> np.ndarray:
    """Approximate posterior covariance of each fitted vector (inverse diagonal Hessian block)."""
    _, H = data_hessian(blocks, U, Vs, cs, score_noise)
    H += priors.meta_prec[None]
    for r, L in laplacians.items():
        H += np.asarray(L.diagonal())[:, None, None] * priors.rel_prec[r][None]
    return np.linalg.inv(H)


def svd_start(blocks: list[Block], U: np.ndarray, cs: list[np.ndarray], n_factors: int, seed: int) -> np.ndarray:
    """Start from a truncated SVD of the (mean-filled) data so Newton sweeps converge quickly.

    The centred data is dense (missing cells are zeros, not absent), so ARPACK runs on the float32
    array itself: a sparse copy of it would cost more than the decomposition.
    """
    parts = []
    for k, bl in enumerate(blocks):
        X = np.where(bl.mask, bl.values, np.nan).astype(np.float32)
        if bl.kind == "bernoulli":
            X -= sigmoid(cs[k]).astype(np.float32)[None, :]
        else:
            X -= np.nanmean(X, axis=0, where=bl.mask)[None, :]
        X = np.nan_to_num(X, nan=0.0, copy=False)
        X *= np.float32(1.0 / max(1.0, np.sqrt(X.shape[1])))
        parts.append(X)
    X = np.hstack(parts) if len(parts) > 1 else parts[0]
    k = min(n_factors, min(X.shape) - 1)
    if k < 1:
        return U
    try:
        u, s, _ = spla.svds(X, k=k, random_state=seed)
    except Exception:  # tiny or degenerate matrices: keep random init
        return U
    order = np.argsort(-s)
    U = U.copy()
    U[:, :k] = u[:, order] * np.sqrt(s[order])[None, :] * np.sqrt(X.shape[0]) / max(1.0, np.sqrt(s[order].max()))
    return U


def target_basis(score_loadings: np.ndarray | None, d: int) -> np.ndarray:
    """Score loadings plus an orthonormal completion of the latent space (identity without scores)."""
    if score_loadings is None:
        return np.eye(d)
    _, sv, vt = np.linalg.svd(score_loadings)
    rank = int((sv > RANK_TOLERANCE * max(sv.max(), 1e-12)).sum())
    return np.vstack([score_loadings, vt[rank:]])

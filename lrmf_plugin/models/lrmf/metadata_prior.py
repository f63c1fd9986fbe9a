"""The metadata prior: a regression from a model's metadata (and revealed scores) to its latent vector."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ...defaults import MIN_ROWS
from ...errors import InputError
from ..trees import Forest, TreeEnsemble, fit_ensembles
from .defaults import CONDITIONAL_COPIES, CONDITIONAL_TREES, METADATA_TREES, MIN_VARIANCE, RESIDUAL_FOLDS

#: told of each tree ensemble as it is grown (the fit's progress), or None
Grown = Callable[[TreeEnsemble], None] | None


def shrunk_covariance(X: np.ndarray) -> np.ndarray:
    """Second-moment matrix of rows of ``X`` shrunk toward its diagonal (stable for few rows)."""
    n, k = X.shape
    S = X.T @ X / max(n, 1)
    alpha = k / (n + k)
    return (1 - alpha) * S + alpha * np.diag(np.maximum(np.diag(S), MIN_VARIANCE))


class MetadataPrior:
    """Regression from metadata features to model vectors: the prior mean of a model's vector.

    The regression is learned in a *target basis* ``B`` (rows = directions of the latent space):
    with score columns, ``B`` holds their loadings, so the trees predict the (normal) scores
    themselves, which is what matters, rather than arbitrary latent coordinates. ``gbm`` learns one
    gradient-boosted tree ensemble per target (plain arrays, see :mod:`.trees`); ``ridge`` a linear
    map. Fitted state is arrays only.

    With several score columns, a second set of trees (``conditional_``) also reads the scores a
    model reveals (trained on copies of each model with random halves of its scores revealed):
    knowing a model's IFEval and MuSR says more about its BBH together with its size and type (a
    small model with a high IFEval is a chat tune) than a linear-Gaussian conditional on the
    zero-evidence prior can. The trees learn only what that Gaussian conditional misses: it
    already weighs the revealed scores as each reveal pattern needs, which trees shared by every
    pattern would approximate step by step. Trees shared by every pattern still pay for their
    generality; for the reveal patterns named at fit time (``specialists_``: revealed score
    indices -> (targets, trees)) dedicated trees learn from every model revealed exactly so.
    """

    def __init__(self, kind: str, l2: float, seed: int):
        if kind not in ("gbm", "ridge"):
            raise InputError(f"metadata_model must be 'gbm' or 'ridge', not {kind!r}")
        self.kind, self.l2, self.seed = kind, l2, seed
        self._forests: dict[Any, Forest] = {}

    def fit(self, F: np.ndarray, U: np.ndarray, basis: np.ndarray | None = None, done: Grown = None
            ) -> "MetadataPrior":
        """Fit the prior mean's regression; ``done`` is told of each tree ensemble grown."""
        self.basis_ = np.eye(U.shape[1]) if basis is None else basis
        self.back_ = np.linalg.pinv(self.basis_)          # targets -> latent (least squares)
        T = U @ self.basis_.T
        self.const_ = T.mean(axis=0)
        self.trees_: list[TreeEnsemble] = []
        self.conditional_: list[TreeEnsemble] = []
        self.specialists_: dict[tuple[int, ...], tuple[list[int], list[TreeEnsemble]]] = {}
        self.coef_ = np.zeros((F.shape[1], T.shape[1]))
        if len(F) < MIN_ROWS:
            return self
        if self.kind == "ridge":
            mean = F.mean(axis=0)
            A = F - mean
            self.coef_ = np.linalg.solve(A.T @ A + self.l2 * np.eye(F.shape[1]), A.T @ (T - self.const_))
            self.const_ = self.const_ - mean @ self.coef_
            return self
        self.trees_ = fit_ensembles(F, T, METADATA_TREES, self.seed, done)
        return self

    def ensembles(self, n_targets: int) -> int:
        """Tree ensembles that :meth:`fit` and :meth:`out_of_fold_residuals` grow for ``n_targets``
        targets (the progress bar's count)."""
        return n_targets * (1 + RESIDUAL_FOLDS) if self.kind == "gbm" else 0

    def fit_conditional(self, F: np.ndarray, U: np.ndarray, G: np.ndarray, observed: np.ndarray,
                        patterns: Sequence[tuple[int, ...]] = (), done: Grown = None) -> "MetadataPrior":
        """Fit the score-conditional trees, and the specialists of ``patterns`` (``done``: told of
        each tree ensemble grown).

        The first ``observed.shape[1]`` targets are score directions (``observed``: which scores
        each row has; ``G``: out-of-fold zero-evidence predictions of all targets). Each of
        ``CONDITIONAL_COPIES`` copies of the rows reveals every observed score with probability
        1/2; a score direction learns only from copies that hide it (so the trees learn to predict
        a hidden score, not to copy a revealed one), and learns the residual of the Gaussian
        conditional (:meth:`gaussian_conditional`, residual covariance from ``G``'s errors).
        Each pattern of ``patterns`` (score indices) gets its own trees, trained on one copy of every
        model that has those scores, revealing exactly them (:meth:`_fit_specialist`).
        """
        s = observed.shape[1]
        rows = np.flatnonzero(observed.sum(axis=1) >= 2)
        if self.kind != "gbm" or len(rows) < MIN_ROWS:
            return self
        rng = np.random.default_rng(self.seed)
        F, T, G, observed = F[rows], (U @ self.basis_.T)[rows], G[rows], observed[rows]
        # residual covariance from models with every score (elsewhere a hidden direction of T is a
        # fitted vector, not a score), unless too few have them all
        full = observed.all(axis=1)
        self.resid_cov_ = shrunk_covariance((T - G)[full] if full.sum() >= MIN_ROWS else T - G)
        X, Y, model = [], [], []
        for _ in range(CONDITIONAL_COPIES):
            revealed = observed & (rng.random(observed.shape) < 0.5)
            use = revealed.any(axis=1) & (revealed.sum(axis=1) < observed.sum(axis=1))
            features, base = self._conditional_design(F, G, np.where(revealed, T[:, :s], np.nan))
            X.append(features[use])
            Y.append((np.hstack([np.where(observed & ~revealed, T[:, :s], np.nan), T[:, s:]]) - base)[use])
            model.append(np.flatnonzero(use))
        X, Y, model = np.vstack(X), np.vstack(Y), np.concatenate(model)
        learn = [~np.isnan(Y[:, k]) for k in range(Y.shape[1])]
        if min(ok.sum() for ok in learn) < MIN_ROWS:  # a score seldom seen beside another: Gaussian conditional only
            return self
        self.conditional_ = fit_ensembles(X, Y, CONDITIONAL_TREES, self.seed, done, groups=model)
        for pattern in patterns:
            self._fit_specialist(F, T, G, observed, tuple(sorted(pattern)), done)
        return self

    @staticmethod
    def conditional_ensembles(n_targets: int, patterns: Sequence[tuple[int, ...]]) -> int:
        """Tree ensembles that :meth:`fit_conditional` grows at most (the progress bar's count)."""
        return n_targets + sum(n_targets - len(set(p)) for p in patterns)

    def _fit_specialist(self, F: np.ndarray, T: np.ndarray, G: np.ndarray, observed: np.ndarray,
                        pattern: tuple[int, ...], done: Grown) -> None:
        """Trees for queries revealing exactly the scores ``pattern``: the shared trees learn every
        pattern from random halves, so any one pattern is rare among their rows and shares their
        splits with all others. They learn the targets themselves, reading the Gaussian conditional
        as a feature (learning only its residual, as the shared trees do, predicted worse). Left out
        when too few models have the pattern."""
        s = observed.shape[1]
        rows = np.flatnonzero(observed[:, list(pattern)].all(axis=1))
        targets = [k for k in range(T.shape[1]) if k not in pattern]
        if len(rows) < MIN_ROWS or not targets:
            return
        R = np.full((len(rows), s), np.nan)
        R[:, list(pattern)] = T[np.ix_(rows, list(pattern))]
        X, _ = self._conditional_design(F[rows], G[rows], R)
        Y = np.hstack([np.where(observed[rows], T[rows, :s], np.nan), T[rows, s:]])
        learn = [~np.isnan(Y[:, k]) for k in targets]
        if min(ok.sum() for ok in learn) < MIN_ROWS:
            return
        self.specialists_[pattern] = (targets, fit_ensembles(X, Y[:, targets], CONDITIONAL_TREES, self.seed, done))

    def gaussian_conditional(self, G: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Mean of all targets given the revealed score directions ``R`` (NaN: hidden) under a
        Gaussian of the metadata residuals around ``G``; one linear map per reveal pattern."""
        out = G.copy()
        revealed = ~np.isnan(R)
        patterns, which = np.unique(revealed, axis=0, return_inverse=True)  # any number of score columns
        for key, mask in enumerate(patterns):
            r = np.flatnonzero(mask)
            if not len(r):
                continue
            rows = np.flatnonzero(which.ravel() == key)
            gain = np.linalg.solve(self.resid_cov_[np.ix_(r, r)], self.resid_cov_[r])  # (|r|, targets)
            out[rows] += (R[np.ix_(rows, r)] - G[np.ix_(rows, r)]) @ gain
        return out

    def _conditional_design(self, F: np.ndarray, G: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of the conditional trees and the Gaussian conditional they correct.

        Features: metadata, each score direction as revealed (``R``; NaN: hidden, filled with the
        zero-evidence prediction ``G``), its surprise over that prediction, whether revealed, and
        the Gaussian conditional of every target."""
        base = self.gaussian_conditional(G, R)
        s = R.shape[1]
        revealed = ~np.isnan(R)
        features = np.hstack([F, np.where(revealed, R, G[:, :s]), np.where(revealed, R - G[:, :s], 0.0), revealed, base])
        return features, base

    def predict_conditional(self, F: np.ndarray, G: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Target-space prior mean of rows that reveal score directions ``R`` (NaN: hidden), given
        their zero-evidence targets ``G`` (:meth:`predict_targets`). Rows revealing exactly a reveal
        set get its specialists (on the revealed directions the Gaussian conditional already
        returns the revealed values); only the other rows walk the shared trees."""
        features, base = self._conditional_design(F, G, R)
        out = base.copy()
        shared = np.ones(len(R), dtype=bool)
        revealed = ~np.isnan(R)
        for pattern, (targets, trees) in self.specialists_.items():
            key = np.zeros(R.shape[1], dtype=bool)
            key[list(pattern)] = True
            rows = np.flatnonzero((revealed == key).all(axis=1))
            if len(rows):
                shared[rows] = False
                out[np.ix_(rows, targets)] = self._joined(pattern, trees).predict(features[rows])
        if shared.any():
            out[shared] += self._joined("conditional", self.conditional_).predict(features[shared])
        return out

    def predict_targets(self, F: np.ndarray) -> np.ndarray:
        if self.trees_:
            return self._joined("trees", self.trees_).predict(F)
        return self.const_[None, :] + F @ self.coef_

    def _joined(self, name: Any, ensembles: list[TreeEnsemble]) -> Forest:
        """``ensembles`` as one forest, joined once while they stay the ones fitted (fold-in predicts
        one row at a time, thousands of times in a calibration pass)."""
        forest = self._forests.get(name)
        if forest is None or not forest.joins(ensembles):
            forest = self._forests[name] = Forest(ensembles)
        return forest

    def predict(self, F: np.ndarray) -> np.ndarray:
        """Prior mean of the latent vectors of the rows of ``F``."""
        return self.predict_targets(F) @ self.back_.T

    def out_of_fold_residuals(self, F: np.ndarray, U: np.ndarray, folds: int = RESIDUAL_FOLDS,
                              done: Grown = None) -> np.ndarray:
        """Target-space residuals of each row under a model that did not see it (honest spread)."""
        T = U @ self.basis_.T
        out = np.zeros_like(T)
        order = np.random.default_rng(self.seed).permutation(len(F))
        for k in range(folds):
            test = order[k::folds]
            train = np.setdiff1d(order, test)
            part = MetadataPrior(self.kind, self.l2, self.seed).fit(F[train], U[train], self.basis_, done)
            out[test] = T[test] - part.predict_targets(F[test])
        return out

    # -- persistence: arrays for the .npz, the rest for the JSON header (key names as in version 8) -----
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"prior_const": self.const_, "prior_coef": self.coef_, "prior_basis": self.basis_}
        for k, tree in enumerate(self.trees_):
            arrays.update(tree.to_arrays(f"tree{k}_"))
        for k, tree in enumerate(self.conditional_):
            arrays.update(tree.to_arrays(f"ctree{k}_"))
        if self.conditional_:
            arrays["prior_resid_cov"] = self.resid_cov_
        for p, (_, trees) in enumerate(self.specialists_.values()):
            for k, tree in enumerate(trees):
                arrays.update(tree.to_arrays(f"stree{p}_{k}_"))
        return arrays

    def state(self) -> dict[str, Any]:
        return {"n_trees": len(self.trees_), "n_conditional_trees": len(self.conditional_),
                "specialists": [[list(p), list(t)] for p, (t, _) in self.specialists_.items()],
                "prior_kind": self.kind}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], state: dict[str, Any], l2: float, seed: int) -> "MetadataPrior":
        self = cls(state["prior_kind"], l2, seed)
        self.const_, self.coef_, self.basis_ = arrays["prior_const"], arrays["prior_coef"], arrays["prior_basis"]
        self.back_ = np.linalg.pinv(self.basis_)
        self.trees_ = [TreeEnsemble.from_arrays(arrays, f"tree{k}_") for k in range(int(state["n_trees"]))]
        self.conditional_ = [TreeEnsemble.from_arrays(arrays, f"ctree{k}_")
                             for k in range(int(state["n_conditional_trees"]))]
        if self.conditional_:
            self.resid_cov_ = arrays["prior_resid_cov"]
        self.specialists_ = {tuple(int(i) for i in pattern): (
            [int(k) for k in targets], [TreeEnsemble.from_arrays(arrays, f"stree{p}_{k}_") for k in range(len(targets))])
            for p, (pattern, targets) in enumerate(state["specialists"])}
        return self

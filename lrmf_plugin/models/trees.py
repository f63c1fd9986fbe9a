"""Gradient-boosted trees as plain arrays, so a fitted metadata prior can be stored without pickle.

scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingRegressor` learns the trees; this module
copies them into flat numpy arrays (one node table for a whole ensemble) and evaluates them with a
vectorised walk, which is also faster than scikit-learn for the one-row predictions of fold-in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TreeEnsemble:
    """Sum of regression trees plus a baseline; ``roots[t]`` indexes tree t's root in the node table."""

    feature: np.ndarray    # int32, -1 at leaves
    threshold: np.ndarray  # float64: go left when x[feature] <= threshold
    left: np.ndarray       # int32, absolute node index
    right: np.ndarray      # int32
    value: np.ndarray      # float64, leaf value (already scaled by the learning rate)
    roots: np.ndarray      # int32
    baseline: float
    missing_left: np.ndarray  # bool: where a missing (NaN) value goes, as learned in training

    @classmethod
    def from_sklearn(cls, model, columns: np.ndarray | None = None) -> "TreeEnsemble":
        """Copy a fitted single-output ``HistGradientBoostingRegressor`` (numeric features only);
        ``columns[j]``: the column of the full feature matrix that the model's feature j was."""
        feature, threshold, left, right, value, roots, missing = [], [], [], [], [], [], []
        offset = 0
        for (tree,) in model._predictors:
            nodes = tree.nodes
            if np.any(nodes["is_categorical"]):
                raise ValueError("categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            idx = nodes["feature_idx"] if columns is None else np.asarray(columns)[nodes["feature_idx"]]
            feature.append(np.where(leaf, -1, idx).astype(np.int32))
            threshold.append(nodes["num_threshold"].astype(np.float64))
            left.append((nodes["left"].astype(np.int64) + offset).astype(np.int32))
            right.append((nodes["right"].astype(np.int64) + offset).astype(np.int32))
            value.append(nodes["value"].astype(np.float64))
            missing.append(nodes["missing_go_to_left"].astype(bool))
            roots.append(offset)
            offset += len(nodes)
        cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        return cls(cat(feature, np.int32), cat(threshold, np.float64), cat(left, np.int32), cat(right, np.int32),
                   cat(value, np.float64), np.array(roots, dtype=np.int32),
                   float(np.ravel(model._baseline_prediction)[0]), cat(missing, bool))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values for each row of ``X`` (NaN: missing, sent where training sent it)."""
        return predict_all([self], X)[:, 0]

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}feature": self.feature, f"{prefix}threshold": self.threshold, f"{prefix}left": self.left,
                f"{prefix}right": self.right, f"{prefix}value": self.value, f"{prefix}roots": self.roots,
                f"{prefix}baseline": np.array([self.baseline]), f"{prefix}missing_left": self.missing_left}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "TreeEnsemble":
        return cls(arrays[f"{prefix}feature"], arrays[f"{prefix}threshold"], arrays[f"{prefix}left"],
                   arrays[f"{prefix}right"], arrays[f"{prefix}value"], arrays[f"{prefix}roots"],
                   float(arrays[f"{prefix}baseline"][0]), arrays[f"{prefix}missing_left"].astype(bool))


#: (row, tree) pairs walked at once: a whole reference's rows times a thousand trees is tens of
#: millions of pairs, and the walk keeps several arrays of that length
WALK_PAIRS = 1 << 20


def predict_all(ensembles: list[TreeEnsemble], X: np.ndarray) -> np.ndarray:
    """``(rows, ensembles)`` predictions of several ensembles over the same rows, in one walk.

    All trees of all ensembles descend together, one level per step, and only the (row, tree)
    pairs not yet at a leaf are carried on: a fold-in's single row pays the per-step overhead once
    for every target rather than once per target, and a whole reference's rows skip finished paths.
    The node tables are joined once; the rows go in chunks of about ``WALK_PAIRS`` pairs.
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    out = np.array([e.baseline for e in ensembles], dtype=np.float64)[None, :].repeat(n, axis=0)
    t = sum(len(e.roots) for e in ensembles)
    if t == 0 or n == 0:
        return out
    offsets = np.cumsum([0] + [len(e.feature) for e in ensembles[:-1]])
    feature = np.concatenate([e.feature for e in ensembles])
    threshold = np.concatenate([e.threshold for e in ensembles])
    left = np.concatenate([e.left.astype(np.int64) + o for e, o in zip(ensembles, offsets)])
    right = np.concatenate([e.right.astype(np.int64) + o for e, o in zip(ensembles, offsets)])
    value = np.concatenate([e.value for e in ensembles])
    missing_left = np.concatenate([e.missing_left for e in ensembles])
    roots = np.concatenate([e.roots.astype(np.int64) + o for e, o in zip(ensembles, offsets)])
    starts = np.cumsum([0] + [len(e.roots) for e in ensembles[:-1]])
    has_trees = np.array([len(e.roots) > 0 for e in ensembles])
    step = max(1, WALK_PAIRS // t)  # a whole reference at once would hold several rows x trees arrays
    for first in range(0, n, step):
        rows = X[first:first + step]
        node = np.tile(roots, len(rows))                   # row-major: a row's trees side by side
        base = np.repeat(np.arange(len(rows), dtype=np.int64) * X.shape[1], t)
        flat = rows.ravel()
        active = np.flatnonzero(feature[node] >= 0)
        while len(active):
            at = node[active]
            x = flat[base[active] + feature[at]]
            go_left = x <= threshold[at]
            nan = np.isnan(x)
            if nan.any():
                go_left[nan] = missing_left[at[nan]]
            node[active] = nxt = np.where(go_left, left[at], right[at])
            active = active[feature[nxt] >= 0]
        out[first:first + step, has_trees] += np.add.reduceat(value[node].reshape(len(rows), t),
                                                              starts[has_trees], axis=1)
    return out

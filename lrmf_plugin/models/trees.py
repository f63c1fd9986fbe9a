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
    def from_sklearn(cls, model) -> "TreeEnsemble":
        """Copy a fitted single-output ``HistGradientBoostingRegressor`` (numeric features only)."""
        feature, threshold, left, right, value, roots, missing = [], [], [], [], [], [], []
        offset = 0
        for (tree,) in model._predictors:
            nodes = tree.nodes
            if np.any(nodes["is_categorical"]):
                raise ValueError("categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            feature.append(np.where(leaf, -1, nodes["feature_idx"]).astype(np.int32))
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
        X = np.asarray(X, dtype=np.float64)
        if len(self.roots) == 0:
            return np.full(len(X), self.baseline)
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        while True:
            f = self.feature[node]
            inner = f >= 0
            if not inner.any():
                break
            x = X[rows, np.where(inner, f, 0)]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        return self.baseline + self.value[node].sum(axis=1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}feature": self.feature, f"{prefix}threshold": self.threshold, f"{prefix}left": self.left,
                f"{prefix}right": self.right, f"{prefix}value": self.value, f"{prefix}roots": self.roots,
                f"{prefix}baseline": np.array([self.baseline]), f"{prefix}missing_left": self.missing_left}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "TreeEnsemble":
        return cls(arrays[f"{prefix}feature"], arrays[f"{prefix}threshold"], arrays[f"{prefix}left"],
                   arrays[f"{prefix}right"], arrays[f"{prefix}value"], arrays[f"{prefix}roots"],
                   float(arrays[f"{prefix}baseline"][0]), arrays[f"{prefix}missing_left"].astype(bool))

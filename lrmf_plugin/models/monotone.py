"""A learned monotone map from a summary of a model's items to its full benchmark score.

Both the IRT baseline (IRT-predicted item mean -> score, metabench/tinyBenchmarks-style) and the
subset-mapping baseline (observed subset mean -> score, COD-style) need "a non-decreasing function
fitted on reference models", so it lives here once: isotonic regression, then linear interpolation
between the fitted blocks so nearby inputs get nearby outputs, clamped outside the fitted range.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import isotonic_regression


class MonotoneMap:
    """Non-decreasing ``y ~ f(x)`` fitted by isotonic regression with interpolation between blocks."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> "MonotoneMap":
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = ~(np.isnan(x) | np.isnan(y))
        x, y = x[ok], y[ok]
        if len(x) == 0:
            raise ValueError("MonotoneMap needs at least one finite (x, y) pair")
        # tie x values share one mean y, so each distinct x is one weighted point
        ux, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=y)
        fitted = isotonic_regression(sums / counts, weights=counts.astype(float)).x
        # one knot per block of equal fitted value, at the block's weighted mean x
        starts = np.r_[0, np.flatnonzero(np.diff(fitted) > 1e-12) + 1]
        w = np.add.reduceat(counts.astype(float), starts)
        self.knots_x_ = np.add.reduceat(ux * counts, starts) / w
        self.knots_y_ = fitted[starts]
        return self

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return np.interp(np.asarray(x, float), self.knots_x_, self.knots_y_)

"""The backtest's metrics: score errors and interval coverage, and instance-level AUC and Brier."""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def score_metrics(truth: np.ndarray, predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    """MAE, bias (mean signed error), RMSE, Pearson, Spearman; coverage and mean width over predictions
    that have an interval."""
    truth, predicted = np.asarray(truth, float), np.asarray(predicted, float)
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    err = predicted - truth
    has = ~(np.isnan(lower) | np.isnan(upper))
    return {
        "n": int(len(truth)),
        "mae": float(np.mean(np.abs(err))) if len(err) else math.nan,
        "bias": float(np.mean(err)) if len(err) else math.nan,
        "rmse": float(np.sqrt(np.mean(err ** 2))) if len(err) else math.nan,
        "pearson": _corr(predicted, truth),
        "spearman": _corr(rankdata(predicted), rankdata(truth)) if len(truth) else math.nan,
        "coverage": float(np.mean((truth[has] >= lower[has]) & (truth[has] <= upper[has]))) if has.any() else math.nan,
        "width": float(np.mean(upper[has] - lower[has])) if has.any() else math.nan,
    }


def item_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Instance-level AUC (outcomes >= 0.5 count as correct) and Brier score of probabilities ``p``."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    pos = y >= 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    auc = math.nan
    if n_pos and n_neg:
        ranks = rankdata(p)
        auc = float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
    return {"n_items": int(len(y)), "auc": auc, "brier": float(np.mean((p - y) ** 2)) if len(y) else math.nan}

"""Which instances to evaluate: the plan for a model under a budget.

* ``adaptive`` (default): greedy Bayesian experimental design. Each pick is the item whose answer is
  expected to shrink the predictive variance of its benchmark's full score the most, given everything
  known about the model so far (lineage, metadata, observations). Called again after results come
  back, it plans the next round conditioned on them.
* ``anchors``: tinyBenchmarks-style: cluster the items' learned embeddings (k-means, k = budget) and
  take the item nearest each centre.
* ``random``: stratified by difficulty, so even a random plan spans easy to hard items.

A budget is an integer (at most that many items per benchmark) or a fraction in (0, 1) (that share
of each benchmark's items, rounded up).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.cluster.vq import kmeans2

from .errors import InputError, UnknownBenchmarkError
from .models.lrmf import LRMFPredictor, _sigmoid
from .schema import ModelQuery

SELECTIONS = ("adaptive", "anchors", "random")


Budget = int | float


def parse_budget(text: str | int | float) -> Budget:
    """``N`` (an integer >= 1: items per benchmark) or ``F`` (a fraction in (0, 1): share of each)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"--budget {text!r} is not a number (give N items per benchmark or a fraction 0<F<1)") from None
    if math.isfinite(value) and 0.0 < value < 1.0:
        return value
    if math.isfinite(value) and value >= 1.0 and value == int(value):
        return int(value)
    raise InputError(f"--budget {text!r} must be an integer >= 1 or a fraction strictly between 0 and 1")


def budget_count(budget: Budget, n: int) -> int:
    """How many of ``n`` instances a budget allows (at least one, at most ``n``)."""
    count = budget if isinstance(budget, int) else math.ceil(budget * n)
    return max(1, min(int(count), n))


def plan_items(predictor: LRMFPredictor, query: ModelQuery, budget: Budget | str, *, selection: str = "adaptive",
               seed: int = 0, benchmarks: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Benchmark -> item ids to evaluate next (most informative first), excluding items already observed."""
    if selection not in SELECTIONS:
        raise InputError(f"unknown selection {selection!r} (choose from {', '.join(SELECTIONS)})")
    budget = parse_budget(budget)
    names = list(predictor.item_col_) if benchmarks is None else list(benchmarks)
    for b in names:
        if b not in predictor.item_col_:
            known = "" if b in predictor.benchmarks_ else " or anywhere in the reference"
            raise UnknownBenchmarkError(f"benchmark {b!r} has no items in the reference{known}")
    rng = np.random.default_rng(seed)
    u, cov = predictor.fold_in(query) if selection == "adaptive" else (None, None)
    plan: dict[str, list[str]] = {}
    for b in sorted(names):
        cols = predictor.item_col_[b]
        seen = {str(i) for i in query.items.get(b, {})}
        ids, idx = list(cols), predictor.item_index_[b]
        if seen:
            unseen = np.array([it not in seen for it in ids])
            ids, idx = [it for it, keep in zip(ids, unseen) if keep], idx[unseen]
        k = budget_count(budget, len(cols)) - len(seen)
        if k <= 0 or not ids:
            plan[b] = []
            continue
        V = predictor.Vs_[predictor.item_block_][idx]
        c = predictor.cs_[predictor.item_block_][idx]
        if selection == "random":
            chosen = _stratified(c, k, rng)
        elif selection == "anchors":
            chosen = _anchors(V, c, k, seed)
        else:
            chosen = _adaptive(predictor, b, V, c, u, cov, k, len(cols))
        plan[b] = [ids[i] for i in chosen]
    return plan


def _stratified(difficulty: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """k items, one from each of k equal-size difficulty strata (random within a stratum)."""
    order = np.argsort(difficulty, kind="stable")
    strata = np.array_split(order, k)
    return [int(rng.choice(s)) for s in strata if len(s)]


def _anchors(V: np.ndarray, c: np.ndarray, k: int, seed: int) -> list[int]:
    """The item nearest each of k k-means centres of the item embeddings (loadings + difficulty)."""
    X = np.hstack([V[:, :-1], c[:, None]])
    if k >= len(X):
        return list(range(len(X)))
    centres, _ = kmeans2(X, k, minit="++", seed=seed)
    chosen: list[int] = []
    taken = np.zeros(len(X), dtype=bool)
    for centre in centres:
        dist = np.where(taken, np.inf, ((X - centre) ** 2).sum(axis=1))
        j = int(np.argmin(dist))
        taken[j] = True
        chosen.append(j)
    return chosen


def _adaptive(predictor: LRMFPredictor, benchmark: str, V: np.ndarray, c: np.ndarray, u: np.ndarray,
              cov: np.ndarray, k: int, n_total: int) -> list[int]:
    """Greedy variance reduction of the benchmark's full-score prediction (rank-one posterior updates)."""
    p = _sigmoid(V @ u + c)
    var = p * (1 - p)                    # variance of one answer
    w = predictor.item_weight_ * var     # its Fisher information, as fold-in weighs it
    if benchmark in predictor.score_names_:
        j = predictor.score_names_.index(benchmark)
        g = predictor.Vs_[predictor.score_block_][j]  # normal-scores scale: a monotone map of the score
        own_noise = np.zeros(len(p))
    else:                                 # item-mean score: answering an item also removes its own noise
        g = 100.0 * (var[:, None] * V).sum(axis=0) / n_total
        own_noise = (100.0 / n_total) ** 2 * var
    S = cov.copy()
    available = np.ones(len(p), dtype=bool)
    chosen: list[int] = []
    for _ in range(min(k, len(p))):
        SV = V @ S                        # (m, d): S v_j for every candidate
        num = (SV @ g) ** 2
        den = 1.0 + w * np.einsum("ij,ij->i", SV, V)
        gain = np.where(available, w * num / den + own_noise, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        s = SV[best]
        S = S - w[best] * np.outer(s, s) / den[best]
    return chosen

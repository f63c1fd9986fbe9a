"""Which instances to evaluate: the plan for a model under a budget.

* ``adaptive`` (default): greedy Bayesian experimental design. Each pick is the item whose answer is
  expected to shrink the predictive variance of the full scores the most, given everything known
  about the model so far (lineage, metadata, observations). All benchmarks share the model's vector,
  so an item is judged by what it says about every benchmark the model has no score for (each in
  units of how much models differ on it), including benchmarks the reference knows only as scores;
  the benchmarks take turns, so each gets its budget. Called again after results come back, it plans
  the next round conditioned on them. When the predictor's item map predicts every target score,
  the design is in the map's factors instead (the same greedy turns; a Gaussian design does not
  depend on the answers).
* ``anchors``: tinyBenchmarks-style: cluster the items' learned embeddings (k-means, k = budget) and
  take the item nearest each centre.
* ``random``: stratified by difficulty, so even a random plan spans easy to hard items.

A budget is an integer (at most that many items per benchmark) or a fraction in (0, 1) (that share
of each benchmark's items, rounded up). A *random share* of it may be reserved for uniformly random
items (:func:`random_reserve`), whatever the selection: their mean residual corrects the prediction
design-unbiasedly (AIPW, :mod:`.models.lrmf.aipw`) when the model is unlike the reference's.
"""
from __future__ import annotations

import math
import zlib
from typing import Protocol, Sequence

import numpy as np
from scipy.cluster.vq import kmeans2

from .errors import InputError, UnknownBenchmarkError
from .models.item_map import ItemScoreMap
from .models.lrmf.newton import sigmoid
from .models.lrmf.posterior import Posterior
from .schema import ModelQuery

SELECTIONS = ("adaptive", "anchors", "random")
#: the adaptive planner considers, per benchmark, this many candidates per item it may still pick
SHORTLIST_PER_PICK = 8


class PlanningModel(Protocol):
    """What the planner reads of a fitted predictor (:class:`~lrmf_plugin.models.lrmf.LRMFPredictor`):
    its posterior, its item map and the evidence levels the map predicts at."""

    posterior_: Posterior
    item_map_: ItemScoreMap | None
    map_levels_: tuple[str, ...]

    def item_level(self, counts: Sequence[int]) -> str: ...


Budget = int | float
#: a benchmark's candidates: unseen item ids, their loadings and difficulties, and how many to pick
Pool = tuple[list[str], np.ndarray, np.ndarray, int]


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


def parse_share(value: str | float) -> float:
    """``--random-share``: a number in [0, 1)."""
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise InputError(f"--random-share {value!r} is not a number (give a share 0<=S<1 of each budget)") from None
    if not (math.isfinite(share) and 0.0 <= share < 1.0):
        raise InputError(f"--random-share {value!r} must be at least 0 and below 1")
    return share


def reserve_count(k: int, share: float) -> int:
    """How many of a ``k``-item budget are uniformly random: ``share`` of it rounded up (none at 0)."""
    return min(k, math.ceil(share * k - 1e-9)) if share > 0 else 0


def random_reserve(benchmark: str, ids: Sequence[str], count: int, seed: int) -> list[str]:
    """The first ``count`` items of a uniformly random order of a benchmark's items ``ids``.

    The order depends on the benchmark's name, its items and the seed only, not on the model or the
    plan, so an estimate from a run's files tells the random items from the planned ones by drawing
    the order again; a smaller count takes a prefix of the same order."""
    rng = np.random.default_rng([seed, zlib.crc32(benchmark.encode()), 1])
    return [ids[j] for j in rng.permutation(len(ids))[:count]]


def plan_items(predictor: PlanningModel, query: ModelQuery, budget: Budget | str, *, selection: str = "adaptive",
               seed: int = 0, benchmarks: Sequence[str] | None = None, random_share: float = 0.0
               ) -> dict[str, list[str]]:
    """Benchmark -> item ids to evaluate next (the random share's first, then the most informative
    first), excluding items already observed."""
    if selection not in SELECTIONS:
        raise InputError(f"unknown selection {selection!r} (choose from {', '.join(SELECTIONS)})")
    budget = parse_budget(budget)
    post = predictor.posterior_
    names = list(post.item_col) if benchmarks is None else list(benchmarks)
    for b in names:
        if b not in post.item_col:
            known = "" if b in post.benchmarks else " or anywhere in the reference"
            raise UnknownBenchmarkError(f"benchmark {b!r} has no items in the reference{known}")
    rng = np.random.default_rng(seed)
    pools: dict[str, Pool] = {}
    reserved: dict[str, list[str]] = {}
    for b in sorted(names):
        cols = post.item_col[b]
        seen = {str(i) for i in query.items.get(b, {})}
        total = budget_count(budget, len(cols))
        reserved[b] = [it for it in random_reserve(b, list(cols), reserve_count(total, random_share), seed)
                       if it not in seen]
        taken = seen | set(reserved[b])
        ids, idx = list(cols), post.item_index[b]
        if taken:
            unseen = np.array([it not in taken for it in ids])
            ids, idx = [it for it, keep in zip(ids, unseen) if keep], idx[unseen]
        k = min(total - len(taken), len(ids))
        V, c = post.item_loadings
        pools[b] = (ids, V[idx], c[idx], k)
    if selection == "adaptive":
        chosen = _adaptive(predictor, query, pools)
    else:
        chosen = {b: (_stratified(c, k, rng) if selection == "random" else _anchors(V, c, k, seed)) if k > 0 else []
                  for b, (_, V, c, k) in pools.items()}
    return {b: reserved[b] + [pools[b][0][i] for i in chosen[b]] for b in pools}


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


def _adaptive(predictor: PlanningModel, query: ModelQuery, pools: dict[str, Pool]) -> dict[str, list[int]]:
    """Greedy variance reduction of all full-score predictions under one posterior (rank-one updates).

    The posterior is the item map's factors (:mod:`.models.item_map`) when it will predict every
    target (the reference's scores, from answers to its items) at the evidence level the plan's
    answers bring the query to, else the folded-in model vector, which predicts at that level. The
    benchmarks pick in turn, one item each, until each has its ``k``; every pick updates the shared
    posterior covariance, so a benchmark does not repeat what another's items already told.
    """
    targets = [b for b in predictor.posterior_.benchmarks if b not in query.scores] or sorted(pools)
    item_map = predictor.item_map_
    counts = {b: len(v) for b, v in query.items.items()}
    for b, (*_, k) in pools.items():
        counts[b] = counts.get(b, 0) + max(k, 0)
    level = predictor.item_level(list(counts.values()))
    if item_map is not None and level in predictor.map_levels_ and all(b in item_map.score_names_ for b in targets):
        S, G, candidates = _map_design(predictor, query, pools, targets)
    else:
        S, G, candidates = _vector_design(predictor, query, pools, targets)
    state = {}
    for b, (V, w, own) in candidates.items():
        k = pools[b][3]
        # a pick lowers the others' gains and seldom reorders them much: only the items whose first
        # gain ranks among the best SHORTLIST_PER_PICK * k can be picked (exact for small benchmarks)
        keep = np.arange(len(w)) if len(w) <= SHORTLIST_PER_PICK * k else np.sort(np.argpartition(
            -_gains(V, w, own, S, G)[0], SHORTLIST_PER_PICK * k)[:SHORTLIST_PER_PICK * k])
        state[b] = (keep, V[keep], w[keep], own[keep], np.ones(len(keep), dtype=bool))
    chosen: dict[str, list[int]] = {b: [] for b in pools}
    for _ in range(max((k for *_, k in pools.values()), default=0)):
        for b, (_, _, _, k) in pools.items():
            if len(chosen[b]) >= k:
                continue
            keep, V, w, own, available = state[b]
            gain, SV, den = _gains(V, w, own, S, G)
            best = int(np.argmax(np.where(available, gain, -np.inf)))
            chosen[b].append(int(keep[best]))
            available[best] = False
            S = S - w[best] * np.outer(SV[best], SV[best]) / den[best]
    return chosen


Design = tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]


def _vector_design(predictor: PlanningModel, query: ModelQuery, pools: dict[str, Pool], targets: list[str]) -> Design:
    """Posterior covariance of the model vector, target gradients (each in units of how much models
    differ on it) and, per benchmark to plan, its candidates' loadings, information and own-noise drop."""
    post = predictor.posterior_
    u, S = post.fold_in(query)
    G, own_target = _target_gradients(post, u, targets)
    spread = np.cov(post.U, rowvar=False) if len(post.U) > 1 else np.eye(len(u))
    scale = 1.0 / np.sqrt(np.maximum(np.einsum("td,de,te->t", G, spread, G), 1e-12))
    G = G * scale[:, None]
    candidates = {}
    for b, (_, V, c, k) in pools.items():
        if k <= 0:
            continue
        p = sigmoid(V @ u + c)
        var = p * (1 - p)                                      # variance of one answer
        own = np.zeros(len(p))                                 # item-mean target: answering removes its own noise
        if b in own_target:
            t, n_total = own_target[b]
            own = (scale[t] * 100.0 / n_total) ** 2 * var
        candidates[b] = (V, post.item_weight * var, own)  # an answer's information, weighed as in fold-in
    return S, G, candidates


def _map_design(predictor: PlanningModel, query: ModelQuery, pools: dict[str, Pool], targets: list[str]) -> Design:
    """The same design in the item map's factors: their covariance given what the query reveals (a
    Gaussian's covariance does not depend on the values), the target scores' loadings (in units of
    their spread over the reference) and each candidate item's loadings and noise precision."""
    item_map = predictor.item_map_
    _, S = item_map.factors(*predictor.posterior_.map_evidence(item_map, query, np.zeros(item_map.n_scores_)))
    rows = [item_map.score_names_.index(b) for b in targets]
    G = item_map.loadings_[rows] / np.sqrt((item_map.loadings_[rows] ** 2).sum(axis=1) + item_map.noise_[rows])[:, None]
    candidates = {}
    for b, (ids, _, _, k) in pools.items():
        if k > 0:
            cols = np.array([predictor.posterior_.item_col[b][i] for i in ids], dtype=int)
            rows = item_map.item_variable(cols)
            candidates[b] = (item_map.loadings_[rows], 1.0 / item_map.noise_[rows], np.zeros(len(cols)))
    return S, G, candidates


def _gains(V: np.ndarray, w: np.ndarray, own: np.ndarray, S: np.ndarray, G: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected drop of the summed target variances from answering each candidate (rows of ``V``,
    information ``w``, own-noise drop ``own``) under posterior covariance ``S``; also ``S v`` and the
    rank-one denominators that update ``S`` after a pick."""
    SV = V @ S                                                 # (m, d): S v_j for every candidate
    den = 1.0 + w * np.einsum("ij,ij->i", SV, V)
    return w * ((SV @ G.T) ** 2).sum(axis=1) / den + own, SV, den


def _target_gradients(post: Posterior, u: np.ndarray, targets: list[str]
                      ) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """Rows: gradient of each target's full score with respect to the model vector (normal-scores
    scale for a scored benchmark; the 0-100 item mean for one known only item by item, whose
    benchmark -> (row, item count) is also returned, as its own answers also remove sampling noise)."""
    rows, own = [], {}
    for b in targets:
        if b in post.score_names:
            rows.append(post.score_loadings[0][post.score_names.index(b)])
        elif b in post.item_index:
            V, p = post.answer_probabilities(b, u)
            own[b] = (len(rows), len(p))
            rows.append(100.0 * ((p * (1 - p)) @ V) / len(p))
    return (np.array(rows) if rows else np.zeros((0, len(u)))), own

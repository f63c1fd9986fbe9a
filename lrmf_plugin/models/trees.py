"""Gradient-boosted trees as plain arrays, so a fitted metadata prior can be stored without pickle.

LightGBM learns the trees; this module copies them, through LightGBM's public model dump, into flat
numpy arrays (one node table for a whole ensemble) and evaluates them with a
vectorised walk, which is also faster than scikit-learn for the one-row predictions of fold-in.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

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
    def from_lightgbm(cls, booster, columns: np.ndarray | None = None) -> "TreeEnsemble":
        """Copy a fitted single-output LightGBM ``Booster`` (numeric splits only), up to its best
        iteration when early stopping found one; ``columns[j]``: the column of the full feature
        matrix that the booster's feature j was.

        Read from LightGBM's public text model (``Booster.model_to_string``, what ``save_model``
        writes): its JSON twin, ``dump_model``, took a third as long as growing the trees. A missing
        value goes where LightGBM learned to send it where training saw missing values; elsewhere
        to the child most training rows went to (see :func:`_tree_arrays`)."""
        parts = [_tree_arrays(block) for block in booster.model_to_string().split("\nTree=")[1:]]
        sizes = np.cumsum([0] + [len(p[0]) for p in parts])
        remap = np.arange(booster.num_feature()) if columns is None else np.asarray(columns)
        cat = (lambda k, dt: np.concatenate([p[k] for p in parts]).astype(dt) if parts else np.zeros(0, dt))
        feature, offset = cat(0, np.int64), np.repeat(sizes[:-1], np.diff(sizes))
        child = (lambda c: np.where(c >= 0, c + offset, -1).astype(np.int32))  # absolute; -1 at leaves
        return cls(np.where(feature >= 0, remap[np.maximum(feature, 0)], -1).astype(np.int32), cat(1, np.float64),
                   child(cat(2, np.int64)), child(cat(3, np.int64)), cat(4, np.float64),
                   sizes[:-1].astype(np.int32), 0.0, cat(5, bool))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values for each row of ``X`` (NaN: missing, sent where training sent it)."""
        return Forest([self]).predict(X)[:, 0]

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}feature": self.feature, f"{prefix}threshold": self.threshold, f"{prefix}left": self.left,
                f"{prefix}right": self.right, f"{prefix}value": self.value, f"{prefix}roots": self.roots,
                f"{prefix}baseline": np.array([self.baseline]), f"{prefix}missing_left": self.missing_left}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "TreeEnsemble":
        return cls(arrays[f"{prefix}feature"], arrays[f"{prefix}threshold"], arrays[f"{prefix}left"],
                   arrays[f"{prefix}right"], arrays[f"{prefix}value"], arrays[f"{prefix}roots"],
                   float(arrays[f"{prefix}baseline"][0]), arrays[f"{prefix}missing_left"].astype(bool))


def _tree_arrays(block: str) -> tuple[np.ndarray, ...]:
    """(feature, threshold, left, right, value, missing_left) of one tree of LightGBM's text model,
    splits first, then leaves; child indices relative to the tree. Its first tree's leaves already
    hold the starting average, so the ensemble's baseline is 0."""
    fields = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
    leaves = np.array(fields["leaf_value"].split(), dtype=np.float64)
    n = len(leaves) - 1  # splits
    num = (lambda key, dt: np.array(fields[key].split(), dtype=dt) if n else np.zeros(0, dt))
    decision = num("decision_type", np.int64)
    missing = (decision >> 2) & 3  # LightGBM's missing type: 0 none, 1 zero, 2 NaN
    if int(fields.get("num_cat", "0")) or (decision & 1).any() or (missing == 1).any():
        raise ValueError("only numeric '<=' splits without zero-as-missing are supported")
    left, right = num("left_child", np.int64), num("right_child", np.int64)
    child = (lambda c: np.where(c >= 0, c, n + ~c))  # a negative child is leaf ~c, stored after the splits
    rows = np.r_[num("internal_count", np.float64), np.array(fields["leaf_count"].split(), dtype=np.float64)]
    # a feature never missing in training: LightGBM would read a missing value as 0 (a zero size, a
    # 1970 date); like scikit-learn's trees, send it where most training rows went instead
    missing_left = np.where(missing == 2, (decision & 2) > 0, rows[child(left)] >= rows[child(right)])
    return (np.r_[num("split_feature", np.int64), -np.ones(len(leaves), np.int64)],
            np.r_[num("threshold", np.float64), np.zeros(len(leaves))],
            np.r_[child(left), -np.ones(len(leaves), np.int64)],
            np.r_[child(right), -np.ones(len(leaves), np.int64)],
            np.r_[np.zeros(n), leaves],
            np.r_[missing_left, np.zeros(len(leaves), bool)])

#: (row, tree) pairs walked at once: a whole reference's rows times a thousand trees is tens of
#: millions of pairs, and the walk keeps several arrays of that length
WALK_PAIRS = 1 << 20


class Forest:
    """Several ensembles' node tables joined into one, to predict them together (see :meth:`predict`).

    Joining copies every node: for a one-row prediction it cost ten times the walk, so a caller that
    predicts the same ensembles again and again joins them once (see :meth:`joins`)."""

    def __init__(self, ensembles: list[TreeEnsemble]) -> None:
        self.ensembles = tuple(ensembles)
        offsets = np.cumsum([0] + [len(e.feature) for e in ensembles[:-1]])
        self.baseline = np.array([e.baseline for e in ensembles], dtype=np.float64)
        self.n_trees = sum(len(e.roots) for e in ensembles)
        if not self.n_trees:
            return
        self.feature = np.concatenate([e.feature for e in ensembles])
        self.threshold = np.concatenate([e.threshold for e in ensembles])
        self.left = np.concatenate([e.left.astype(np.int64) + o for e, o in zip(ensembles, offsets)])
        self.right = np.concatenate([e.right.astype(np.int64) + o for e, o in zip(ensembles, offsets)])
        self.value = np.concatenate([e.value for e in ensembles])
        self.missing_left = np.concatenate([e.missing_left for e in ensembles])
        self.roots = np.concatenate([e.roots.astype(np.int64) + o for e, o in zip(ensembles, offsets)])
        self.has_trees = np.array([len(e.roots) > 0 for e in ensembles])
        self.starts = np.cumsum([0] + [len(e.roots) for e in ensembles[:-1]])[self.has_trees]

    def joins(self, ensembles: list[TreeEnsemble]) -> bool:
        """Whether this forest is exactly ``ensembles`` (the same objects, in order: ensembles are
        never changed in place, and the forest holds them, so none is another's recycled id)."""
        return len(ensembles) == len(self.ensembles) and all(a is b for a, b in zip(ensembles, self.ensembles))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(rows, ensembles)`` predictions over the rows of ``X``, in one walk.

        All trees of all ensembles descend together, one level per step, and only the (row, tree)
        pairs not yet at a leaf are carried on: a fold-in's single row pays the per-step overhead
        once for every target rather than once per target, and a whole reference's rows skip
        finished paths. The rows go in chunks of about ``WALK_PAIRS`` pairs.
        """
        X = np.asarray(X, dtype=np.float64)
        n, t = len(X), self.n_trees
        out = self.baseline[None, :].repeat(n, axis=0)
        if t == 0 or n == 0:
            return out
        feature, threshold, missing_left = self.feature, self.threshold, self.missing_left
        step = max(1, WALK_PAIRS // t)  # a whole reference at once would hold several rows x trees arrays
        for first in range(0, n, step):
            rows = X[first:first + step]
            node = np.tile(self.roots, len(rows))             # row-major: a row's trees side by side
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
                node[active] = nxt = np.where(go_left, self.left[at], self.right[at])
                active = active[feature[nxt] >= 0]
            out[first:first + step, self.has_trees] += np.add.reduceat(self.value[node].reshape(len(rows), t),
                                                                       self.starts, axis=1)
        return out


#: targets grown at once, each by a single-threaded LightGBM in a thread of its own (LightGBM
#: releases the GIL while it grows a tree): two cores share the work without OpenMP's per-split
#: barriers, at which threads spin when a busy machine deschedules one of them
TREE_THREADS = 2


def fit_ensembles(X: np.ndarray, Y: np.ndarray, params: dict, seed: int,
                  done: Callable[[TreeEnsemble], None] | None = None,
                  groups: np.ndarray | None = None) -> list[TreeEnsemble]:
    """One LightGBM ensemble per column of ``Y``, each learning from the rows where its column is
    known, early-stopped on a random ``params["validation"]`` share of them (``params["patience"]``
    rounds without improvement, at most ``params["rounds"]``; the other keys are LightGBM's).

    ``X`` is binned once and every target trains on a subset of those bins: the binning of a wide
    name-token matrix costs more than a small target's trees. ``done`` is told of each ensemble, in
    target order. ``groups`` (an id per row): rows of one group are all held out or all kept, so
    copies of one model cannot validate each other and keep the boosting going long after it stops
    generalising. The result does not depend on ``TREE_THREADS``.
    """
    import lightgbm as lgb

    booster = {k: v for k, v in params.items() if k not in ("rounds", "patience", "validation")}
    booster.update(seed=seed, verbose=-1)
    binned = lgb.Dataset(X, label=np.zeros(len(X)), params=booster).construct()
    groups = np.arange(len(X)) if groups is None else np.unique(groups, return_inverse=True)[1].ravel()
    held = (np.random.default_rng(seed).random(groups.max(initial=-1) + 1) < params["validation"])[groups]
    jobs = []
    for k in range(Y.shape[1]):  # datasets built here, one thread: only the growing runs in parallel
        known = ~np.isnan(Y[:, k])
        fit, check = np.flatnonzero(known & ~held), np.flatnonzero(known & held)
        train = binned.subset(fit.tolist()).construct()
        train.set_label(Y[fit, k])
        valid = [lgb.Dataset(X[check], label=Y[check, k], reference=train, params=booster).construct()
                 ] if len(check) else []
        jobs.append((train, valid))

    def grow(job: tuple) -> TreeEnsemble:
        train, valid = job
        stop = [lgb.early_stopping(params["patience"], verbose=False)] if valid else []
        model = lgb.train(booster, train, num_boost_round=params["rounds"], valid_sets=valid, callbacks=stop,
                          keep_training_booster=True)  # else LightGBM copies the model through its text once more
        return TreeEnsemble.from_lightgbm(model)

    out = []
    with ThreadPoolExecutor(max_workers=TREE_THREADS) as pool:
        for ensemble in pool.map(grow, jobs):
            out.append(ensemble)
            if done is not None:
                done(ensemble)
    return out

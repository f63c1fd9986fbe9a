"""Which models a backtest holds out: random folds, or a shift a reference meets in use.

A reference is always older than the model a user brings, and usually weaker than the best of what
comes next, so holding out random models measures only interpolation. Beside the ``random`` folds
these splits hold out one group of models the fit never sees (arXiv 2506.07673 shows most
subset-to-score methods break down on such models):

* ``frontier``: the strongest ``share`` of the evaluated models by their mean full score (over the
  benchmarks each has), in one fold;
* ``temporal``: the most recently submitted ``share`` by the ``submission_date`` metadata (every
  model submitted on or after the cut-off day), in one fold; models without a date stay in the fit.
  References without dates (leaderboard v1) cannot be split in time and are refused;
* ``new-family``: every model of one ``architecture`` family, one fold per family: the ``folds``
  largest families that hold at most ``share_cap`` of the evaluated models (a family bigger than
  that would leave a reference of a different population, not a reference without one family);
  unknown architectures (``?``, ``error``) are never a family.

``max_models`` caps the models *judged* per fold (a seeded sample); the whole group is still removed
from the fit, so capping never lets a frontier model leak into training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .dataset import ReferenceData
from .errors import InputError

SPLITS: tuple[str, ...] = ("random", "frontier", "temporal", "new-family")
#: share of the evaluated models a frontier or temporal split holds out
DEFAULT_SHARE = 0.1
#: the largest share of the evaluated models one held-out family may have
FAMILY_SHARE_CAP = 0.15
_UNKNOWN_FAMILIES = frozenset({"", "?", "error", "unknown", "nan", "none"})


@dataclass(frozen=True)
class Fold:
    """``excluded``: models whose data the fold's fit does not see; ``held``: those it is judged on."""

    excluded: list[str]
    held: list[str]
    label: str = ""


def assign_folds(models: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold number per model: a seeded permutation cut into ``folds`` nearly equal parts."""
    if folds < 2 or folds > len(models):
        raise InputError(f"--folds must be between 2 and the number of evaluated models ({len(models)}), got {folds}")
    order = np.random.default_rng(seed).permutation(len(models))
    fold = np.empty(len(models), dtype=int)
    for f, part in enumerate(np.array_split(order, folds)):
        fold[part] = f
    return fold


def make_folds(data: ReferenceData, truth: pd.DataFrame, split: str, folds: int, seed: int,
               max_models: int | None = None, share: float = DEFAULT_SHARE,
               eligible: np.ndarray | None = None) -> tuple[list[Fold], str]:
    """The folds of ``split`` over the models with ``truth`` (:func:`~lrmf_plugin.models.scores.full_scores`)
    and, if given, ``eligible`` (a mask over ``data.models``), and one line saying how they were chosen."""
    if split not in SPLITS:
        raise InputError(f"unknown backtest split {split!r} (expected one of {', '.join(SPLITS)})")
    if not 0 < share < 1:
        raise InputError(f"the held-out share must be between 0 and 1, got {share}")
    mask = truth.notna().any(axis=1).to_numpy() & (True if eligible is None else eligible)
    candidates = [m for m, ok in zip(data.models, mask) if ok]
    if split == "random":
        return _random_folds(candidates, folds, seed, max_models)
    if split == "frontier":
        groups, how = _frontier(truth, candidates, share)
    elif split == "temporal":
        groups, how = _temporal(data, candidates, share)
    elif folds < 1:
        raise InputError(f"--folds is the number of families split new-family holds out: at least 1, got {folds}")
    else:
        groups, how = _families(data, candidates, folds)
    cap = None if max_models is None else max(1, max_models // len(groups))
    out = [Fold(sorted(g), _sample(sorted(g), cap, seed), label) for label, g in groups]
    return out, how


def _random_folds(candidates: list[str], folds: int, seed: int, max_models: int | None) -> tuple[list[Fold], str]:
    if max_models is not None and max_models < len(candidates):
        candidates = sorted(np.random.default_rng(seed).choice(candidates, size=max_models, replace=False).tolist())
    fold_of = assign_folds(candidates, folds, seed)
    out = []
    for f in range(folds):
        held = [m for m, g in zip(candidates, fold_of) if g == f]
        out.append(Fold(held, held, f"fold {f + 1}"))
    return out, f"random: {len(candidates)} models in {folds} seeded folds"


def _sample(models: list[str], cap: int | None, seed: int) -> list[str]:
    if cap is None or cap >= len(models):
        return models
    return sorted(np.random.default_rng(seed).choice(models, size=cap, replace=False).tolist())


def _top_share(values: pd.Series, share: float) -> pd.Series:
    """The entries at or above the (1 - share) quantile: ties at the cut-off all go in."""
    n = max(1, int(round(share * len(values))))
    cut = values.sort_values(ascending=False).iloc[n - 1]
    return values[values >= cut]


def _frontier(truth: pd.DataFrame, candidates: list[str], share: float) -> tuple[list[tuple[str, list[str]]], str]:
    mean = truth.loc[candidates].mean(axis=1, skipna=True)
    top = _top_share(mean, share)
    how = (f"frontier: the {len(top)} strongest of {len(candidates)} models (mean full score >= "
           f"{top.min():.2f}; the fit's strongest has {mean.drop(top.index).max():.2f}) held out together")
    return [("frontier", list(top.index))], how


def _temporal(data: ReferenceData, candidates: list[str], share: float) -> tuple[list[tuple[str, list[str]]], str]:
    dates = pd.to_datetime(data.metadata.reindex(candidates).get("submission_date"), errors="coerce") \
        if "submission_date" in data.metadata.columns else pd.Series(dtype="datetime64[ns]")
    dates = dates.dropna()
    if dates.empty:
        raise InputError("split temporal needs the models' submission dates (metadata submission_date); "
                         "this reference has none")
    late = _top_share(dates, share)
    how = (f"temporal: the {len(late)} models submitted on or after {late.min():%Y-%m-%d} held out together "
           f"({len(dates)} of {len(candidates)} models have a submission date; undated ones stay in the fit)")
    return [("temporal", list(late.index))], how


def _families(data: ReferenceData, candidates: list[str], folds: int) -> tuple[list[tuple[str, list[str]]], str]:
    arch = data.metadata.reindex(candidates).get("architecture")
    if arch is None:
        raise InputError("split new-family needs the models' architecture (metadata architecture); "
                         "this reference has none")
    arch = arch.dropna().astype(str)
    arch = arch[~arch.str.strip().str.lower().isin(_UNKNOWN_FAMILIES)]
    counts = arch.value_counts()
    eligible = counts[counts <= FAMILY_SHARE_CAP * len(candidates)]
    eligible = eligible[eligible >= 2].head(folds)
    if eligible.empty:
        raise InputError("split new-family found no architecture family small enough to hold out "
                         f"(at most {FAMILY_SHARE_CAP:.0%} of {len(candidates)} models)")
    groups = [(name, list(arch.index[arch == name])) for name in eligible.index]
    listed = ", ".join(f"{name} ({n})" for name, n in eligible.items())
    how = (f"new-family: one fold per architecture family, the {len(groups)} largest holding at most "
           f"{FAMILY_SHARE_CAP:.0%} of the {len(candidates)} models: {listed}")
    return groups, how

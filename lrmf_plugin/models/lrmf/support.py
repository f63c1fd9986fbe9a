"""Where the reference's support ends: which queries the predictor extrapolates for, and how much
wider their intervals must be.

A reference is older than the models users bring, and every subset-to-score method breaks down
once a model is unlike the reference's (stronger, newer). A query is *flagged* when its evidence
puts it outside what the reference has seen: a revealed score beyond the reference's range, items
answered better (or worse) than any reference model is expected to answer that subset, metadata
beyond the reference's (more parameters than its largest model, a date after its newest), or a
folded-in vector far from the reference's vectors (Mahalanobis distance beyond the reference's own
99th percentile). A flagged query's interval is widened by a factor per benchmark learned on a
*shift* holdout (:mod:`.shift`), since random folds never show these errors; and every query's
interval gets the *headroom* above its prediction that the same holdout showed newer and stronger
models need, flagged or not.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

import numpy as np
from scipy.stats import binom

from ...dataset import ReferenceData
from ...features import size_from_name
from ...schema import ModelQuery, Prediction
from .newton import sigmoid
from .posterior import Posterior
from .predictive import SIBLING_LEVEL

#: the upper-side stretch of every interval per evidence level, then benchmark (learned by :mod:`.shift`)
Headroom = dict[str, dict[str, float]]

#: share of the reference's own vectors within the latent distance limit: a query beyond it is
#: farther from the reference's centre than all but 1% of the reference's models
LATENT_QUANTILE = 0.99
#: latent directions with less than this share of the largest direction's variance are left out
LATENT_RCOND = 1e-3
#: one-sided binomial p-value below which a query's right answers on a subset are too many for the
#: best reference model (or too few for the worst): with five items a perfect run is common among
#: strong reference models and is no evidence of a stronger model
SUBSET_P = 0.05
#: quantile of a benchmark's reference scores at or above which a prediction is near the top, where
#: a stronger model is the likelier cause of a miss above (its headroom is learned apart)
TOP_QUANTILE = 0.75
#: metadata dates a query may lie beyond the reference's newest
DATE_FIELDS = ("upload_date", "submission_date")


def _iso(value: Any) -> str | None:
    """``value``'s ISO date (YYYY-MM-DD), or None when it is no date."""
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        return None


def _params(metadata: dict[str, Any], model: str) -> float | None:
    """Billions of parameters from the metadata, else from the name; None when neither says."""
    try:
        value = float(metadata.get("params_b"))
    except (TypeError, ValueError):
        value = float("nan")
    return value if value > 0 else size_from_name(model)


@dataclass(frozen=True)
class Support:
    """The reference's extent: its largest model (billions of parameters), its newest dates, the
    centre and precision of its fitted vectors with the distance ``limit`` beyond which a vector is
    outside, ``widen``, the interval factor per benchmark for flagged queries, and ``headroom``, the
    upper side's factor per evidence level and benchmark for every query (1 where none was learned)."""

    params_max: float | None
    newest: dict[str, str]
    centre: np.ndarray
    precision: np.ndarray
    limit: float
    top: dict[str, float] = field(default_factory=dict)
    widen: dict[str, float] = field(default_factory=dict)
    headroom: Headroom = field(default_factory=dict)

    @classmethod
    def fit(cls, data: ReferenceData, post: Posterior, has: np.ndarray) -> "Support":
        """The support of the fitted rows with data (``has`` is over ``post.models``)."""
        models = [m for m, h in zip(post.models, has) if h]
        meta = data.metadata.reindex(models)
        given = meta["params_b"] if "params_b" in meta.columns else [None] * len(models)
        sizes = [s for m, v in zip(models, given) if (s := _params({"params_b": v}, m)) is not None]
        newest = {}
        for name in DATE_FIELDS:
            dates = [d for v in meta[name] if (d := _iso(v))] if name in meta.columns else []
            if dates:
                newest[name] = max(dates)
        U = post.U[has]
        centre = U.mean(axis=0)
        # directions in which the reference's vectors hardly vary are ones its data does not identify
        # (unused factors): a query off in them is not unlike the reference, so they are left out
        precision = (np.linalg.pinv(np.cov(U, rowvar=False), rcond=LATENT_RCOND, hermitian=True) if len(U) > U.shape[1]
                     else np.zeros((U.shape[1],) * 2))
        distances = np.einsum("ij,jk,ik->i", U - centre, precision, U - centre) if len(U) else np.zeros(1)
        scores = data.scores.reindex(models)
        top = {b: float(v) for b, v in scores.quantile(TOP_QUANTILE).items() if v == v}
        return cls(max(sizes) if sizes else None, newest, centre, precision,
                   float(np.quantile(distances, LATENT_QUANTILE)), top)

    def with_shift(self, widen: dict[str, float], headroom: Headroom) -> "Support":
        return dataclasses.replace(self, widen=dict(widen), headroom={lvl: dict(f) for lvl, f in headroom.items()})

    def reasons(self, q: ModelQuery, post: Posterior, u: np.ndarray) -> list[str]:
        """Why ``q`` (folded in at ``u``) lies outside the reference; empty when it lies inside."""
        out = self._score_reasons(q, post) + self._subset_reasons(q, post)
        size = _params(q.metadata, q.model)
        if size is not None and self.params_max is not None and size > self.params_max:
            out.append(f"{size:g}B parameters, more than the reference's largest model ({self.params_max:g}B)")
        for name, newest in self.newest.items():
            when = _iso(q.metadata.get(name))
            if when is not None and when > newest:
                out.append(f"{name.replace('_', ' ')} {when}, after the reference's newest ({newest})")
        distance = float((u - self.centre) @ self.precision @ (u - self.centre))
        if self.limit > 0 and distance > self.limit:
            out.append(f"its evidence puts it farther from the reference's models than {LATENT_QUANTILE:.0%} of them "
                       f"(Mahalanobis {np.sqrt(distance):.1f} > {np.sqrt(self.limit):.1f})")
        return out

    def _score_reasons(self, q: ModelQuery, post: Posterior) -> list[str]:
        """Revealed scores beyond the range of the reference's scores of that benchmark."""
        out = []
        for b, score in q.scores.items():
            if b in post.score_names:
                values = post.normal.values_[post.score_names.index(b)]
                low, high = float(values[0]), float(values[-1])
                if not low <= float(score) <= high:
                    out.append(f"{b} {float(score):.1f} outside the reference's range ({low:.1f}-{high:.1f})")
        return out

    def _subset_reasons(self, q: ModelQuery, post: Posterior) -> list[str]:
        """Answered subsets on which the query's right answers would be that many (or that few) with
        probability below :data:`SUBSET_P` for the best (or the worst) reference model, as the fit
        expects the reference's models to answer them (answers in [0, 1] count by their sum, rounded)."""
        out = []
        V, c = post.item_loadings if q.items else (None, None)
        for b, answers in q.items.items():
            values = [float(v) for it, v in answers.items() if str(it) in post.item_col.get(b, {})]
            if not values:
                continue
            cols = [post.item_col[b][str(it)] for it in answers if str(it) in post.item_col[b]]
            rates = sigmoid(post.U @ V[cols].T + c[cols]).mean(axis=1)  # each reference vector's expected subset mean
            n, right = len(values), int(round(sum(values)))
            best, worst = float(rates.max()), float(rates.min())
            if binom.sf(right - 1, n, best) < SUBSET_P:
                out.append(f"{b}: {right} of its {n} items right, more than the best reference model "
                           f"would get (expected {best:.0%})")
            elif binom.cdf(right, n, worst) < SUBSET_P:
                out.append(f"{b}: {right} of its {n} items right, fewer than the weakest reference model "
                           f"would get (expected {worst:.0%})")
        return out

    def widened(self, p: Prediction, reasons: Sequence[str], level: str) -> Prediction:
        """``p`` at evidence ``level``: flagged with ``reasons`` (if any), each side of its interval
        then stretched by its benchmark's factor, and its upper side by the level's headroom."""
        if p.observed:
            return p
        k = self.widen.get(p.benchmark, 1.0) if reasons else 1.0
        return dataclasses.replace(p, lower=max(p.predicted - k * (p.predicted - p.lower), 0.0),
                                   upper=min(p.predicted + self.room(p, level) * k * (p.upper - p.predicted), 100.0),
                                   flags=tuple(reasons))

    def room(self, p: Prediction, level: str) -> float:
        """The headroom of ``p`` at ``level``: its sibling level's when ``level`` learned none, 1 when neither did."""
        return next((self.headroom[key].get(p.benchmark, 1.0) for lvl in (level, SIBLING_LEVEL.get(level, ""))
                     if (key := self.room_key(lvl, p)) in self.headroom), 1.0)

    def room_key(self, level: str, p: Prediction) -> str:
        """The headroom's key of ``p`` at ``level``: the level, marked when ``p`` is near the top."""
        return f"{level}, top" if p.predicted >= self.top.get(p.benchmark, np.inf) else level

    # -- persistence: plain JSON in the predictor's header ----------------------------------------
    def state(self) -> dict[str, Any]:
        return {"params_max": self.params_max, "newest": self.newest, "centre": self.centre.tolist(),
                "precision": self.precision.tolist(), "limit": self.limit, "top": self.top, "widen": self.widen,
                "headroom": self.headroom}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Support":
        params = state["params_max"]
        return cls(None if params is None else float(params), {str(k): str(v) for k, v in state["newest"].items()},
                   np.asarray(state["centre"], dtype=float), np.asarray(state["precision"], dtype=float),
                   float(state["limit"]), {str(b): float(v) for b, v in state["top"].items()},
                   {str(b): float(k) for b, k in state["widen"].items()},
                   {str(lvl): {str(b): float(k) for b, k in f.items()} for lvl, f in state["headroom"].items()})

"""Predictive moments of full scores, the evidence levels intervals are calibrated at, and predictions.

Predictive intervals combine the folded-in vector's posterior with score noise and, for benchmarks
scored item by item, the finite-sample noise of the items not yet evaluated. Where the reference
has both scores and items, the item map (:mod:`..item_map`, a Gaussian conditional on the 0-100
scale) may predict the scores of a query that answers items instead of the vector, at the evidence
levels the calibration pass kept it for.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from ...defaults import Z90
from ...schema import ModelQuery, Prediction
from ..item_map import ItemScoreMap
from .defaults import MANY_ITEMS
from .posterior import Link, Posterior


class EvidenceLevel(StrEnum):
    """What a query reveals, as its interval is calibrated: each level has its own scale per benchmark."""

    NONE = "none"
    LINEAGE = "lineage"
    SCORES = "scores"
    REVEAL_SET = "reveal set"
    ITEMS = "items"
    MANY_ITEMS = "many items"
    SOME_ITEMS = "some items"


#: the levels of queries with items: where the item map may predict, the calibration pass keeping it
#: where it beats the folded-in vector
ITEM_LEVELS = (EvidenceLevel.ITEMS, EvidenceLevel.MANY_ITEMS, EvidenceLevel.SOME_ITEMS)
#: calibration levels that stand in for each other when one has too few held-out models
SIBLING_LEVEL = {EvidenceLevel.NONE: EvidenceLevel.LINEAGE, EvidenceLevel.LINEAGE: EvidenceLevel.NONE,
                 EvidenceLevel.REVEAL_SET: EvidenceLevel.SCORES, EvidenceLevel.ITEMS: EvidenceLevel.MANY_ITEMS,
                 EvidenceLevel.MANY_ITEMS: EvidenceLevel.ITEMS, EvidenceLevel.SOME_ITEMS: EvidenceLevel.ITEMS}
#: standard error (0-100 scale) below which an estimated score would count as measured (a zero sd does)
SMALLEST_SD = 1e-3
#: (level, benchmark, truth, mean, sd, raw) of one held-out prediction (see :meth:`Predictive.case_moments`)
Moment = tuple[str, str, float, float, float, bool]
T = TypeVar("T")


class SharedSteps:
    """Steps of :meth:`Predictive.moments` done once per query and reused: across the calibration
    pass's options (item weights, the item map or not), a query's links, its item-map moments and
    its fold-ins without item answers (the item weight tempers only item answers) are the same, and
    its fold-in with them is the same per weight, the map or not; across a batch, its metadata
    features and targets come from one pass (:meth:`Predictive.share_prior_targets`). Keys hold the
    query's ``id``: valid while the queries live, for posteriors that differ only in their item weight."""

    def __init__(self) -> None:
        self._done: dict[tuple, Any] = {}

    def __contains__(self, key: tuple) -> bool:
        return key in self._done

    def get(self, key: tuple, compute: Callable[[], T]) -> T:
        if key not in self._done:
            self._done[key] = compute()
        return self._done[key]


def _compute(key: tuple, compute: Callable[[], T]) -> T:
    """What :meth:`SharedSteps.get` does without anything shared."""
    return compute()


def item_level(n_item_benchmarks: int, counts: Sequence[int]) -> EvidenceLevel:
    """The evidence level of a query answering ``counts`` items per benchmark, of a reference with
    ``n_item_benchmarks`` benchmarks that have items."""
    answered = sum(1 for c in counts if c)
    if answered < n_item_benchmarks:
        return EvidenceLevel.SOME_ITEMS
    return EvidenceLevel.MANY_ITEMS if sum(counts) > MANY_ITEMS * answered else EvidenceLevel.ITEMS


@dataclass(frozen=True, eq=False)
class Predictive:
    """Predictions from a posterior, with the item map at the evidence levels ``map_levels``."""

    posterior: Posterior
    item_map: ItemScoreMap | None
    map_levels: tuple[str, ...]

    def level(self, q: ModelQuery, links: list[Link] | None = None) -> EvidenceLevel:
        """What a query's interval is calibrated as: items on only some item benchmarks, many items,
        a few items, exactly a reveal set's scores, other scores, relatives only, or nothing.

        Relatives get their own level because they narrow the posterior more than they inform it
        (a family's members share more than the lineage prior's independent links assume). Items on
        only some benchmarks get theirs because their errors are larger than their spread says; as
        one level with the rest, they widened every item query's interval.
        """
        post = self.posterior
        if q.n_items():
            return item_level(len(post.item_col), [len(v) for v in q.items.values()])
        if q.scores:
            exact = tuple(j for j, b in enumerate(post.score_names) if b in q.scores and q.knows_exactly(b))
            return EvidenceLevel.REVEAL_SET if exact in post.prior.specialists_ else EvidenceLevel.SCORES
        return EvidenceLevel.LINEAGE if (post.links(q) if links is None else links) else EvidenceLevel.NONE

    def predict_one(self, q: ModelQuery, prior_mean: np.ndarray, scales: dict[tuple[str, str], float],
                    shared: SharedSteps | None = None) -> list[Prediction]:
        """Predictions of every benchmark for ``q``, intervals scaled by ``scales`` (benchmark, level);
        ``shared``: see :meth:`moments`."""
        links = self.links(q, shared)
        moments = self.moments(q, prior_mean, links, shared)
        level = self.level(q, links)
        out = []
        for b in self.posterior.benchmarks:
            if b not in moments:
                s = float(q.scores[b])
                out.append(Prediction(q.model, b, s, s, s, observed=True))
                continue
            mean, sd, raw = moments[b]
            # too few held-out models with (or without) relatives: the other no-evidence scale
            k = scales.get((b, level), scales.get((b, SIBLING_LEVEL.get(level, "")), 1.0))
            half = Z90 * sd * k
            # every reference scale is 0-100 (leaderboard-normalised or percent correct)
            centre, lo, hi = (min(max(self.to_scale(b, x, raw), 0.0), 100.0) for x in (mean, mean - half, mean + half))
            out.append(Prediction(q.model, b, centre, lo, hi))
        return out

    def moments(self, q: ModelQuery, prior_mean: np.ndarray, links: list[Link] | None = None,
                shared: SharedSteps | None = None) -> dict[str, tuple[float, float, bool]]:
        """Predictive (mean, sd, raw) of every benchmark ``q`` does not reveal exactly: from the item
        map for scores when ``q`` answers items (``raw``: on the reference's 0-100 scale, where the
        map is Gaussian), else from the folded-in vector (on the working scale). ``shared``: steps
        already done for ``q`` (for another option of the calibration pass, or for its batch), reused."""
        post, run = self.posterior, shared.get if shared else _compute
        links = self.links(q, shared) if links is None else links
        mapped = run(("mapped", id(q), id(self.item_map), self.map_levels),
                     lambda: self.mapped_scores(q, prior_mean, links))
        wanted = [b for b in post.benchmarks if not q.knows_exactly(b)]
        if all(b in mapped for b in wanted):  # the map predicts everything: no fold-in needed
            own = {b: (*mapped[b], True) for b in wanted}
        else:
            u, cov = self.fold_in(q, prior_mean, links, shared)
            own = {b: (*mapped[b], True) if b in mapped else (*self.benchmark_moments(b, u, cov, q), False)
                   for b in wanted}
        return {**own, **self.transferred(q, own, links, shared)}

    def links(self, q: ModelQuery, shared: SharedSteps | None = None) -> list[Link]:
        """``q``'s links to its relatives in the reference (once per query with ``shared``)."""
        return (shared.get if shared else _compute)(("links", id(q)), lambda: self.posterior.links(q))

    def fold_in(self, q: ModelQuery, prior_mean: np.ndarray, links: list[Link], shared: SharedSteps | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """``q``'s folded-in vector and covariance (once per query and item weight with ``shared``:
        the same for the item map or not, and for the predictions and their extrapolation check)."""
        return (shared.get if shared else _compute)(("fold-in", id(q), self.posterior.item_weight),
                                                     lambda: self.posterior.fold_in(q, prior_mean, links))

    def transferred(self, q: ModelQuery, own: dict[str, tuple[float, float, bool]], links: list[Link],
                    shared: SharedSteps | None = None) -> dict[str, tuple[float, float, bool]]:
        """Moments of the score benchmarks ``q`` gives neither items nor a score for, when it answers
        items on benchmarks that have scores too: those scores, estimated from the items (``own``'s
        moments, as are those of scores ``q`` estimated itself), enter as revealed scores with their standard errors (the score-conditional trees and the
        fold-in's Gaussian rows), so the items inform the other benchmarks as a measured score
        would. Read through the vector the items' own logistic loadings, fitted to scores under a
        cut, pulled the other scores off; and the item map, learned from the few reference models
        with items, reads them less well than the trees learned from every model's scores."""
        post = self.posterior
        if not q.items:
            return {}
        # a score the query estimated itself enters as its posterior too (its own value is not shrunk)
        bridged = [b for b in own if b in post.score_names and (b in q.items or b in q.scores)]
        targets = [b for b in own if b in post.score_names and b not in bridged]
        if not bridged or not targets:
            return {}
        scores = {b: v for b, v in q.scores.items() if q.knows_exactly(b)}
        sds: dict[str, float] = {}
        for b in bridged:
            mean, sd, raw = own[b]
            lo, mid, hi = (self.to_scale(b, x, raw) for x in (mean - sd, mean, mean + sd))
            scores[b], sds[b] = mid, max((hi - lo) / 2, SMALLEST_SD)
        revealed = ModelQuery(model=q.model, metadata=q.metadata, parents=q.parents, scores=scores, score_sd=sds)
        run = shared.get if shared else _compute

        def transfer() -> dict[str, tuple[float, float, bool]]:
            # the same model and metadata as the query: the same features and metadata-only targets
            start = run(("prior targets", id(q)), lambda: post.prior_targets([revealed]))
            u, cov = post.fold_in(revealed, post.prior_means([revealed], estimates=True, targets=start)[0], links)
            return {b: (*self.benchmark_moments(b, u, cov, revealed), False) for b in targets}
        # no item answers: the same for every item weight, given the same estimated scores
        return run(("transfer", id(q), tuple(scores.items()), tuple(sds.items()), tuple(targets)), transfer)

    def mapped_scores(self, q: ModelQuery, prior_mean: np.ndarray, links: list[Link]) -> dict[str, tuple[float, float]]:
        """Score moments from the item map for a query that answers items; the map's
        prior-prediction variables get the query's zero-evidence prediction (metadata and lineage:
        with exact scores revealed, ``prior_mean`` is the score-conditional one, so the metadata-only
        mean is computed again). On the 0-100 scale: carried onto the normal-scores scale by its
        local slope, a symmetric interval turns lopsided and far too wide wherever the reference's
        scores bunch."""
        post, item_map = self.posterior, self.item_map
        if item_map is None or not q.items or self.level(q, links) not in self.map_levels:
            return {}
        bare = ModelQuery(model=q.model, metadata=q.metadata, parents=q.parents)
        if any(b in post.score_names and q.knows_exactly(b) for b in q.scores):
            prior_mean = post.prior_means([bare])[0]
        m0, _ = post.fold_in(bare, prior_mean, links)
        V, c = post.score_loadings
        names = item_map.score_names_
        cols = [post.score_names.index(b) for b in names]
        prior = [float(post.normal.inverse(j, V[j] @ m0 + c[j])) for j in cols]
        mean, var = item_map.predict(*post.map_evidence(item_map, q, prior))
        # a linear map overshoots for models unlike the reference's: its range bounds the centre
        low, high = ([post.normal.values_[j][end] for j in cols] for end in (0, -1))
        return {b: (float(np.clip(mean[k], low[k], high[k])), float(np.sqrt(var[k])))
                for k, b in enumerate(names) if not q.knows_exactly(b)}

    def benchmark_moments(self, b: str, u: np.ndarray, cov: np.ndarray, q: ModelQuery) -> tuple[float, float]:
        """Predictive mean and standard deviation of a benchmark's full score on its working scale:
        normal scores for a benchmark with score columns (Gaussian there, mapped back by quantiles),
        the 0-100 item mean for a benchmark known only item by item."""
        post = self.posterior
        if b in post.score_names:
            j = post.score_names.index(b)
            V, c = post.score_loadings
            z = V[j] @ u + c[j]
            var = V[j] @ cov @ V[j] + post.score_noise ** 2
            return float(z), float(np.sqrt(var))
        # item-only benchmark: mean over all its items of observed values / predicted probabilities
        V, p = post.answer_probabilities(b, u)
        observed = np.zeros(len(p), dtype=bool)
        total = p.copy()
        for it, value in q.items.get(b, {}).items():  # only the few observed items, not all N
            k = post.item_position[b].get(str(it))
            if k is not None:
                observed[k], total[k] = True, float(value)
        N = len(p)
        w = np.where(observed, 0.0, p * (1 - p))
        grad = w @ V
        var = (w.sum() + grad @ cov @ grad) / N ** 2
        return float(100.0 * total.mean()), float(100.0 * np.sqrt(var))

    def to_scale(self, b: str, x: float, raw: bool = False) -> float:
        """A value on the working scale of :meth:`benchmark_moments` -> the reference's score scale
        (``raw``: a value of the item map's, already on it)."""
        names = self.posterior.score_names
        if b in names and not raw:
            return float(self.posterior.normal.inverse(names.index(b), x))
        return float(x)

    def to_working(self, b: str, y: float, raw: bool = False) -> float:
        """Inverse of :meth:`to_scale`."""
        names = self.posterior.score_names
        if b in names and not raw:
            return float(self.posterior.normal.forward(names.index(b), y))
        return float(y)

    def case_moments(self, cases: list[tuple[str, ModelQuery, dict[str, float], np.ndarray]],
                     shared: SharedSteps | None = None) -> Iterator[Moment]:
        """(level, benchmark, truth, mean, sd, raw) as :meth:`moments` gives them, for every
        held-out case (level, query, truth, prior mean) and every benchmark with truth that its
        query does not reveal (``shared``: see :meth:`moments`)."""
        shared = SharedSteps() if shared is None else shared
        new = [q for _, q, _, _ in cases if q.items and ("prior targets", id(q)) not in shared]
        if new:
            self.share_prior_targets(new, shared)
        for level, q, truth, prior_mean in cases:
            moments = self.moments(q, prior_mean, shared=shared)
            for b, y in truth.items():
                if b not in q.scores and b in self.posterior.benchmarks:
                    yield (level, b, y, *moments[b])

    def share_prior_targets(self, queries: list[ModelQuery], shared: SharedSteps) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`Posterior.prior_targets` of ``queries`` in one batch (a row at a time, featurising
        and walking the trees cost ten times as much), each row shared as its query's own: where
        the transfer of its items' scores starts."""
        F, G = self.posterior.prior_targets(queries)
        for i, q in enumerate(queries):
            shared.get(("prior targets", id(q)), lambda: (F[i:i + 1], G[i:i + 1]))
        return F, G

    def moments_error(self, moments: list[Moment]) -> float:
        """Mean absolute error (reference scale) of :meth:`case_moments` output."""
        errors = [abs(self.to_scale(b, mean, raw) - y) for _, b, y, mean, _, raw in moments]
        return float(np.mean(errors)) if errors else 0.0

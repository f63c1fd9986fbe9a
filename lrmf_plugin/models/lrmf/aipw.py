"""The design-unbiased correction: a prediction plus the mean residual on uniformly random items (AIPW).

Every subset-to-score method but plain random sampling and AIPW breaks down once a model is unlike
the reference's (Zhang, Dorner & Hardt 2025): the fit's item probabilities are then biased for it.
When part of a benchmark's budget went to uniformly random items (``--random-share``), the mean of
their residuals (answer minus the folded-in vector's probability) estimates that bias over the
benchmark's items without assuming the fit is right; added to the prediction for the items not yet
run, it makes the estimate unbiased by design, and its standard error widens the interval.
Applies to benchmarks whose full score is the mean of their items (complete item sets without a
separate score column: lm-eval tasks); a leaderboard score on another scale is left as predicted.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...defaults import Z90
from ...schema import ModelQuery, Prediction
from .posterior import Posterior

#: random answers needed before their residuals' spread can be estimated
MIN_RANDOM = 2


def corrected(rows: list[Prediction], q: ModelQuery, post: Posterior, u: np.ndarray) -> list[Prediction]:
    """``rows`` (predictions of ``q`` folded in at ``u``) with the AIPW correction applied to every
    benchmark ``q`` answered at least :data:`MIN_RANDOM` random items of."""
    return [_corrected(p, q, post, u) if len(q.random_items.get(p.benchmark, ())) >= MIN_RANDOM else p
            for p in rows]


def _corrected(p: Prediction, q: ModelQuery, post: Posterior, u: np.ndarray) -> Prediction:
    b = p.benchmark
    info = post.info.get(b)
    if p.observed or b in post.score_names or info is None or not info.items_complete or b not in post.item_index:
        return p
    position = post.item_position[b]
    answers = q.items.get(b, {})
    _, prob = post.answer_probabilities(b, u)
    random = [str(it) for it in q.random_items[b] if str(it) in answers and str(it) in position]
    if len(random) < MIN_RANDOM:
        return p
    residuals = np.array([float(answers[it]) - prob[position[it]] for it in random])
    # the residuals stand for the items not run yet; the answered ones already count as observed
    unseen = 1.0 - sum(1 for it in answers if str(it) in position) / len(prob)
    shift = 100.0 * unseen * residuals.mean()
    se = 100.0 * unseen * residuals.std(ddof=1) / np.sqrt(len(residuals))
    centre = min(max(p.predicted + shift, 0.0), 100.0)
    low = np.hypot(p.predicted - p.lower, Z90 * se)
    high = np.hypot(p.upper - p.predicted, Z90 * se)
    return dataclasses.replace(p, predicted=centre, lower=max(centre - low, 0.0), upper=min(centre + high, 100.0))

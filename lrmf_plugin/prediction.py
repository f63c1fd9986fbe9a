"""The one prediction path every face takes: resolve the model, predict, apply what relations mean,
and show measured scores as measured.

:class:`PredictionPath` wraps a fitted predictor with the resolver of the same reference. It is what
:class:`~lrmf_plugin.api.Lrmf` uses for the CLI, the lm-eval runner, the bot and the Space, and what
the backtest's ``ids-and-parents`` setting measures, so the figure reported is the figure users get.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from .models.base import Predictor
from .defaults import Z90
from .models.relation_offsets import RelationOffsets
from .resolution import ModelRequest, ModelResolver, ResolvedModel
from .schema import ModelQuery, Prediction, flag_reasons

#: How many quantised hops a copy's parent may itself be a copy (a GGUF of an AWQ of a model).
MAX_COPY_HOPS = 3
#: A merge's prediction moves towards its measured parents' mean plus the reference's merge offset, by
#: their precisions, the offset's spread widened this much first: merges sit near their parents (the
#: factorisation alone put a merge of two strong parents below both), but both estimates lean on the
#: same parents, so the offset alone would be trusted too much (see docs/experiments.md).
MERGE_TRUST = 2.0
#: The metadata the predictor's calibration cases all had. A query that knows fewer than
#: :data:`MIN_CORE_FIELDS` of them (an id and nothing else) lies outside what the intervals were
#: calibrated on, so its interval is widened to at least the reference's own 5-95% range.
CORE_FIELDS = ("params_b", "architecture", "model_type", "chat_template", "precision")
MIN_CORE_FIELDS = 3
#: Columns of a prediction table (``PRED.csv``): ``source`` is ``measured``, ``given`` or ``predicted``.
COLUMNS = ["model", "benchmark", "predicted", "lower", "upper", "measured", "source"]
#: The column (and JSON key) added where a prediction extrapolates: why its model lies outside the
#: reference's support (reasons joined by ``; `` in a CSV). Absent when nothing is flagged, so
#: outputs of models like the reference's stay as they were.
FLAG_COLUMN = "extrapolation"


@dataclass
class ModelReport:
    """One model's answer: its resolution, and one row per benchmark."""

    resolved: ResolvedModel
    predictions: list[Prediction]
    measured_shown: bool

    @property
    def flags(self) -> list[str]:
        """Why this model's predictions extrapolate (see :data:`FLAG_COLUMN`); empty when they do not."""
        return flag_reasons(self.predictions)

    def rows(self) -> list[dict]:
        out = []
        for p in self.predictions:
            measured = self.resolved.measured.get(p.benchmark)
            source = "predicted"
            if p.observed:
                source = "measured" if self.measured_shown and measured is not None else "given"
            out.append({"model": p.model, "benchmark": p.benchmark, "predicted": p.predicted, "lower": p.lower,
                        "upper": p.upper, "measured": measured, "source": source})
            if p.flags:
                out[-1][FLAG_COLUMN] = list(p.flags)
        return out


class PredictionPath:
    """A fitted predictor plus the resolver and copy offsets of the reference it was fitted on."""

    def __init__(self, predictor: Predictor, resolver: ModelResolver, no_interval: dict[str, str] | None = None):
        self.predictor = predictor
        self.resolver = resolver
        #: benchmark -> why its predictions carry no interval (see :func:`lrmf_plugin.eval_results.interval_reasons`)
        self.no_interval = dict(no_interval or {})
        self.copies = RelationOffsets("quantized").fit(resolver.scores, resolver.graph)
        self.merges = RelationOffsets("merge").fit(resolver.scores, resolver.graph)
        self.population = {b: (float(col.quantile(0.05)), float(col.quantile(0.95)))
                           for b, col in resolver.scores.items() if col.notna().any()}

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        """The predictor's predictions; a quantised copy without evidence of its own is read off its parent,
        and a merge of measured parents is drawn towards their mean (see :data:`MERGE_TRUST`)."""
        queries = list(queries)
        per_query = self._mixed(queries)
        for i, q in enumerate(queries):
            benchmarks = [p.benchmark for p in per_query[i]]
            copied = self._as_copy(q, benchmarks, 0)
            if copied is not None:
                per_query[i] = copied
                continue
            anchor = self._merge_anchor(q, benchmarks)
            if anchor is not None:
                per_query[i] = [_blend(p, a, MERGE_TRUST) for p, a in zip(per_query[i], anchor)]
            elif self._undescribed(q):
                per_query[i] = [self._widened(p) for p in per_query[i]]
        nan = float("nan")
        return [dataclasses.replace(p, lower=nan, upper=nan) if p.benchmark in self.no_interval and not p.observed
                else p for rows in per_query for p in rows]

    def why_no_interval(self, predictions: Sequence[Prediction]) -> dict[str, str]:
        """Benchmark -> why its prediction among ``predictions`` has no interval (every face says so)."""
        return {p.benchmark: self.no_interval[p.benchmark] for p in predictions
                if p.benchmark in self.no_interval and not p.observed}

    def _undescribed(self, q: ModelQuery) -> bool:
        """A query with no evidence and fewer core metadata fields than the calibration ever saw."""
        known = set(q.metadata) | {f for _, extra in q.metadata_options for f in extra}
        return not (q.scores or q.n_items()) and sum(f in known for f in CORE_FIELDS) < MIN_CORE_FIELDS

    def _widened(self, p: Prediction) -> Prediction:
        low, high = self.population.get(p.benchmark, (p.lower, p.upper))
        if math.isnan(p.lower) or math.isnan(p.upper):  # a method without intervals keeps none
            return p
        return dataclasses.replace(p, lower=min(p.lower, low), upper=max(p.upper, high))

    def _mixed(self, queries: list[ModelQuery]) -> list[list[Prediction]]:
        """The predictor's predictions per query; a query with metadata options gets their mixture."""
        expanded, owner = [], []
        for i, q in enumerate(queries):
            for weight, extra in q.metadata_options or [(1.0, {})]:
                expanded.append(dataclasses.replace(q, metadata={**q.metadata, **extra}, metadata_options=[]))
                owner.append((i, weight))
        flat = _per_query(self.predictor.predict(expanded), len(expanded))
        parts: list[list[tuple[float, list[Prediction]]]] = [[] for _ in queries]
        for (i, weight), rows in zip(owner, flat):
            parts[i].append((weight, rows))
        return [rows[0][1] if len(rows) == 1 else _mixture(rows) for rows in parts]

    def report(self, requests: Sequence[ModelRequest], as_if_new: bool = False) -> list[ModelReport]:
        """Resolve and predict; a model the reference has measured shows its measured scores, unless
        ``as_if_new`` asks for the prediction the tool would make without them."""
        return self.report_resolved([self.resolver.resolve(r) for r in requests], as_if_new)

    def report_resolved(self, resolved: Sequence[ResolvedModel], as_if_new: bool = False) -> list[ModelReport]:
        """:meth:`report` of models already resolved (a caller that adds observations in between)."""
        queries = [r.query if as_if_new else dataclasses.replace(r.query, scores={**r.measured, **r.query.scores})
                   for r in resolved]
        per_query = _per_query(self.predict(queries), len(resolved))
        return [ModelReport(r, rows, measured_shown=not as_if_new) for r, rows in zip(resolved, per_query)]

    def _as_copy(self, q: ModelQuery, benchmarks: list[str], hops: int) -> list[Prediction] | None:
        """A copy's predictions from its parent, or None when ``q`` is no plain quantised copy."""
        if q.scores or q.n_items() or hops >= MAX_COPY_HOPS:
            return None
        parents = [p for p, rel in self._parents(q) if rel == "quantized"]
        if len(parents) != 1:
            return None
        parent = parents[0]
        measured = self.resolver.measured(parent)
        if all(b in measured for b in benchmarks):
            base = [Prediction(parent, b, measured[b], measured[b], measured[b], observed=True) for b in benchmarks]
        else:
            pq = self.resolver.resolve(ModelRequest(parent)).query
            pq.scores = {b: measured[b] for b in benchmarks if b in measured}
            base = self._as_copy(pq, benchmarks, hops + 1) or self.predictor.predict([pq])
        return self.copies.predict(q.model, [base])

    def _merge_anchor(self, q: ModelQuery, benchmarks: list[str]) -> list[Prediction] | None:
        """The merge offsets' prediction from the measured merge parents (those with every benchmark)."""
        if q.scores or q.n_items():
            return None
        merge_parents = [p for p, rel in self._parents(q) if rel == "merge"]
        parents = [m for m in map(self.resolver.measured, merge_parents) if all(b in m for b in benchmarks)]
        if len(merge_parents) < 2 or not parents:
            return None
        measured = [[Prediction(q.model, b, m[b], m[b], m[b]) for b in benchmarks] for m in parents]
        return self.merges.predict(q.model, measured)

    def _parents(self, q: ModelQuery) -> list[tuple[str, str]]:
        edges = [(e.parent, e.relation) for e in self.resolver.graph.parents(q.model)]
        return edges + [(p, r) for p, r in q.parents if all(p != e for e, _ in edges)]


def _blend(p: Prediction, anchor: Prediction, trust: float) -> Prediction:
    """A prediction moved towards an anchor by their precisions, the anchor's spread widened by ``trust``."""
    if p.observed:
        return p
    sd = (p.upper - p.lower) / (2 * Z90)
    sd_anchor = trust * (anchor.upper - anchor.lower) / (2 * Z90)
    if not (sd > 0 and sd_anchor > 0):  # no interval (a baseline without one) gives no weight to compare
        return p
    w = sd ** 2 / (sd ** 2 + sd_anchor ** 2)
    centre = (1 - w) * p.predicted + w * anchor.predicted
    # the interval keeps its width: the two estimates share the parents, so their errors are not
    # independent, and the narrower combined interval under-covered held-out merges
    return Prediction(p.model, p.benchmark, centre, max(centre - (p.predicted - p.lower), 0.0),
                      min(centre + (p.upper - p.predicted), 100.0), flags=p.flags)


def _mixture(parts: list[tuple[float, list[Prediction]]]) -> list[Prediction]:
    """Mix per-benchmark predictions of the same model: the weighted mean, and each side of the interval
    from the components' spread on that side plus their centres' spread (moment matching)."""
    out = []
    total = sum(w for w, _ in parts)
    for rows in zip(*(r for _, r in parts)):
        ws = [w / total for w, _ in parts]
        centre = sum(w * p.predicted for w, p in zip(ws, rows))
        if rows[0].observed:
            out.append(rows[0])
            continue
        low = sum(w * (((p.predicted - p.lower) / Z90) ** 2 + (p.predicted - centre) ** 2) for w, p in zip(ws, rows))
        high = sum(w * (((p.upper - p.predicted) / Z90) ** 2 + (p.predicted - centre) ** 2) for w, p in zip(ws, rows))
        # the mixture extrapolates where any of its components does
        flags = tuple(flag_reasons(rows))
        out.append(Prediction(rows[0].model, rows[0].benchmark, centre, max(centre - Z90 * math.sqrt(low), 0.0),
                              min(centre + Z90 * math.sqrt(high), 100.0), flags=flags))
    return out


def _per_query(predictions: list[Prediction], n_queries: int) -> list[list[Prediction]]:
    """A predictor's flat output (every benchmark of query 0, then of query 1 ...) cut per query."""
    n = len(predictions) // max(n_queries, 1)
    return [predictions[i * n:(i + 1) * n] for i in range(n_queries)]


def report_frame(reports: Sequence[ModelReport]) -> pd.DataFrame:
    """The rows of every report as one table with :data:`COLUMNS`, and :data:`FLAG_COLUMN` when a
    prediction extrapolates."""
    rows = [row for r in reports for row in r.rows()]
    if not any(FLAG_COLUMN in row for row in rows):
        return pd.DataFrame(rows, columns=COLUMNS)
    rows = [{**row, FLAG_COLUMN: "; ".join(row.get(FLAG_COLUMN, []))} for row in rows]
    return pd.DataFrame(rows, columns=[*COLUMNS, FLAG_COLUMN])

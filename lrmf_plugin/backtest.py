"""The backtest: every method, the same held-out models, the same evidence, the same metrics.

Protocol (issue "Backtest and report"): models with data are split into ``folds`` seeded folds; for
each fold every method is fitted on ``data.subset(keep)``, where the held-out models stay in the
lineage graph as data-less nodes, and then asked about each held-out model under each setting:

* ``zero``: the leaderboard's metadata and lineage (its root-ancestor link included);
* ``ids-and-parents``: what a user types: the model id, resolved against the fold's reference (its
  Hub lineage edges and the Hub's model list, no leaderboard row) through the same
  :class:`~lrmf_plugin.prediction.PredictionPath` as the CLI, so metadata is inherited from parents;
* ``known``: the scores of the ``known`` benchmarks are given, the others are predicted;
* ``random-K`` / ``planned-K``: K items per benchmark with items, chosen uniformly at random (the
  same items for every method) or by the method's own planner (methods without one get the random
  plan). These settings are judged on the held-out models that have items on every benchmark with
  items (others could not reveal K items, and would only repeat ``zero``).

Queries are built from the full data with :meth:`ReferenceData.query`, which reveals only what the
setting allows, so a method never sees a held-out model's other scores or items. Truth is
:func:`~lrmf_plugin.models.scores.full_scores` of the full data; a setting is scored only on
benchmarks with truth (and never on the benchmarks it reveals). :mod:`lrmf_plugin.backtest_report`
turns the result into tables, targets and plots.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .dataset import ReferenceData
from .defaults import ITEM_BUDGETS
from .errors import InputError
from .models.base import Predictor
from .models.lineage_average import LineageAveragePredictor
from .models.scores import full_scores
from .backtest_metrics import item_metrics
from .backtest_splits import DEFAULT_SHARE, make_folds
from .schema import ModelQuery

#: (predictor, query, budget, seed, benchmarks) -> benchmark -> item ids to evaluate
Planner = Callable[[Predictor, ModelQuery, int, int, Sequence[str]], Mapping[str, Sequence[str]]]

DEFAULT_KNOWN: tuple[str, ...] = ("ifeval", "musr")
DEFAULT_BUDGETS: tuple[int, ...] = ITEM_BUDGETS
DEFAULT_SETTINGS: tuple[str, ...] = ("zero", "known", *(f"random-{k}" for k in DEFAULT_BUDGETS),
                                     *(f"planned-{k}" for k in DEFAULT_BUDGETS))


@dataclass(frozen=True)
class Setting:
    """One evidence regime: ``kind`` is zero, ids, known, random or planned; ``k`` items per benchmark."""

    name: str
    kind: str
    k: int = 0

    @property
    def uses_items(self) -> bool:
        return self.kind in ("random", "planned")


def parse_setting(text: str) -> Setting:
    """``zero``, ``ids-and-parents``, ``known``, ``random-K`` or ``planned-K`` (K a positive integer)."""
    s = text.strip().lower()
    if s in ("zero", "known"):
        return Setting(s, s)
    if s == "ids-and-parents":
        return Setting(s, "ids")
    m = re.fullmatch(r"(random|planned)-([0-9]+)", s)
    if not m or int(m.group(2)) <= 0:
        raise InputError(f"unknown backtest setting {text!r} (expected zero, ids-and-parents, known, random-K or "
                         "planned-K with K >= 1)")
    return Setting(s, m.group(1), int(m.group(2)))


def _lazy(module: str, cls: str) -> Callable[[], Predictor]:
    """A factory importing its class on first use, so a missing optional method fails only if chosen."""
    def factory() -> Predictor:
        return getattr(importlib.import_module(module), cls)()
    factory.__qualname__ = f"{module}.{cls}"
    return factory


def plan_with_planning_module(predictor: Predictor, query: ModelQuery, budget: int, seed: int,
                              benchmarks: Sequence[str]) -> Mapping[str, Sequence[str]]:
    """The library's default (adaptive) planner, :func:`lrmf_plugin.planning.plan_items`."""
    from .planning import plan_items
    return plan_items(predictor, query, budget, selection="adaptive", seed=seed, benchmarks=list(benchmarks))


@dataclass(frozen=True)
class MethodSpec:
    """How to build a method, and its planner if it can choose its own items."""

    factory: Callable[[], Predictor]
    planner: Planner | None = None
    #: the method takes ``reveal_sets`` (see :class:`~lrmf_plugin.models.lrmf.LRMFPredictor`): it is
    #: told, before fitting, which benchmarks setting ``known`` reveals, as a user who always runs
    #: those first tells ``lm-eval-predict fit --reveal``
    takes_reveal_sets: bool = False


#: Every method the backtest knows, by the name used on the command line and in reports.
METHODS: dict[str, MethodSpec] = {
    "global_mean": MethodSpec(_lazy("lrmf_plugin.models.global_mean", "GlobalMeanPredictor")),
    "lineage_average": MethodSpec(_lazy("lrmf_plugin.models.lineage_average", "LineageAveragePredictor")),
    "parents_copy": MethodSpec(_lazy("lrmf_plugin.models.parents_copy", "ParentsCopyPredictor")),
    "metadata_regression": MethodSpec(_lazy("lrmf_plugin.models.metadata_regression", "MetadataRegressionPredictor")),
    "mf": MethodSpec(_lazy("lrmf_plugin.models.matrix_factorization", "MatrixFactorizationPredictor")),
    "irt": MethodSpec(_lazy("lrmf_plugin.models.irt", "IRTPredictor")),
    "subset_mapping": MethodSpec(_lazy("lrmf_plugin.models.subset_mapping", "SubsetMappingPredictor")),
    "random_sampling": MethodSpec(_lazy("lrmf_plugin.models.random_sampling", "RandomSamplingPredictor")),
    "random_regression": MethodSpec(_lazy("lrmf_plugin.models.random_sampling", "RandomRegressionPredictor")),
    "aipw": MethodSpec(_lazy("lrmf_plugin.models.aipw", "AIPWPredictor")),
    "lrmf": MethodSpec(_lazy("lrmf_plugin.models.lrmf", "LRMFPredictor"), plan_with_planning_module,
                       takes_reveal_sets=True),
}


def resolve_methods(names: Sequence[str] | None) -> dict[str, MethodSpec]:
    """Registry entries for ``names`` (all when None), refusing unknown names in one line."""
    if not names:
        return dict(METHODS)
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise InputError(f"unknown backtest method(s) {', '.join(map(repr, unknown))} (known: {', '.join(METHODS)})")
    return {n: METHODS[n] for n in dict.fromkeys(names)}


# ----------------------------------------------------------------------------------------------
# the protocol
# ----------------------------------------------------------------------------------------------
_PREDICTION_COLUMNS = ("method", "setting", "fold", "model", "benchmark", "predicted", "lower", "upper", "truth",
                       "with_relative", "with_items", "with_parent")


@dataclass
class BacktestResult:
    """Raw outcome: one row per held-out prediction and per (fold, method, setting, benchmark) item score."""

    predictions: pd.DataFrame   # _PREDICTION_COLUMNS: one row per held-out model x benchmark scored
    items: pd.DataFrame         # method, setting, fold, benchmark, n_items, auc, brier
    suites: dict[str, str]      # benchmark -> suite
    settings: list[str]
    methods: list[str]
    notes: list[str] = field(default_factory=list)
    config: dict[str, object] = field(default_factory=dict)


def run_backtest(data: ReferenceData, methods: Mapping[str, MethodSpec], settings: Sequence[str] = DEFAULT_SETTINGS,
                 folds: int = 5, seed: int = 0, max_models: int | None = None,
                 known: Sequence[str] = DEFAULT_KNOWN, item_metric_models: int = 200, planning_rounds: int = 2,
                 progress: bool = True, split: str = "random", share: float = DEFAULT_SHARE,
                 only_with_items: bool = False) -> BacktestResult:
    """Run the protocol; ``item_metric_models`` caps the held-out models per fold scored item by item,
    ``planning_rounds`` is how many rounds a planner gets to spend each budget, ``split`` and ``share``
    choose the held-out models (:mod:`lrmf_plugin.backtest_splits`); ``only_with_items`` holds out only
    models with items on every item benchmark (every setting judged on the same models)."""
    parsed = [parse_setting(s) for s in settings]
    if planning_rounds < 1:
        raise InputError(f"planning rounds must be at least 1, got {planning_rounds}")
    truth = full_scores(data)
    known = [b for b in known if b in truth.columns]
    usable, notes = _usable_settings(parsed, known, data)
    reveals = bool(known) and any(s.kind == "known" for s in usable)
    notes += _reveal_notes(methods, known) if reveals else []
    index, answers_all = data.index, _answers_every_item_benchmark(data)
    fold_list, how = make_folds(data, truth, split, folds, seed, max_models, share,
                                eligible=answers_all if only_with_items else None)
    notes += [how] if split != "random" else []  # the report's intro already describes random folds
    folds = len(fold_list)
    item_benchmarks = sorted(data.items)
    pred_parts: list[pd.DataFrame] = []
    item_rows: list[dict[str, object]] = []
    bar = tqdm(total=folds * len(methods), desc="backtest", unit="fit", disable=not progress)
    for f, fold in enumerate(fold_list):
        held, keep = fold.held, data.has_data()
        keep[[index[m] for m in fold.excluded]] = False
        train = holdout(data, keep)
        flags = _fold_flags(train, held, answers_all)
        resolver = _resolver(train)
        evaluated, shared, scored_items = _fold_evidence(data, held, usable, known, answers_all,
                                                         np.random.default_rng([seed, f]), item_metric_models)
        for name, spec in methods.items():
            bar.set_postfix_str(f"fold {f + 1}/{folds} {name}")
            predictor = _fitted(spec, train, tuple(known) if reveals else ())
            for s in usable:
                models = evaluated[s.name]
                queries = shared[s.name]
                if s.kind == "planned" and spec.planner is not None:
                    queries = _planned_queries(data, models, s.k, predictor, spec.planner, seed, item_benchmarks,
                                               planning_rounds)
                frame = _ids_frame(predictor, resolver, models) if s.kind == "ids" else predictor.predict_frame(queries)
                pred_parts.append(_scored(frame, truth, s, known, name, f, models, flags))
                item_rows += _item_scores(predictor, queries, data, s, name, f, models, scored_items[s.name],
                                          item_benchmarks)
            bar.update(1)
    bar.close()
    predictions = pd.concat(pred_parts, ignore_index=True) if pred_parts else pd.DataFrame(columns=[*_PREDICTION_COLUMNS])
    items = pd.DataFrame(item_rows, columns=["method", "setting", "fold", "benchmark", "n_items", "auc", "brier"])
    return BacktestResult(predictions, items, {b: data.benchmarks[b].suite for b in truth.columns},
                          [s.name for s in usable], list(methods), notes,
                          {"folds": folds, "seed": seed, "models": sum(len(fd.held) for fd in fold_list),
                           "split": split, "known": list(known), "item_metric_models": item_metric_models,
                           "planning_rounds": planning_rounds, "only_with_items": only_with_items,
                           "item_benchmarks": item_benchmarks})


def _reveal_notes(methods: Mapping[str, MethodSpec], known: Sequence[str]) -> list[str]:
    names = [n for n, spec in methods.items() if spec.takes_reveal_sets]
    return [f"{', '.join(names)} fitted with reveal set {', '.join(known)} (the benchmarks setting `known` reveals), "
            f"as `lm-eval-predict fit --reveal {','.join(known)}` would be"] if names else []


def _fitted(spec: MethodSpec, train: ReferenceData, reveal: tuple[str, ...]) -> Predictor:
    """A fresh predictor of ``spec`` fitted on ``train``, told the reveal set when it takes one."""
    predictor = spec.factory()
    if spec.takes_reveal_sets and reveal:
        predictor.reveal_sets = (reveal,)
    return predictor.fit(train)


def _usable_settings(parsed: list[Setting], known: Sequence[str], data: ReferenceData) -> tuple[list[Setting], list[str]]:
    """The settings the reference can support, and a note for each one skipped."""
    usable, notes = [], []
    for s in parsed:
        if s.kind == "known" and not known:
            notes.append("setting `known` skipped: none of the known benchmarks are in the reference")
        elif s.uses_items and not data.items:
            notes.append(f"setting `{s.name}` skipped: the reference has no item observations")
        else:
            usable.append(s)
    return usable, notes


def _fold_evidence(data: ReferenceData, held: list[str], usable: list[Setting], known: Sequence[str],
                   answers_all: np.ndarray, frng: np.random.Generator, item_metric_models: int
                   ) -> tuple[dict[str, list[str]], dict[str, list[ModelQuery]], dict[str, set[int]]]:
    """One fold's evidence, the same for every method: per setting the held-out models it judges,
    their queries, and which of them are scored item by item."""
    index = data.index
    # item settings are judged on the models that can reveal items on every item benchmark
    evaluated = {s.name: [m for m in held if answers_all[index[m]]] if s.uses_items else held for s in usable}
    random_plans = {s.k: [data.random_items(index[m], s.k, frng) for m in evaluated[s.name]]
                    for s in usable if s.uses_items}
    shared = {s.name: _queries(data, evaluated[s.name], s, known, random_plans) for s in usable}
    scored_items = {s.name: set(frng.choice(len(evaluated[s.name]), size=min(item_metric_models, len(evaluated[s.name])),
                                            replace=False).tolist()) for s in usable}
    return evaluated, shared, scored_items


def _fold_flags(train: ReferenceData, held: list[str], answers_all: np.ndarray) -> dict[str, tuple[bool, bool, bool]]:
    """Per held-out model: a scored relative in the fold's fit, items on every item benchmark, a scored direct parent."""
    relatives = LineageAveragePredictor().fit(train)
    scored = set(np.asarray(train.models)[train.has_data()])
    parents = {e.child: set() for e in train.edges}
    for e in train.edges:
        if e.relation != "family" and e.parent in scored:
            parents[e.child].add(e.parent)
    return {m: (bool(relatives.relatives(ModelQuery(m))), bool(answers_all[train.index[m]]), bool(parents.get(m)))
            for m in held}


def _answers_every_item_benchmark(data: ReferenceData) -> np.ndarray:
    """Per model row: has it answered items on every benchmark with items."""
    answers_all = np.ones(len(data.models), dtype=bool)
    for block in data.items.values():
        answers_all &= ~np.isnan(block.values).all(axis=1)
    return answers_all


def _queries(data: ReferenceData, held: list[str], s: Setting, known: Sequence[str],
             random_plans: dict[int, list[dict[str, list[str]]]]) -> list[ModelQuery]:
    """What each held-out model reveals under setting ``s`` (never more); planned = random here."""
    if s.kind in ("zero", "ids"):  # ids: resolved per method by _ids_frame; these only serve item scores
        return [_with_root(data, data.query(m)) for m in held]
    if s.kind == "known":
        return [_with_root(data, data.query(m, benchmarks_known=tuple(known))) for m in held]
    return [_with_root(data, data.query(m, items=p)) for m, p in zip(held, random_plans[s.k])]


def holdout(data: ReferenceData, keep: np.ndarray) -> ReferenceData:
    """The reference without the held-out models' leaderboard rows: no scores or items, no metadata and
    no root-ancestor (``family``) links, which came from those rows; Hub lineage edges and the Hub's
    model list (``hub_*`` fields) stay."""
    from .resolution import HUB_FIELDS

    train = data.subset(keep)
    held = [m for m, k, h in zip(data.models, keep, data.has_data()) if h and not k]
    train.metadata.loc[held, [c for c in train.metadata.columns if c not in HUB_FIELDS]] = np.nan
    gone = set(held)
    train.edges = [e for e in train.edges if not (e.relation == "family" and e.child in gone)]
    return train


def _with_root(data: ReferenceData, q: ModelQuery) -> ModelQuery:
    """A query that brings the leaderboard row's root-ancestor link, as MODELS.csv's metadata_base_model does."""
    q.parents += [(e.parent, e.relation) for e in data.edges if e.child == q.model and e.relation == "family"]
    return q


def _resolver(train: ReferenceData):
    from .lineage import LineageGraph
    from .resolution import ModelResolver

    return ModelResolver(train.metadata, full_scores(train), LineageGraph(train.edges))


def _ids_frame(predictor: Predictor, resolver, held: list[str]) -> pd.DataFrame:
    """Predictions for model ids alone, through the path every face takes."""
    from .prediction import PredictionPath, report_frame
    from .resolution import ModelRequest

    reports = PredictionPath(predictor, resolver).report([ModelRequest(m) for m in held], as_if_new=True)
    return report_frame(reports)[["model", "benchmark", "predicted", "lower", "upper"]]


def _planned_queries(data: ReferenceData, held: list[str], k: int, predictor: Predictor, planner: Planner,
                     seed: int, item_benchmarks: list[str], rounds: int) -> list[ModelQuery]:
    """Each held-out model reveals the items the method's planner chose for it, in ``rounds`` rounds.

    Round ``r`` asks the planner for a total budget of ``ceil(k * r / rounds)`` per benchmark given
    everything revealed so far, as a user running the plan in rounds would.
    """
    out = []
    for m in held:
        revealed: dict[str, list[str]] = {}
        query = _with_root(data, data.query(m))
        for r in range(1, rounds + 1):
            budget = -(-k * r // rounds)
            plan = planner(predictor, query, budget, seed, item_benchmarks)
            for b, ids in plan.items():
                if b in data.items:
                    have = revealed.setdefault(b, [])
                    # the planner may only choose: never more than the budget in total
                    have += [it for it in ids if it not in have][: max(0, budget - len(have))]
            query = _with_root(data, data.query(m, items=revealed))
        out.append(query)
    return out


def _scored(frame: pd.DataFrame, truth: pd.DataFrame, s: Setting, known: Sequence[str], method: str,
            fold: int, held: list[str], flags: dict[str, tuple[bool, bool]]) -> pd.DataFrame:
    """Predictions joined with truth, restricted to benchmarks the setting did not reveal.

    ``flags``: model -> (has a scored relative in the fold's fit, has items on every item benchmark,
    has a scored direct parent).
    """
    long = truth.loc[held].rename_axis("model").reset_index().melt(id_vars="model", var_name="benchmark",
                                                                    value_name="truth")
    out = frame.merge(long, on=["model", "benchmark"], how="inner")
    out = out[out["truth"].notna()]
    if s.kind == "known":
        out = out[~out["benchmark"].isin(list(known))]
    out = out.assign(method=method, setting=s.name, fold=fold,
                     with_relative=out["model"].map(lambda m: flags[m][0]).astype(bool),
                     with_items=out["model"].map(lambda m: flags[m][1]).astype(bool),
                     with_parent=out["model"].map(lambda m: flags[m][2]).astype(bool))
    return out[list(_PREDICTION_COLUMNS)]


def _item_scores(predictor: Predictor, queries: list[ModelQuery], data: ReferenceData, s: Setting, method: str,
                 fold: int, held: list[str], scored: set[int], item_benchmarks: list[str]) -> list[dict[str, object]]:
    """AUC and Brier over the items each scored held-out model did not reveal, per benchmark."""
    rows = []
    index = data.index
    for b in item_benchmarks:
        block = data.items[b]
        ys, ps = [], []
        for i in sorted(scored):
            q = queries[i]
            p = predictor.item_probabilities(q, b)
            if p is None:
                break
            y = block.values[index[held[i]]].astype(float)
            hidden = ~np.isnan(y)
            if b in q.items:
                hidden &= ~np.isin(block.items, list(q.items[b]))
            ys.append(y[hidden])
            ps.append(np.asarray(p, float)[hidden])
        if ys:
            rows.append({"method": method, "setting": s.name, "fold": fold, "benchmark": b,
                         **item_metrics(np.concatenate(ys), np.concatenate(ps))})
    return rows

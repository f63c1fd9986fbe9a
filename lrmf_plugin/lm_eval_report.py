"""Predictions for an lm-eval run: the ``predicted`` block, the predictions file and the printed table.

``lm-eval-predict run`` (from lm-eval's in-memory results) and ``estimate`` (from a stock run's
files) both reduce to a :class:`~lrmf_plugin.importers.lm_eval_output.RunObservations` and call
:func:`predict_run`, so the same observations always give the same predictions.

Scores are on the reference's scale: 0-100, the mean per-instance value x 100 for lm-eval tasks.
lm-eval's own group numbers under ``--samples`` are size-weighted over the *evaluated* documents, so
they are reported as subset values; the predicted full group score weights leaves by full size
(lm-eval's ``weight_by_size``). Interval bounds of combined scores combine the leaf bounds, which is
conservative (exact if the leaf errors move together).

Open LLM Leaderboard leaf tasks that the reference has no per-instance data for, but whose
leaderboard score it has (a reference from the leaderboard CSV or the Hub ``contents``), are bridged:
the evaluated random subsets give the leaderboard's score with a standard error
(:func:`lrmf_plugin.leaderboard.subset_estimate`), which the predictor folds in as a noisy
observation of that score, so the full score is still predicted from them.
"""
from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from . import __version__
from .importers.lm_eval_output import RunObservations
from .leaderboard import (BENCHMARKS, SCORE_BENCHMARK, SubsetEstimate, benchmark_keys, is_leaderboard_task,
                          leaderboard_scores, subset_estimate)
from .schema import ModelQuery, Prediction, flag_reasons

if TYPE_CHECKING:
    from .api import Lrmf


def _mean100(values: Mapping[int, float]) -> float | None:
    return 100.0 * math.fsum(values.values()) / len(values) if values else None


def _round(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def score_estimates(run: RunObservations, reference: Any) -> dict[str, SubsetEstimate]:
    """Leaderboard scores estimated from the run's leaf subsets, for the scores the reference has
    while it has no items for any of their leaves (with items, the leaves are predicted item by item)."""
    known = reference.benchmarks()
    values = {b: docs for obs in run.tasks.values() for b, docs in obs.values.items()}
    sizes = {t: obs.n_full for t, obs in run.tasks.items() if obs.n_full}
    out = {}
    for bench in sorted({SCORE_BENCHMARK[t] for t in run.tasks if t in SCORE_BENCHMARK}):
        info = known.get(bench)
        leaf_keys = [k for ks in benchmark_keys(bench).values() for k in ks]
        if info is None or not info.has_scores or any(k in known and known[k].n_items for k in leaf_keys):
            continue
        estimate = subset_estimate(bench, values, sizes)
        if estimate is not None:
            out[bench] = estimate
    return out


def query_for(run: RunObservations, reference: Any) -> tuple[ModelQuery, list[str]]:
    """The model's query, plus warnings: its observations on benchmarks and items the reference
    knows, and the leaderboard scores estimated from subsets (see :func:`score_estimates`)."""
    known = reference.benchmarks()
    items: dict[str, dict[str, float]] = {}
    warnings = []
    for bench, values in run.items().items():
        info = known.get(bench)
        if info is None or not info.n_items:
            continue
        _, block = reference.item_block(bench)
        ids = set(block.items)
        usable = {k: v for k, v in values.items() if k in ids}
        if len(usable) < len(values):
            warnings.append(f"{bench}: {len(values) - len(usable)} evaluated items are not in the reference "
                            "and only count as observed")
        if usable:
            items[bench] = usable
    estimates = score_estimates(run, reference)
    return ModelQuery(model=run.model, items=items, scores={b: e.value for b, e in estimates.items()},
                      score_sd={b: e.sd for b, e in estimates.items()}), warnings


def random_subsets(run: RunObservations, random: Mapping[str, Sequence[int | str]]) -> dict[str, dict[str, Any]]:
    """Per benchmark of a task with uniformly random items (``random``: task -> doc ids, a plan's
    random share): their mean x100, an unbiased estimate of the full score by design, with its
    standard error (finite-population corrected), and the ids."""
    out: dict[str, dict[str, Any]] = {}
    for task, ids in random.items():
        obs = run.tasks.get(task)
        for bench, values in (obs.values.items() if obs is not None and obs.n_full else ()):
            docs = [int(i) for i in ids if int(i) in values]
            if len(docs) < 2:
                continue
            v = [values[d] for d in docs]
            mean = math.fsum(v) / len(v)
            var = math.fsum((x - mean) ** 2 for x in v) / (len(v) - 1)
            se = 100.0 * math.sqrt(var / len(v) * max(0.0, 1.0 - len(v) / obs.n_full))
            out[bench] = {"n": len(v), "estimate": _round(100.0 * mean), "sd": _round(se), "ids": docs}
    return out


def _leaves(groups: Mapping[str, list[str]], name: str) -> list[str]:
    out: list[str] = []
    for child in groups.get(name, []):
        out += _leaves(groups, child) if child in groups else [child]
    return out


def report(run: RunObservations, predictions: Sequence[Prediction], *, plan: Mapping[str, Any],
           predictor: Mapping[str, Any], warnings: Sequence[str] = (),
           estimates: Mapping[str, SubsetEstimate] | None = None) -> dict[str, Any]:
    """The ``predicted`` block: per task, lm-eval group, benchmark and leaderboard benchmark.

    A bridged leaderboard benchmark (one of ``estimates``) has ``n``/``N`` summed over its leaves and an
    ``estimate`` (``value``, ``sd``, ``tasks``) beside its prediction; its leaf rows stay observed only
    and name it as ``score_benchmark``. Its top-level keys never include ``results``/``configs``, so
    the predictions file is not mistaken for an lm-eval results file.
    """
    preds = {p.benchmark: p for p in predictions if p.model == run.model}
    warnings, notes = list(warnings), []
    random = random_subsets(run, plan.get("random") or {})
    estimates = dict(estimates or {})
    bridged = {t: e.benchmark for e in estimates.values() for t in e.tasks}
    tasks: dict[str, Any] = {}
    benchmarks: dict[str, Any] = {}
    for task, obs in sorted(run.tasks.items()):
        tasks[task] = {"n": obs.n_evaluated, "N": obs.n_full, "version": obs.version, "task_hash": obs.task_hash,
                       "benchmarks": sorted(obs.values)}
        for bench, values in sorted(obs.values.items()):
            p = preds.get(bench)
            benchmarks[bench] = {"task": task, "metric": obs.metrics.get(bench), "n": len(values), "N": obs.n_full,
                                 "observed": _round(_mean100(values)),
                                 "predicted": _round(p.predicted) if p else None,
                                 "lower": _round(p.lower) if p else None, "upper": _round(p.upper) if p else None}
            if p is None and task in bridged:
                benchmarks[bench]["score_benchmark"] = bridged[task]
            elif p is None:
                warnings.append(f"{bench}: the reference has no data for it; reported as observed only "
                                f"({len(values)} of {obs.n_full} items)")
    for bench, p in sorted(preds.items()):
        benchmarks.setdefault(bench, {"task": None, "metric": None, "n": 0, "N": None, "observed": None,
                                      "predicted": _round(p.predicted), "lower": _round(p.lower),
                                      "upper": _round(p.upper)})
    for bench, e in sorted(estimates.items()):
        row = benchmarks.setdefault(bench, {"task": None, "metric": None, "n": 0, "N": None, "observed": None,
                                            "predicted": None, "lower": None, "upper": None})
        row.update(n=e.n, N=e.N, estimate={"value": _round(e.value), "sd": _round(e.sd), "tasks": list(e.tasks)})
        notes.append(f"{bench}: the reference has the leaderboard score but no per-instance data for its "
                     f"{len(e.tasks)} subtask(s); their {e.n} of {e.N} evaluated items estimate it as "
                     f"{e.value:.1f} +- {e.sd:.1f} (standard error), which the prediction of the full score uses")
    flags = _mark(benchmarks, preds, random, warnings)
    groups = _group_rows(run, benchmarks)
    block = {"model": run.model, "predictor": dict(predictor), "lrmf_plugin_version": __version__,
             "lm_eval_version": run.lm_eval_version, "plan": dict(plan), "tasks": tasks,
             "benchmarks": benchmarks, "groups": groups, "warnings": warnings, "notes": notes}
    lb = _leaderboard(benchmarks, tasks)
    if lb:
        block["leaderboard"] = lb
    if flags:
        block["extrapolation"] = flags
    return block


def _mark(benchmarks: dict[str, Any], preds: Mapping[str, Prediction], random: Mapping[str, Any],
          warnings: list[str]) -> list[str]:
    """Add to the benchmark rows why their predictions extrapolate and their random subset's estimate;
    warn once about extrapolation, and return its reasons."""
    for bench, row in benchmarks.items():
        p = preds.get(bench)
        if p is not None and p.flags:
            row["extrapolation"] = list(p.flags)
        if bench in random and row["n"]:
            row["random_subset"] = {k: v for k, v in random[bench].items() if k != "ids"}
    flags = flag_reasons(preds.values())
    if flags:
        warnings.append("the model lies outside the reference's support (" + "; ".join(flags) + "): its intervals "
                        "are widened, and predictions of such models miss more often")
    return flags


def _group_rows(run: RunObservations, benchmarks: Mapping[str, Any]) -> dict[str, Any]:
    """Per lm-eval group whose leaves were all evaluated: the subset score, and the prediction weighted
    by the leaves' full sizes where they share one metric."""
    groups: dict[str, Any] = {}
    for group in sorted(run.groups):
        leaves = _leaves(run.groups, group)
        rows = [benchmarks.get(t) for t in leaves]
        if not leaves or any(r is None or not r["n"] for r in rows):
            continue
        n = sum(r["n"] for r in rows)
        row = {"leaves": leaves, "n": n, "N": None, "observed_subset": _round(sum(r["observed"] * r["n"] for r in rows) / n),
               "predicted": None, "lower": None, "upper": None}
        if all(r["N"] for r in rows):
            row["N"] = N = sum(r["N"] for r in rows)
            if len({r["metric"] for r in rows}) == 1:
                for key in ("predicted", "lower", "upper"):
                    if all(r[key] is not None for r in rows):
                        row[key] = _round(sum(r[key] * r["N"] for r in rows) / N)
        groups[group] = row
    return groups


def _leaderboard(benchmarks: Mapping[str, Any], tasks: Mapping[str, Any]) -> dict[str, Any]:
    """The leaderboard's normalised scores (and average) from predicted leaf scores, when present,
    and the bridged benchmarks' predictions (already on the leaderboard's scale)."""
    rows = {b: r for b, r in benchmarks.items() if r["task"] and is_leaderboard_task(r["task"])}
    if not rows:
        return {}
    sizes = {t: v["N"] for t, v in tasks.items() if v["N"]}
    out: dict[str, Any] = {}
    per_key = {}
    for key in ("predicted", "lower", "upper"):
        leaf = {b: r[key] / 100.0 for b, r in rows.items() if r[key] is not None}
        per_key[key] = leaderboard_scores(leaf, sizes)
    for name, value in per_key["predicted"].items():
        out[name] = {"predicted": _round(value), "lower": _round(per_key["lower"].get(name)),
                     "upper": _round(per_key["upper"].get(name))}
    for name in BENCHMARKS:
        r = benchmarks.get(name)
        if name not in out and r and r.get("estimate") and r["predicted"] is not None:
            out[name] = {k: r[k] for k in ("predicted", "lower", "upper")}
    if "average" not in out and all(b in out for b in BENCHMARKS):
        out["average"] = {k: _round(sum(out[b][k] for b in BENCHMARKS) / len(BENCHMARKS))
                          for k in ("predicted", "lower", "upper")}
    return {name: out[name] for name in (*BENCHMARKS, "average") if name in out}


def predict_run(lrmf: "Lrmf", run: RunObservations, *, plan: Mapping[str, Any]) -> dict[str, Any]:
    """Fold the run's observations into the reference's predictor and build the report block."""
    found, warnings = query_for(run, lrmf.reference)
    query = lrmf.query(found.model, items=found.items, scores=found.scores)  # plus the metadata it holds
    query.score_sd = dict(found.score_sd)
    query.random_items = {b: [str(d) for d in r["ids"]] for b, r in random_subsets(run, plan.get("random") or {}).items()
                          if b in query.items}
    predictions = lrmf.predict([query])
    predictor = lrmf.predictor
    info = {"name": getattr(predictor, "name", type(predictor).__name__), "reference": str(lrmf.reference.path),
            "reference_fingerprint": lrmf.reference.fingerprint()}
    return report(run, predictions, plan=plan, predictor=info, warnings=warnings,
                  estimates=score_estimates(run, lrmf.reference))


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def format_table(block: Mapping[str, Any]) -> str:
    """task | evaluated n/N | observed | predicted full [90% interval], then groups and leaderboard."""
    lines = [("task", "evaluated n/N", "observed", "predicted full [90% interval]")]

    def interval(r: Mapping[str, Any]) -> str:
        if r["predicted"] is None and r.get("score_benchmark"):
            return f"observed only (in the {r['score_benchmark']} estimate)"
        if r["predicted"] is None:
            return "observed only (no reference data)"
        flagged = " (extrapolated)" if r.get("extrapolation") else ""
        return f"{_fmt(r['predicted'])} [{_fmt(r['lower'])}, {_fmt(r['upper'])}]{flagged}"

    for bench, r in block["benchmarks"].items():
        if r["n"]:
            est, rnd = r.get("estimate"), r.get("random_subset")
            observed = f"{_fmt(est['value'])} +- {_fmt(est['sd'])} (subset est.)" if est else _fmt(r["observed"])
            if rnd:
                observed += f"; random {rnd['n']}: {_fmt(rnd['estimate'])} +- {_fmt(rnd['sd'])}"
            lines.append((bench, f"{r['n']}/{r['N'] if r['N'] else '?'}", observed, interval(r)))
    for group, r in block["groups"].items():
        pred = interval(r) if r["predicted"] is not None else "-"
        lines.append((f"{group} (group)", f"{r['n']}/{r['N'] or '?'}", f"{_fmt(r['observed_subset'])} (subset)", pred))
    for name, r in block.get("leaderboard", {}).items():
        lines.append((f"leaderboard {name} (normalised)", "", "", interval(r)))
    widths = [max(len(row[i]) for row in lines) for i in range(4)]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def print_warnings(block: Mapping[str, Any]) -> None:
    """The block's warnings and notes, on stderr."""
    for w in block["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    for note in block.get("notes", ()):
        print(f"note: {note}", file=sys.stderr)


def dumps(block: Mapping[str, Any]) -> str:
    return json.dumps(block, indent=2, ensure_ascii=False, default=str)

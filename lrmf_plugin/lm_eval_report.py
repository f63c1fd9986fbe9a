"""Predictions for an lm-eval run: the ``predicted`` block, the predictions file and the printed table.

``lm-eval-predict run`` (from lm-eval's in-memory results) and ``estimate`` (from a stock run's
files) both reduce to a :class:`~lrmf_plugin.importers.lm_eval_output.RunObservations` and call
:func:`predict_run`, so the same observations always give the same predictions.

Scores are on the reference's scale: 0-100, the mean per-instance value x 100 for lm-eval tasks.
lm-eval's own group numbers under ``--samples`` are size-weighted over the *evaluated* documents, so
they are reported as subset values; the predicted full group score weights leaves by full size
(lm-eval's ``weight_by_size``). Interval bounds of combined scores combine the leaf bounds, which is
conservative (exact if the leaf errors move together).
"""
from __future__ import annotations

import json
import math
import sys
from typing import Any, Mapping, Sequence

from . import __version__
from .importers.lm_eval_output import RunObservations
from .leaderboard import is_leaderboard_task, leaderboard_scores
from .schema import ModelQuery, Prediction


def _mean100(values: Mapping[int, float]) -> float | None:
    return 100.0 * math.fsum(values.values()) / len(values) if values else None


def _round(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def query_for(run: RunObservations, reference: Any) -> tuple[ModelQuery, list[str]]:
    """The model's query: its observations on benchmarks and items the reference knows, plus warnings."""
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
            warnings.append(f"{bench}: {len(values) - len(usable)} evaluated documents are not in the reference "
                            "and only count as observed")
        if usable:
            items[bench] = usable
    return ModelQuery(model=run.model, items=items), warnings


def _leaves(groups: Mapping[str, list[str]], name: str) -> list[str]:
    out: list[str] = []
    for child in groups.get(name, []):
        out += _leaves(groups, child) if child in groups else [child]
    return out


def report(run: RunObservations, predictions: Sequence[Prediction], *, plan: Mapping[str, Any],
           predictor: Mapping[str, Any], warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The ``predicted`` block: per task, lm-eval group, benchmark and leaderboard benchmark.

    Its top-level keys never include ``results``/``configs``, so the predictions file is not mistaken
    for an lm-eval results file.
    """
    preds = {p.benchmark: p for p in predictions if p.model == run.model}
    warnings = list(warnings)
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
            if p is None:
                warnings.append(f"{bench}: the reference has no data for it; reported as observed only "
                                f"({len(values)} of {obs.n_full} documents)")
    for bench, p in sorted(preds.items()):
        benchmarks.setdefault(bench, {"task": None, "metric": None, "n": 0, "N": None, "observed": None,
                                      "predicted": _round(p.predicted), "lower": _round(p.lower),
                                      "upper": _round(p.upper)})
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
    block = {"model": run.model, "predictor": dict(predictor), "lrmf_plugin_version": __version__,
             "lm_eval_version": run.lm_eval_version, "plan": dict(plan), "tasks": tasks,
             "benchmarks": benchmarks, "groups": groups, "warnings": warnings}
    lb = _leaderboard(benchmarks, tasks)
    if lb:
        block["leaderboard"] = lb
    return block


def _leaderboard(benchmarks: Mapping[str, Any], tasks: Mapping[str, Any]) -> dict[str, Any]:
    """The leaderboard's normalised scores (and average) from predicted leaf scores, when present."""
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
    return out


def predict_run(lrmf: Any, run: RunObservations, *, plan: Mapping[str, Any]) -> dict[str, Any]:
    """Fold the run's observations into the reference's predictor and build the report block."""
    query, warnings = query_for(run, lrmf.reference)
    predictions = lrmf.predict([query])
    predictor = lrmf.predictor
    info = {"name": getattr(predictor, "name", type(predictor).__name__), "reference": str(lrmf.reference.path),
            "reference_fingerprint": lrmf.reference.fingerprint()}
    return report(run, predictions, plan=plan, predictor=info, warnings=warnings)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def format_table(block: Mapping[str, Any]) -> str:
    """task | evaluated n/N | observed | predicted full [90% interval], then groups and leaderboard."""
    lines = [("task", "evaluated n/N", "observed", "predicted full [90% interval]")]

    def interval(r: Mapping[str, Any]) -> str:
        if r["predicted"] is None:
            return "observed only (no reference data)"
        return f"{_fmt(r['predicted'])} [{_fmt(r['lower'])}, {_fmt(r['upper'])}]"

    for bench, r in block["benchmarks"].items():
        if r["n"]:
            lines.append((bench, f"{r['n']}/{r['N'] if r['N'] else '?'}", _fmt(r["observed"]), interval(r)))
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
    for w in block["warnings"]:
        print(f"warning: {w}", file=sys.stderr)


def dumps(block: Mapping[str, Any]) -> str:
    return json.dumps(block, indent=2, ensure_ascii=False, default=str)

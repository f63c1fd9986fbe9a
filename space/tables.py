"""Tables and summaries the Space shows: predictions, suite averages, leaderboard, track record.

Pure pandas over the library's records (:class:`~lrmf_plugin.schema.Prediction`, the prediction
log's :meth:`~lrmf_plugin.track_record.PredictionLog.table`), so they are tested without a server.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lrmf_plugin.eval_results import SUITE as EVAL_RESULTS_SUITE
from lrmf_plugin.leaderboard import DISPLAY_NAMES, display_name
from lrmf_plugin.schema import BenchmarkInfo, Prediction
from lrmf_plugin.track_record import NOT_RECORDED

#: Sort orders offered on the leaderboard tab.
LEADERBOARD_SORTS = ("predicted", "measured", "newest", "model")


def clip_score(x: float) -> float:
    """Scores live on 0-100: an interval reaching past an end covers the same outcomes clipped
    there (the bot's posts show them the same way)."""
    return x if x != x else min(max(float(x), 0.0), 100.0)


def leaderboard_order(name: str) -> tuple[int, str]:
    """Sort key: the leaderboards' column order (IFEval, BBH, MATH Lvl 5, ...), other names after it."""
    order = list(DISPLAY_NAMES)
    return (order.index(name) if name in order else len(order), name)


def suites_of(benchmarks: Mapping[str, BenchmarkInfo]) -> dict[str, list[str]]:
    """Suite name -> its benchmarks in the leaderboard's order; benchmarks without a suite form the suite ``""``.
    Benchmarks known only from evaluation results form none: each is on its own scale, so no average."""
    out: dict[str, list[str]] = {}
    for name in sorted(benchmarks, key=leaderboard_order):
        if benchmarks[name].suite != EVAL_RESULTS_SUITE:
            out.setdefault(benchmarks[name].suite, []).append(name)
    return out


def suite_label(suite: str) -> str:
    """The leaderboard's "Average" for the v2 suite (or a suite without a name); other suites say which."""
    return "Average" if suite in ("v2", "") else f"{suite} Average"


def suite_explainer(suites: Mapping[str, Sequence[str]]) -> str:
    """One sentence per suite saying what its average is the mean of."""
    return " ".join(f"{suite_label(s)} = mean of {', '.join(display_name(b) for b in names)}."
                    for s, names in suites.items() if len(names) > 1)


def benchmark_code(name: str) -> str:
    """The reference's benchmark name for a display name (a code name passes through)."""
    return {v: k for k, v in DISPLAY_NAMES.items()}.get(name, name)


def styled(frame: pd.DataFrame) -> Any:
    """Every number in a shown table with one decimal (a score of 7 reads "7.0", like 34.7 beside it);
    the values stay numbers, so the table still sorts by them."""
    return frame.style.format(precision=1, na_rep="–")


def prediction_frame(predictions: Sequence[Prediction], benchmarks: Mapping[str, BenchmarkInfo],
                     measured: Mapping[str, float] | None = None,
                     evaluated: Mapping[str, int] | None = None) -> pd.DataFrame:
    """One row per benchmark of one model, ordered by suite, then as the leaderboard orders them.

    Columns: benchmark, suite, predicted, lower, upper, source ("given" when the visitor supplied
    the score, else "predicted"), measured (the reference's score, NaN when unknown) and evaluated
    (instances of the benchmark the visitor's run evaluated, 0 when none).
    """
    measured = measured or {}
    evaluated = evaluated or {}
    rows = [{"benchmark": p.benchmark, "suite": benchmarks[p.benchmark].suite if p.benchmark in benchmarks else "",
             "predicted": clip_score(p.predicted), "lower": clip_score(p.lower), "upper": clip_score(p.upper),
             "source": "given" if p.observed else "predicted",
             "measured": float(measured.get(p.benchmark, math.nan)),
             "evaluated": int(evaluated.get(p.benchmark, 0))} for p in predictions]
    frame = pd.DataFrame(rows, columns=["benchmark", "suite", "predicted", "lower", "upper", "source", "measured",
                                        "evaluated"])
    frame["order"] = [leaderboard_order(b)[0] for b in frame["benchmark"]]
    frame = frame.sort_values(["suite", "order", "benchmark"], kind="stable")
    return frame.drop(columns="order").reset_index(drop=True)


def suite_averages(frame: pd.DataFrame, suites: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """Average predicted score per suite whose every benchmark is in ``frame``.

    The interval of the average is the average of the bounds: exact when the benchmark errors move
    together, wider than needed when they do not, so it never overstates confidence.
    """
    out: dict[str, dict[str, float]] = {}
    by_name = frame.set_index("benchmark")
    for suite, names in suites.items():
        if not names or not set(names) <= set(by_name.index):
            continue
        part = by_name.loc[list(names)]
        entry = {"predicted": float(part["predicted"].mean()), "lower": float(part["lower"].mean()),
                 "upper": float(part["upper"].mean())}
        if part["measured"].notna().all():
            entry["measured"] = float(part["measured"].mean())
        out[suite] = entry
    return out


def prediction_json(model: str, frame: pd.DataFrame, averages: Mapping[str, Mapping[str, float]],
                    parents: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The API answer for one model: every benchmark with its predicted score and 90% interval."""
    def entry(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {"predicted": _r(row["predicted"]), "lower": _r(row["lower"]), "upper": _r(row["upper"])}
        if row.get("measured") is not None and row["measured"] == row["measured"]:
            out["measured"] = _r(row["measured"])
        if row.get("source") == "given":
            out["given"] = True
        return out
    return {"model": model,
            "predictions": {r["benchmark"]: entry(r) for r in frame.to_dict("records")},
            "averages": {suite_label(s): {k: _r(v) for k, v in a.items()} for s, a in averages.items()},
            "parents": [{"parent": p, "relation": r} for p, r in parents],
            "interval": "90%"}


def display_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """The prediction table as visitors read it: rounded, interval as text, measured when known.

    Columns that say nothing for this prediction (nothing measured, no score given, no instance
    evaluated) are left out, so the table fits beside its chart on a laptop.
    """
    out = pd.DataFrame({
        "Benchmark": frame["benchmark"].map(display_name),
        "Predicted": frame["predicted"].round(1),
        "90% interval": [_interval(lo, hi) for lo, hi in zip(frame["lower"], frame["upper"])],
        "Measured": frame["measured"].round(1),
    })
    if frame["measured"].isna().all():
        out = out.drop(columns="Measured")
    if (frame["evaluated"] > 0).any():
        out["Evaluated"] = [str(n) if n else "" for n in frame["evaluated"]]
    if (frame["source"] == "given").any():
        out["Source"] = frame["source"]
    return out


def _interval(lo: float, hi: float) -> str:
    return "" if lo != lo or hi != hi else f"{lo:.1f} – {hi:.1f}"


def _r(x: float) -> float | None:
    return None if x is None or x != x else round(float(x), 2)


def leaderboard_frame(table: pd.DataFrame, suites: Mapping[str, Sequence[str]], column: str,
                      search: str = "", measured_only: bool = False, sort: str = "predicted") -> pd.DataFrame:
    """One row per predicted model from the prediction log's long table.

    ``column`` is a benchmark (its code or display name) or a :func:`suite_label` (average over that
    suite's benchmarks, shown only when the model has them all). ``search`` matches model or parent
    ids (case-insensitive).
    """
    if sort not in LEADERBOARD_SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    averages = {suite_label(s): list(b) for s, b in suites.items()}
    wanted = averages.get(column, [benchmark_code(column)])
    rows = []
    for model, part in table.groupby("model", sort=False):
        part = part.set_index("benchmark")
        if not set(wanted) <= set(part.index):
            continue
        sel = part.loc[wanted, ["predicted", "lower", "upper", "measured"]].map(clip_score)
        measured = float(sel["measured"].mean()) if sel["measured"].notna().all() else math.nan
        url = part["discussion_url"].dropna()
        rows.append({
            "Model": model, "Parents": part["parents"].iloc[0],
            "Predicted": round(float(sel["predicted"].mean()), 1),
            "90% interval": _interval(float(sel["lower"].mean()), float(sel["upper"].mean())),
            "Measured": round(measured, 1) if measured == measured else math.nan,
            "Error": round(float(sel["predicted"].mean()) - measured, 1) if measured == measured else math.nan,
            "Predicted at": str(part["created_at"].iloc[0])[:16].replace("T", " "),
            "Post": f"[open]({url.iloc[0]})" if len(url) and url.iloc[0] else "",
        })
    cols = ["Model", "Parents", "Predicted", "90% interval", "Measured", "Error", "Predicted at", "Post"]
    out = pd.DataFrame(rows, columns=cols)
    if search.strip():
        needle = search.strip().lower()
        out = out[out["Model"].str.lower().str.contains(needle, regex=False)
                  | out["Parents"].fillna("").str.lower().str.contains(needle, regex=False)]
    if measured_only:
        out = out[out["Measured"].notna()]
    by = {"predicted": ("Predicted", False), "measured": ("Measured", False),
          "newest": ("Predicted at", False), "model": ("Model", True)}[sort]
    return out.sort_values(by[0], ascending=by[1], na_position="last", kind="stable").reset_index(drop=True)


def track_record(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the prediction log whose score was measured later, with error and interval hit."""
    done = table.dropna(subset=["measured", "predicted"]).copy()
    done["error"] = done["predicted"] - done["measured"]
    inside = (done["lower"] <= done["measured"]) & (done["measured"] <= done["upper"])
    # a prediction made without an interval (too few models to calibrate one) counts for error only
    done["covered"] = inside.astype(float).where(done["lower"].notna() & done["upper"].notna())
    return done.reset_index(drop=True)


#: the track record's columns after the one naming each row's group
TRACK_STATS = ["Predictions", "MAE (points)", "In 90% interval"]


def _track_row(part: pd.DataFrame, column: str, name: str) -> dict[str, Any]:
    """One row of a track-record table: the group ``name`` (under ``column``), its count, MAE and share
    inside the interval ("no interval" when none of its predictions had one)."""
    share = part["covered"].mean()
    return {column: name, "Predictions": int(len(part)), "MAE (points)": round(float(part["error"].abs().mean()), 1),
            "In 90% interval": "no interval" if share != share else f"{100 * float(share):.0f}%"}


def track_summary(done: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark and overall: count, mean absolute error, share inside the 90% interval."""
    rows = [_track_row(part, "Benchmark", display_name(str(b))) for b, part in done.groupby("benchmark", sort=True)]
    if len(done):
        rows.append(_track_row(done, "Benchmark", "all"))
    return pd.DataFrame(rows, columns=["Benchmark", *TRACK_STATS])


def track_by_evidence(done: pd.DataFrame) -> pd.DataFrame:
    """Per evidence level the prediction stood on (the bot logs it): count, MAE, share inside the interval."""
    evidence = done["evidence"] if "evidence" in done.columns else pd.Series(NOT_RECORDED, index=done.index)
    groups = done.groupby(evidence.fillna(NOT_RECORDED), sort=True)
    rows = [_track_row(part, "Evidence", str(level)) for level, part in groups]
    return pd.DataFrame(rows, columns=["Evidence", *TRACK_STATS])


def parse_candidates(text: str, known: set[str] | None = None) -> list[list[str]]:
    """Candidate parent sets, one per line, parents joined by ``+`` (or commas).

    Raises ValueError naming the line when it is empty of parents, repeats a parent, or names a
    model outside ``known``.
    """
    candidates = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parents = [p.strip() for p in line.replace(",", "+").split("+") if p.strip()]
        if len(set(parents)) != len(parents):
            raise ValueError(f"line {i}: a parent is listed twice")
        if known is not None:
            missing = [p for p in parents if p not in known]
            if missing:
                raise ValueError(f"line {i}: unknown model {missing[0]!r} (not in the reference)")
        candidates.append(parents)
    if not candidates:
        raise ValueError("no candidates: write one per line, parents joined by '+'")
    return candidates


def ranking_frame(candidates: Sequence[Sequence[str]], frames: Sequence[pd.DataFrame],
                  benchmarks: Sequence[str]) -> pd.DataFrame:
    """Candidate merges with their predicted average over ``benchmarks``, best first.

    ``tied`` marks candidates whose 90% interval overlaps the leader's: the data cannot tell them
    from the leader, so their order among themselves is noise.
    """
    rows = []
    for parents, frame in zip(candidates, frames):
        part = frame.set_index("benchmark").loc[list(benchmarks)]
        row = {"candidate": " + ".join(parents), "average": float(part["predicted"].mean()),
               "lower": float(part["lower"].mean()), "upper": float(part["upper"].mean())}
        row.update({b: float(part.loc[b, "predicted"]) for b in benchmarks})
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out.sort_values("average", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(2, "tied", (out["upper"] >= out.loc[0, "lower"]) & (out["rank"] > 1))
    return out.round(1)


def ranking_summary(frame: pd.DataFrame) -> str:
    """One sentence on how much of a ranking is signal: how many candidates tie with the leader."""
    tied = int(frame["tied"].sum())
    if not tied:
        return (f"The leader's 90% interval clears every other candidate's: the ranking of the top one is "
                f"meaningful ({len(frame)} candidates).")
    return (f"{tied} of {len(frame) - 1} other candidates are indistinguishable from the leader (their 90% "
            "intervals overlap it), so their order among themselves is noise: treat them as ties.")


def display_ranking(frame: pd.DataFrame) -> pd.DataFrame:
    """The merge ranking as visitors read it: ties with the leader ranked "=1", the average's interval
    as text, then each benchmark by its leaderboard name."""
    benchmarks = [c for c in frame.columns if c not in ("rank", "candidate", "tied", "average", "lower", "upper")]
    out = pd.DataFrame({
        "Rank": ["=1" if t else str(r) for r, t in zip(frame["rank"], frame["tied"])],
        "Candidate": frame["candidate"],
        "vs. #1": ["leader" if r == 1 else "tie" if t else "below" for r, t in zip(frame["rank"], frame["tied"])],
        "Average": frame["average"],
        "90% interval": [_interval(lo, hi) for lo, hi in zip(frame["lower"], frame["upper"])],
    })
    for b in benchmarks:
        out[display_name(b)] = frame[b]
    return out


#: Columns of the backtest's ``results.csv`` the Track record tab reads.
BACKTEST_COLUMNS = ("method", "setting", "subset", "benchmark", "mae", "coverage")

#: The backtest's method this Space runs.
OURS = "lrmf"

#: Plain names of the backtest's methods, and what each predicts from (the legend's words).
METHODS: dict[str, tuple[str, str]] = {
    OURS: ("★ LRMF (this Space)", "lineage, metadata and any evaluated items together"),
    "global_mean": ("Global mean", "each benchmark's mean over the reference"),
    "lineage_average": ("Parents' average", "the mean of the model's parents"),
    "metadata_regression": ("Metadata regression", "size, architecture and other metadata"),
    "mf": ("Matrix factorisation", "the model's known scores"),
    "irt": ("Item response theory", "the model's evaluated items"),
    "subset_mapping": ("Subset mapping", "the model's evaluated items"),
}

#: What each backtest setting gives the predictor about a held-out model, in one sentence.
SETTINGS_EXPLAINED = ("Settings: *zero* = nothing evaluated (lineage and metadata only); *known* = some benchmarks' "
                      "scores given (IFEval and MuSR by default), the rest predicted; *random-K* / *planned-K* = K "
                      "items per benchmark evaluated, picked at random / by the planner.")


def method_label(method: str) -> str:
    return METHODS.get(method, (method, ""))[0]


def label_methods(results: pd.DataFrame) -> pd.DataFrame:
    """The backtest results with plain method names, so every chart and table shows the same ones."""
    return results.assign(method=results["method"].map(method_label))


def backtest_legend(results: pd.DataFrame) -> str:
    """The methods compared, each with what it predicts from; and which of them equal the global mean
    in every setting (they have no evidence of their kind there, so they fall back to it)."""
    methods = list(dict.fromkeys(m for m in [OURS, *METHODS] if m in set(results["method"])))
    methods += sorted(set(results["method"]) - set(methods))
    legend = "; ".join(f"**{method_label(m)}**" + (f": {METHODS[m][1]}" if m in METHODS else "") for m in methods)
    mean = results[(results["benchmark"] == "mean") & (results["subset"] == "all")]
    table = mean.pivot_table(index="setting", columns="method", values="mae", aggfunc="first")
    same = [] if "global_mean" not in table else [
        m for m in table.columns if m != "global_mean"
        and np.allclose(table[m].dropna(), table.loc[table[m].notna(), "global_mean"], atol=0.005)]
    note = (f" {', '.join(method_label(m) for m in same)} equal the global mean here: these settings give them "
            "nothing of the kind they learn from, so they fall back to it." if same else "")
    return f"Methods: {legend}.{note}"


def backtest_curves(results: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error against items per benchmark, one series per method x selection.

    Uses the report's ``mean`` rows (average over benchmarks), as ``report.md`` does; the zero-
    evaluation setting is each series' point at 0 items.
    """
    from lrmf_plugin.backtest import parse_setting

    mean = results[(results["benchmark"] == "mean") & (results["subset"] == "all")]
    rows = []
    for r in mean.itertuples(index=False):
        s = parse_setting(r.setting)
        kinds = ("random", "planned") if s.kind == "zero" else (s.kind,) if s.kind in ("random", "planned") else ()
        rows += [{"series": f"{r.method} ({kind})", "items per benchmark": s.k, "mae": float(r.mae)} for kind in kinds]
    out = pd.DataFrame(rows, columns=["series", "items per benchmark", "mae"])
    # a series of only its zero point is not a curve (a method without item settings)
    sizes = out.groupby("series")["items per benchmark"].transform("nunique")
    return out[sizes > 1].reset_index(drop=True)


def backtest_means(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` per method x setting from the ``mean`` rows (average over benchmarks), where known."""
    mean = results[(results["benchmark"] == "mean") & (results["subset"] == "all")]
    return mean.dropna(subset=[metric])[["method", "setting", metric]].reset_index(drop=True)


def backtest_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Setting x method table of MAE (points, mean over benchmarks), in the report's setting order."""
    mean = results[(results["benchmark"] == "mean") & (results["subset"] == "all")]
    order = list(dict.fromkeys(mean["setting"]))
    table = mean.pivot_table(index="setting", columns="method", values="mae", aggfunc="first").reindex(order)
    table.columns.name = None
    return table.round(1).reset_index().rename(columns={"setting": "Setting (MAE, points)"})

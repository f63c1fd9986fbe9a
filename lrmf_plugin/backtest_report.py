"""Turn a :class:`~lrmf_plugin.backtest.BacktestResult` into ``results.csv``, ``report.md`` and PNG plots.

Every number in the markdown comes from ``results.csv`` (one row per method x setting x benchmark x
subset, plus a ``mean`` row averaging the benchmarks), so the report can be checked against the CSV.
The issue's targets are evaluated for every method on the suite they are stated for.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .backtest import BacktestResult, parse_setting
from .backtest_metrics import score_metrics

METRICS = ("n", "mae", "bias", "rmse", "pearson", "spearman", "coverage", "width")
#: the row averaging the benchmarks the reference has no items for (item evidence reaches them only
#: through what it says about the others), beside ``mean`` when a reference has items on some benchmarks
WITHOUT_ITEMS = "mean without items"
MEAN_ROWS = ("mean", WITHOUT_ITEMS)
HIGHLIGHT = "lrmf"
SUBSET_TITLES = {"all": "", "with_relative": " — models with at least one relative",
                 "with_parent": " — models with a scored direct parent (Hub lineage edge)",
                 "with_items": " — models with items on every item benchmark (as judged in the item settings)"}


@dataclass(frozen=True)
class Target:
    """A pass/fail goal on the mean over a suite's benchmarks of one metric in one setting."""

    label: str
    suite: str
    setting: str       # a setting name, or "*" for every setting
    metric: str
    low: float = -math.inf
    high: float = math.inf
    subset: str = "all"

    def passes(self, value: float) -> bool:
        return not math.isnan(value) and self.low <= value <= self.high

    def goal(self) -> str:
        if math.isinf(self.low):
            return f"<= {self.high:g}"
        if math.isinf(self.high):
            return f">= {self.low:g}"
        return f"{self.low:g}-{self.high:g}"


#: The issue's targets (models the predictor never saw; real data).
TARGETS: tuple[Target, ...] = (
    Target("v2, zero evaluations: MAE (mean of benchmarks)", "v2", "zero", "mae", high=3.5),
    Target("v2, zero evaluations: Pearson (mean of benchmarks)", "v2", "zero", "pearson", low=0.90),
    Target("v2, IFEval + MuSR known: MAE on the other four", "v2", "known", "mae", high=2.0),
    Target("v1, 25 planned questions per benchmark: MAE", "v1", "planned-25", "mae", high=2.0),
    Target("v1, 10 random questions per benchmark: MAE", "v1", "random-10", "mae", high=3.0),
    Target("v2, ids and parents, models with a scored parent: MAE", "v2", "ids-and-parents", "mae", high=5.0,
           subset="with_parent"),
    Target("v2, ids and parents, models with a scored parent: coverage", "v2", "ids-and-parents", "coverage",
           low=0.85, high=0.95, subset="with_parent"),
    Target("90% interval coverage, every setting", "", "*", "coverage", low=0.85, high=0.95),
)


def summarise(result: BacktestResult) -> pd.DataFrame:
    """Metrics per method x setting x benchmark x subset.

    Subsets: ``all``; for ``zero`` also ``with_relative`` (models with a scored relative) and, when
    item settings ran, ``with_items`` (the models those settings are judged on, so the budget curve's
    zero point compares like with like); for ``zero`` and ``ids-and-parents``, ``with_parent``
    (models with a scored direct parent, where the user's path has the most to inherit).
    """
    rows = []
    p = result.predictions
    item_settings = any(parse_setting(s).uses_items for s in result.settings)
    for (method, setting), grp in p.groupby(["method", "setting"], sort=False):
        subsets = [("all", grp)]
        if setting == "zero":
            subsets.append(("with_relative", grp[grp["with_relative"]]))
            if item_settings:
                subsets.append(("with_items", grp[grp["with_items"]]))
        if setting in ("zero", "ids-and-parents") and "with_parent" in grp:
            subsets.append(("with_parent", grp[grp["with_parent"]]))
        for subset, frame in subsets:
            per = []
            for bench, g in frame.groupby("benchmark", sort=True):
                m = score_metrics(g["truth"].to_numpy(), g["predicted"].to_numpy(), g["lower"].to_numpy(), g["upper"].to_numpy())
                per.append(m)
                rows.append({"method": method, "setting": setting, "subset": subset, "benchmark": bench,
                             "suite": result.suites.get(bench, ""), **m})
            benches, with_items = sorted(frame["benchmark"].unique()), result.config.get("item_benchmarks", ())
            bare = [m for b, m in zip(benches, per) if b not in with_items] if with_items else []
            for name, part in (("mean", per), (WITHOUT_ITEMS, bare)):
                if part:
                    rows.append({"method": method, "setting": setting, "subset": subset, "benchmark": name,
                                 "suite": "", **_mean_metrics(part)})
    out = pd.DataFrame(rows, columns=["method", "setting", "subset", "benchmark", "suite", *METRICS])
    items = _item_summary(result)
    return out.merge(items, on=["method", "setting", "benchmark"], how="left") if len(items) else \
        out.assign(n_items=np.nan, auc=np.nan, brier=np.nan)


def _mean_metrics(per: list[dict[str, float]]) -> dict[str, float]:
    """Metrics averaged over benchmarks (``n`` summed)."""
    mean = {k: float(np.nanmean([m[k] for m in per])) if any(not math.isnan(m[k]) for m in per) else math.nan
            for k in METRICS if k != "n"}
    return {"n": int(sum(m["n"] for m in per)), **mean}


def _item_summary(result: BacktestResult) -> pd.DataFrame:
    """Instance-level AUC/Brier per method x setting x benchmark (folds pooled by item count), plus means."""
    if result.items.empty:
        return pd.DataFrame(columns=["method", "setting", "benchmark", "n_items", "auc", "brier"])
    rows = []
    for (method, setting, bench), g in result.items.groupby(["method", "setting", "benchmark"], sort=True):
        w = g["n_items"].to_numpy(float)
        rows.append({"method": method, "setting": setting, "benchmark": bench, "n_items": int(w.sum()),
                     "auc": _wmean(g["auc"].to_numpy(float), w), "brier": _wmean(g["brier"].to_numpy(float), w)})
    frame = pd.DataFrame(rows)
    means = frame.groupby(["method", "setting"], sort=False).agg(
        n_items=("n_items", "sum"), auc=("auc", "mean"), brier=("brier", "mean")).reset_index().assign(benchmark="mean")
    return pd.concat([frame, means], ignore_index=True)


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    ok = ~np.isnan(x) & (w > 0)
    return float(np.average(x[ok], weights=w[ok])) if ok.any() else math.nan


def target_value(table: pd.DataFrame, target: Target, method: str, settings: list[str]) -> tuple[float, str]:
    """The metric a target is judged on for ``method`` (mean over the suite's benchmarks), and where."""
    subset = "all" if target.setting == "*" else target.subset
    rows = table[(table["method"] == method) & (table["subset"] == subset) & ~table["benchmark"].isin(MEAN_ROWS)]
    if target.suite:
        rows = rows[rows["suite"] == target.suite]
    if target.setting == "*":
        per = [rows[rows["setting"] == s][target.metric].mean() for s in settings if (rows["setting"] == s).any()]
        per = [v for v in per if not math.isnan(v)]
        if not per:
            return math.nan, ""
        # "everywhere": report the setting farthest from the band
        worst = max(per, key=lambda v: max(target.low - v, v - target.high))
        return float(worst), "worst setting"
    rows = rows[rows["setting"] == target.setting]
    return (float(rows[target.metric].mean()) if len(rows) else math.nan), target.setting


def _fmt(v: float, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(map(str, r)) + " |" for r in frame.itertuples(index=False)]
    return "\n".join([header, sep, *body])


def _intro(result: BacktestResult, title: str) -> list[str]:
    """The title and the paragraph saying what was held out and what each setting reveals."""
    cfg = result.config
    return [f"# {title}", "",
            f"Held-out models: {cfg.get('models')} in {cfg.get('folds')} folds (seed {cfg.get('seed')}); "
            "each fold's models are removed from the fit and stay in the lineage graph without data. "
            "Setting `zero` gives a held-out model's leaderboard metadata and root-ancestor link; "
            "`ids-and-parents` gives only its id, resolved as the CLI resolves one (Hub lineage edges, "
            "the Hub's model list, metadata inherited from parents; no leaderboard row); "
            f"setting `known` reveals {', '.join(cfg.get('known') or []) or 'nothing'}; "
            "`random-K`/`planned-K` reveal K items per benchmark with items and are judged on the held-out "
            "models that have items on every such benchmark (column `models`); a planner spends each budget "
            f"in {cfg.get('planning_rounds')} round(s), seeing the earlier answers. "
            "Means are over benchmarks (each benchmark weighs the same). The summary's `zero` row covers all "
            "held-out models; the per-setting tables below also give it on the item settings' models. "
            f"Instance-level metrics use up to {cfg.get('item_metric_models')} held-out models per fold.", ""]


def _without_items_section(table: pd.DataFrame, methods: list[str], settings: list[str],
                           item_benchmarks: Sequence[str]) -> list[str]:
    """MAE and coverage on the benchmarks without items per setting, and whether each item setting of
    ours is no worse there than no evidence and within 0.3 of the revealed scores (``known``)."""
    rows = table[(table["benchmark"] == WITHOUT_ITEMS) & (table["subset"] == "all")]
    if rows.empty:
        return []
    names = ", ".join(sorted(b for b in table["benchmark"].unique() if b not in (*MEAN_ROWS, *item_benchmarks)))
    lines = ["## Benchmarks without items", "", f"MAE (coverage) over the benchmarks the reference has only "
             f"scores for ({names}): item evidence reaches them only through the benchmarks it is on.", ""]
    cell = {(r.setting, r.method): f"{_fmt(r.mae)} ({_fmt(r.coverage)})" for r in rows.itertuples()}
    frame = pd.DataFrame([[s, *(cell.get((s, m), "–") for m in methods)] for s in settings if (rows["setting"] == s).any()],
                         columns=["setting", *methods])
    lines += [_markdown_table(frame), ""]
    ours = rows[rows["method"] == HIGHLIGHT].set_index("setting")["mae"]
    if {"zero", "known"} <= set(ours.index):
        checks = [f"- `{s}`: {ours[s]:.2f} vs zero {ours['zero']:.2f} and known {ours['known']:.2f}: "
                  f"{'pass' if ours[s] <= ours['zero'] and ours[s] <= ours['known'] + 0.3 else 'FAIL'}"
                  for s in settings if s in ours.index and parse_setting(s).uses_items]
        lines += [f"{HIGHLIGHT}: no worse than `zero` and within 0.3 of `known`:", "", *checks, ""]
    return lines


def _setting_sections(table: pd.DataFrame, methods: list[str], settings: list[str]) -> list[str]:
    """Per setting and subset: MAE per benchmark with the means, then the mean signed error."""
    lines: list[str] = []
    for setting in settings:
        for subset in SUBSET_TITLES:
            part = table[(table["setting"] == setting) & (table["subset"] == subset)]
            if part.empty:
                continue
            head = f"## Setting `{setting}`" + SUBSET_TITLES[subset]
            piv = part.pivot(index="method", columns="benchmark", values="mae")
            cols = [c for c in piv.columns if c not in MEAN_ROWS] + [c for c in MEAN_ROWS if c in piv.columns]
            piv = piv.reindex(index=[m for m in methods if m in piv.index], columns=cols).map(_fmt)
            stats = part[part["benchmark"] == "mean"].set_index("method")
            for metric in ("rmse", "pearson", "spearman", "coverage", "width"):
                piv[f"mean {metric}"] = [_fmt(stats[metric].get(m, math.nan)) for m in piv.index]
            n_models = part[~part["benchmark"].isin(MEAN_ROWS)].groupby("method")["n"].max()
            piv["models"] = [int(n_models.get(m, 0)) for m in piv.index]
            bias = part.pivot(index="method", columns="benchmark", values="bias")
            bias = bias.reindex(index=list(piv.index), columns=cols).map(_fmt)
            lines += [head, "", "MAE per benchmark, then means over benchmarks.", "",
                      _markdown_table(piv.reset_index()), "",
                      "Mean signed error (predicted - measured) per benchmark:", "",
                      _markdown_table(bias.reset_index()), ""]
    return lines


def render_markdown(result: BacktestResult, table: pd.DataFrame, title: str, plots: list[str]) -> str:
    """The report: setup, targets (pass/fail per method), per-setting tables, instance metrics, plots."""
    lines = _intro(result, title)
    lines += [f"- {n}" for n in result.notes]
    if result.notes:
        lines.append("")
    methods, settings = result.methods, result.settings
    suites = set(result.suites.values())
    targets = [t for t in TARGETS if (not t.suite or t.suite in suites) and (t.setting == "*" or t.setting in settings)]
    lines += ["## Targets", ""]
    if targets:
        rows = []
        for t in targets:
            cells = []
            for m in methods:
                v, _ = target_value(table, t, m, settings)
                cells.append("–" if math.isnan(v) else f"{_fmt(v)} {'pass' if t.passes(v) else 'FAIL'}")
            rows.append([t.label, t.goal(), *cells])
        lines += [_markdown_table(pd.DataFrame(rows, columns=["target", "goal", *methods])), ""]
    else:
        lines += ["No target applies to this reference's suites and settings.", ""]
    mean = table[table["benchmark"] == "mean"]
    lines += ["## Summary (mean over benchmarks)", ""]
    for metric in ("mae", "pearson", "coverage"):
        piv = mean[mean["subset"] == "all"].pivot(index="setting", columns="method", values=metric)
        piv = piv.reindex(index=[s for s in settings if s in piv.index], columns=[m for m in methods if m in piv.columns])
        frame = piv.map(_fmt).reset_index().rename(columns={"setting": f"{metric} \\ method"})
        lines += [f"### {metric.upper() if metric == 'mae' else metric.capitalize()}", "", _markdown_table(frame), ""]
    lines += _without_items_section(table, methods, settings, result.config.get("item_benchmarks", ()))
    lines += _setting_sections(table, methods, settings)
    items = table[(table["benchmark"] == "mean") & (table["subset"] == "all") & table["auc"].notna()]
    if len(items):
        lines += ["## Instance level (items not revealed; mean over benchmarks)", ""]
        for metric in ("auc", "brier"):
            piv = items.pivot(index="setting", columns="method", values=metric)
            piv = piv.reindex(index=[s for s in settings if s in piv.index]).map(lambda v: _fmt(v, 3))
            lines += [f"### {metric.upper() if metric == 'auc' else 'Brier'}", "",
                      _markdown_table(piv.reset_index().rename(columns={"setting": f"{metric} \\ method"})), ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def _plots(result: BacktestResult, table: pd.DataFrame, out: Path) -> list[str]:
    """error_vs_budget.png, predicted_vs_actual.png, coverage.png (those that have data)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = table[(table["benchmark"] == "mean") & (table["subset"] == "all")]
    drawn = [("error_vs_budget.png", _budget_plot(plt, result, table, mean)),
             ("predicted_vs_actual.png", _scatter_plot(plt, result)),
             ("coverage.png", _coverage_plot(plt, result, mean))]
    written = []
    for name, fig in drawn:
        if fig is not None:
            fig.tight_layout()
            fig.savefig(out / name, dpi=110)
            plt.close(fig)
            written.append(name)
    return written


def _budget_plot(plt: Any, result: BacktestResult, table: pd.DataFrame, mean: pd.DataFrame) -> Any:
    """MAE against items per benchmark, random and planned, per method (None without item settings)."""
    # the zero point of the budget curve is measured on the models the item settings are judged on
    curve = table[(table["benchmark"] == "mean") & (table["subset"] == "with_items")]
    curve = pd.concat([curve, mean[mean["setting"] != "zero"]]) if len(curve) else mean
    budget = curve.assign(kind=[parse_setting(s).kind for s in curve["setting"]],
                          k=[parse_setting(s).k for s in curve["setting"]])
    budget = budget[budget["kind"].isin(["zero", "random", "planned"])]
    if not (budget["kind"] != "zero").any():
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, m in enumerate(result.methods):
        color = f"C{i}"
        zero = budget[(budget["method"] == m) & (budget["kind"] == "zero")]
        for kind, style in (("random", "-"), ("planned", "--")):
            part = budget[(budget["method"] == m) & (budget["kind"] == kind)].sort_values("k")
            x = list(part["k"])
            y = list(part["mae"])
            if len(zero):
                x, y = [0] + x, [float(zero["mae"].iloc[0])] + y
            if len(part):
                ax.plot(x, y, style, marker="o", color=color, label=f"{m} ({kind})")
    ax.set_xlabel("items per benchmark (0 = zero evaluations)")
    ax.set_ylabel("MAE (mean over benchmarks)")
    ax.set_title("Error vs evaluation budget")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    return fig


def _scatter_plot(plt: Any, result: BacktestResult) -> Any:
    """Our predictions against the truth per benchmark, setting ``zero`` (else the first setting)."""
    p = result.predictions
    focus = HIGHLIGHT if HIGHLIGHT in result.methods else result.methods[-1]
    part = p[(p["method"] == focus) & (p["setting"] == "zero")]
    if part.empty:
        part = p[(p["method"] == focus) & (p["setting"] == result.settings[0])]
    if part.empty:
        return None
    benches = sorted(part["benchmark"].unique())
    cols = min(3, len(benches))
    rows = int(math.ceil(len(benches) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.8 * rows), squeeze=False)
    for ax, b in zip(axes.ravel(), benches):
        g = part[part["benchmark"] == b]
        ax.scatter(g["truth"], g["predicted"], s=4, alpha=0.4)
        lo = float(min(g["truth"].min(), g["predicted"].min()))
        hi = float(max(g["truth"].max(), g["predicted"].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        mae = float(np.mean(np.abs(g["predicted"] - g["truth"])))
        ax.set_title(f"{b} (MAE {mae:.2f})", fontsize=9)
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
    for ax in axes.ravel()[len(benches):]:
        ax.axis("off")
    fig.suptitle(f"{focus}: predicted vs actual, setting {part['setting'].iloc[0]}")
    return fig


def _coverage_plot(plt: Any, result: BacktestResult, mean: pd.DataFrame) -> Any:
    """Coverage per setting and method against the 85-95% band (None when no method has intervals)."""
    cov = mean.pivot(index="setting", columns="method", values="coverage").dropna(axis=1, how="all")
    if cov.empty:
        return None
    cov = cov.reindex(index=[s for s in result.settings if s in cov.index])
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(cov) * max(1, len(cov.columns))), 4))
    width = 0.8 / len(cov.columns)
    x = np.arange(len(cov))
    for i, m in enumerate(cov.columns):
        ax.bar(x + i * width, cov[m].to_numpy(), width, label=m)
    ax.axhspan(0.85, 0.95, color="green", alpha=0.15, label="target 85–95%")
    ax.set_xticks(x + width * (len(cov.columns) - 1) / 2, cov.index, rotation=30, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("90% interval coverage")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def write_report(result: BacktestResult, out: str | Path, title: str = "Backtest report") -> Path:
    """Write results.csv, report.md and the PNGs into ``out``; all or nothing (staged, then moved)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(result)
    stage = Path(tempfile.mkdtemp(prefix=".backtest-", dir=out))
    try:
        table.to_csv(stage / "results.csv", index=False, float_format="%.6g")
        plots = _plots(result, table, stage)
        (stage / "report.md").write_text(render_markdown(result, table, title, plots))
        for f in stage.iterdir():
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "report.md"

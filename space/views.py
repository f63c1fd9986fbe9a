"""What each tab shows, as plain values: markdown, figures and tables built from the service's answers.

Nothing here touches Gradio's layout; ``app.py`` wires these values to components. Texts are written
for a visitor of the Space, not for its operator.
"""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

import figures
import tables
from service import ModelPrediction

#: What to do next after a failed action, by the API name of the action.
NEXT_STEPS: dict[str, str] = {
    "predict": "Check the id (org/name, as on the Hub) or take a suggestion. For a model the reference does not "
               "hold, use **What if** with its parents, or upload an lm-eval run of it.",
    "predict_upload": "Drop the `results_*.json` and `samples_*.jsonl` files of one lm-eval run with `--log_samples`.",
    "what_if": "Choose one or more parents from the list; several parents need the relation *merge*.",
    "rank_merges": "Write one candidate per line, parents joined by `+`, using ids from the reference.",
    "lineage": "Check the id (org/name, as on the Hub); the tree needs a model with known lineage.",
}


def md(text: str) -> str:
    """Model ids in markdown: ``_`` and ``*`` would otherwise turn into emphasis, ``<`` into HTML."""
    return "".join("\\" + c if c in "\\`*_[]#|" else c for c in html.escape(str(text), quote=False))


def error_panel(message: str, action: str) -> str:
    """The one message that replaces a result area after a failure: what went wrong, what to do next.

    The message arrives with the visitor's input already cut short (``service.shown``); it is
    escaped here, so pasted HTML shows as text.
    """
    return f"### Could not do that\n\n{md(message)}\n\n**What to do next:** {NEXT_STEPS.get(action, 'Try again.')}"


def _hub_link(model: str) -> str:
    return f"[{md(model)}](https://huggingface.co/{model})"


def headline(result: ModelPrediction, suites: dict[str, list[str]]) -> str:
    """The result's first lines: whose prediction, its lineage, the averages, and the one note on
    what the prediction used."""
    lines = [f"### {md(result.model)}"]
    if result.parents:
        by_relation: dict[str, list[str]] = {}
        for parent, relation in result.parents:
            by_relation.setdefault(relation, []).append(_hub_link(parent))
        lines.append("; ".join(f"**{rel}** of {' + '.join(ps)}" for rel, ps in by_relation.items()))
    parts = []
    for suite, avg in result.averages.items():
        text = (f"**{tables.suite_label(suite)}: {avg['predicted']:.1f}** "
                f"(90% interval {avg['lower']:.1f} – {avg['upper']:.1f})")
        if "measured" in avg:
            text += f", measured {avg['measured']:.1f}"
        parts.append(text)
    if parts:
        lines.append(" · ".join(parts))
    lines.append(f"_{md(result.basis)}_ " + md(tables.suite_explainer(suites)))
    if result.extrapolation:
        lines.append("**⚠ Extrapolation:** this model lies outside what the reference has seen ("
                     + md("; ".join(result.extrapolation)) + "); its intervals are widened and may still miss more often.")
    lines += [f"_{md(note)}_" for note in result.notes]
    return "\n\n".join(lines)


def prediction(result: ModelPrediction, suites: dict[str, list[str]]) -> tuple[dict[str, Any], str, Any, Any]:
    """The four outputs every prediction shares: JSON (API), headline, chart, table."""
    title = f"Predicted scores of {result.model}" if len(result.model) < 60 else "Predicted scores"
    return (result.as_json(), headline(result, suites), figures.prediction_chart(result.frame, title),
            tables.styled(tables.display_predictions(result.frame)))


def lineage_info(model: str, shown: int, total: int, hops: int, groups: int, suite: str) -> str:
    folded = f" · grey squares fold unmeasured copies ({groups})" if groups else ""
    return (f"### {md(model)}\n\n{shown} of {total:,} relatives within {hops} hop{'s' if hops > 1 else ''} drawn, "
            f"measured ones first{folded} · colour = {tables.suite_label(suite)}: ● measured, ◆ predicted · "
            "parents left of their children")


def _md_table(frame: pd.DataFrame) -> str:
    """A small frame as a Markdown table (cells escaped: evidence labels come from the bot's log)."""
    lines = ["| " + " | ".join(map(md, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(md(str(v)) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def bot_view(table: pd.DataFrame | None) -> tuple[str, Any, Any, bool]:
    """The bot's part of Track record: text, scatter, per-benchmark table, and whether there is data."""
    if table is None or table.empty:
        return ("No predictions have been posted yet. The bot posts a prediction on each new model's page; once "
                "the leaderboard measures those models, their predicted and measured scores appear here.",
                None, None, False)
    done = tables.track_record(table)
    if done.empty:
        return (f"The bot has predicted {table['model'].nunique()} models; none has been measured yet. Points "
                "appear here once the leaderboard evaluates them.", None, None, False)
    n, total = done["model"].nunique(), table["model"].nunique()
    share = done["covered"].mean()
    inside = ("none had an interval" if share != share
              else f"{100 * share:.0f}% inside their 90% interval (target 90%)")
    text = (f"**{n} predicted model{'s' if n != 1 else ''} measured later** ({n} of {total} so far, {len(done)} "
            f"scores): mean absolute error {done['error'].abs().mean():.1f} points, {inside}.\n\n"
            "By what the prediction stood on:\n\n" + _md_table(tables.track_by_evidence(done)))
    return (text, figures.scatter_figure(done, "Bot predictions vs measured scores"),
            tables.styled(tables.track_summary(done)), True)


def backtest_view(results: pd.DataFrame | None) -> tuple[str, Any, Any, Any, bool]:
    """Text, error and coverage figures and the MAE table of the backtest, and whether there is one."""
    if results is None:
        return ("No backtest is published with this Space yet: it would show how far predictions for held-out "
                "models fall from their measured scores.", None, None, None, False)
    legend = tables.backtest_legend(results)
    shown = tables.label_methods(results)
    colours = figures.method_colours(shown["method"].unique())
    curves = tables.backtest_curves(shown)
    coverage = tables.backtest_means(shown, "coverage")
    if len(curves):
        error_fig = figures.curve_figure(curves, "items per benchmark", "mae", "series", "Error vs evaluation budget",
                                         "items evaluated per benchmark",
                                         "mean abs. error (points)")
    else:  # no item-level settings (e.g. a reference of leaderboard scores only): error per setting
        error_fig = figures.setting_bars(tables.backtest_means(shown, "mae"), "mae", "Error by setting",
                                         "mean abs. error (points)", colours=colours)
    coverage_fig = (figures.setting_bars(coverage, "coverage", "90% interval coverage on held-out models",
                                         "inside the 90% interval (%)", scale=100, band=(0.85, 0.95),
                                         colours=colours)
                    if len(coverage) else figures.empty_figure("no intervals in the backtest"))
    info = ("Predictions for models the predictor never saw (k-fold by model, lineage kept), against their "
            f"measured scores. Lower error is better; coverage should sit in the green band.\n\n{legend}\n\n"
            f"{tables.SETTINGS_EXPLAINED}")
    return info, error_fig, coverage_fig, tables.styled(tables.backtest_summary(shown)), True

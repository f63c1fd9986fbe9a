"""Plotly figures of the Space: predictions with intervals, the lineage tree, the track record.

Builders take plain DataFrames and lists (never the app or the reference), so each is tested with
small hand-made inputs and the app only wires data to them. Every axis names its quantity and unit.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from lrmf_plugin.schema import Edge

#: Unit of every score the reference holds (v2 normalised and v1 scores are both 0-100).
SCORE_UNIT = "points, 0-100"

#: One colour per lineage relation, used for edges and the legend.
RELATION_COLOURS: dict[str, str] = {
    "finetune": "#1f77b4", "merge": "#d62728", "adapter": "#2ca02c",
    "quantized": "#9467bd", "family": "#9e9e9e",
}

_LAYOUT = dict(template="plotly_white", font=dict(size=13), margin=dict(l=10, r=10, t=90, b=10))
#: Legend in one row between the title and the plot area.
_TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.02, x=0)


def _title(text: str) -> dict:
    """Titles sit at the very top, so a legend row fits between them and the plot."""
    return dict(text=text, x=0.01, xanchor="left", y=0.98, yanchor="top", font=dict(size=16))


def _score_range(*columns: pd.Series) -> list[float]:
    """An axis range covering 0-100 and every value, padded so end points stay visible."""
    values = pd.concat([c.astype(float) for c in columns]).dropna()
    lo = min(0.0, float(values.min())) if len(values) else 0.0
    hi = max(100.0, float(values.max())) if len(values) else 100.0
    pad = 0.03 * (hi - lo)
    return [lo - pad, hi + pad]


def prediction_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Per-benchmark predicted score with its 90% interval, and the measured score when known.

    ``frame`` is a :func:`tables.prediction_frame`: columns benchmark, predicted, lower, upper,
    source ("predicted" or "given": a score the visitor supplied) and measured (NaN = unknown);
    rows are drawn top to bottom in the frame's order.
    """
    fig = go.Figure()
    order = list(frame["benchmark"])[::-1]
    styles = {"predicted": ("circle", "#1f77b4", "predicted, 90% interval"),
              "given": ("square", "#ff7f0e", "given (your evaluation)")}
    for source, (symbol, colour, label) in styles.items():
        part = frame[frame["source"] == source]
        if part.empty:
            continue
        err_plus = (part["upper"] - part["predicted"]).clip(lower=0).fillna(0)
        err_minus = (part["predicted"] - part["lower"]).clip(lower=0).fillna(0)
        fig.add_trace(go.Scatter(
            x=part["predicted"], y=part["benchmark"], mode="markers", name=label,
            marker=dict(symbol=symbol, size=12, color=colour),
            error_x=dict(type="data", symmetric=False, array=err_plus, arrayminus=err_minus,
                         thickness=2.5, width=6, color=colour),
            customdata=part[["lower", "upper"]].to_numpy(),
            hovertemplate="%{y}: %{x:.1f} [%{customdata[0]:.1f}, %{customdata[1]:.1f}]<extra></extra>"))
    measured = frame.dropna(subset=["measured"])
    if not measured.empty:
        fig.add_trace(go.Scatter(
            x=measured["measured"], y=measured["benchmark"], mode="markers", name="measured (reference)",
            marker=dict(symbol="x-thin", size=14, line=dict(width=3, color="#2ca02c")),
            hovertemplate="%{y}: measured %{x:.1f}<extra></extra>"))
    fig.update_layout(**_LAYOUT, title=_title(title), height=max(300, 150 + 34 * len(frame)),
                      legend=_TOP_LEGEND)
    fig.update_xaxes(title=f"score ({SCORE_UNIT})",
                     range=_score_range(frame["lower"], frame["upper"], frame["predicted"], frame["measured"]),
                     showgrid=True, zeroline=False)
    fig.update_yaxes(title="benchmark", categoryorder="array", categoryarray=order)
    return fig


def ranking_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Candidate merges ranked by predicted average, with the interval of that average."""
    frame = frame.sort_values("average")
    fig = go.Figure(go.Scatter(
        x=frame["average"], y=frame["candidate"], mode="markers", marker=dict(size=12, color="#d62728"),
        error_x=dict(type="data", symmetric=False, array=frame["upper"] - frame["average"],
                     arrayminus=frame["average"] - frame["lower"], thickness=2.5, width=6),
        hovertemplate="%{y}: %{x:.1f}<extra></extra>", showlegend=False))
    fig.update_layout(**_LAYOUT, title=_title(title), height=max(280, 150 + 40 * len(frame)))
    fig.update_xaxes(title=f"predicted average ({SCORE_UNIT}), 90% interval",
                     range=_score_range(frame["lower"], frame["upper"]))
    fig.update_yaxes(title="candidate", automargin=True)
    return fig


def _layers(nodes: Sequence[str], edges: Sequence[Edge]) -> dict[str, int]:
    """Depth of each node: the longest parent chain above it within the drawn subgraph.

    Relaxation bounded by the node count, so a cycle in the input (the reference drops them, a
    hand-made edge list may not) ends with distinct depths instead of looping.
    """
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        if e.parent in parents and e.child in parents and e.parent != e.child:
            parents[e.child].append(e.parent)
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(depth)):
        changed = False
        for n, ps in parents.items():
            d = max((depth[p] + 1 for p in ps), default=0)
            if d != depth[n] and d < len(depth):
                depth[n] = d
                changed = True
        if not changed:
            break
    return depth


def lineage_layout(nodes: Sequence[str], edges: Sequence[Edge]) -> dict[str, tuple[float, float]]:
    """Left-to-right layered positions: x = generation, y spread within a generation.

    Within a generation nodes are ordered by the mean position of their parents, so families stay
    together and edges cross less.
    """
    depth = _layers(nodes, edges)
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        if e.child in parents:
            parents[e.child].append(e.parent)
    position: dict[str, tuple[float, float]] = {}
    for layer in range(max(depth.values(), default=-1) + 1):
        members = [n for n in nodes if depth[n] == layer]

        def key(n: str) -> tuple[float, str]:
            ys = [position[p][1] for p in parents[n] if p in position]
            return (-sum(ys) / len(ys) if ys else 0.0, n)
        members.sort(key=key)  # top to bottom, following the parents' order
        for i, n in enumerate(members):
            position[n] = (float(layer), (len(members) - 1) / 2.0 - i)
    return position


def lineage_figure(nodes: Sequence[str], edges: Sequence[Edge], focus: str,
                   average: Mapping[str, float], measured: Mapping[str, bool], title: str) -> go.Figure:
    """The family tree around ``focus``: edges coloured by relation, nodes by average score.

    ``average`` maps a node to its average over the shown suite (missing or NaN = unknown, grey);
    ``measured`` says whether that average was measured (circle) or predicted (diamond). Labels
    are annotations on a light background, so they stay readable where edges cross them.
    """
    pos = lineage_layout(nodes, edges)
    fig = go.Figure()
    for relation in sorted({e.relation for e in edges}):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for e in edges:
            if e.relation == relation and e.parent in pos and e.child in pos:
                xs += [pos[e.parent][0], pos[e.child][0], None]
                ys += [pos[e.parent][1], pos[e.child][1], None]
        # ``family`` only says "same leaderboard root ancestor": drawn faint so direct edges stand out
        faint = relation == "family"
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=relation, hoverinfo="skip",
                                 opacity=0.45 if faint else 0.9,
                                 line=dict(width=1 if faint else 2, dash="dot" if faint else "solid",
                                           color=RELATION_COLOURS.get(relation, "#555"))))
    values = [average.get(n, math.nan) for n in nodes]
    known = [n for n, v in zip(nodes, values) if v == v]
    unknown = [n for n, v in zip(nodes, values) if v != v]
    if known:
        vals = [average[n] for n in known]
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in known], y=[pos[n][1] for n in known], mode="markers",
            name="model (colour = average)",
            customdata=[[n, average[n], "measured" if measured.get(n) else "predicted"] for n in known],
            hovertemplate="%{customdata[0]}<br>average %{customdata[1]:.1f} (%{customdata[2]})<extra></extra>",
            marker=dict(size=[22 if n == focus else 14 for n in known],
                        symbol=["circle" if measured.get(n) else "diamond" for n in known],
                        color=vals, colorscale="Viridis", cmin=min(vals), cmax=max(max(vals), min(vals) + 1e-9),
                        line=dict(width=[3 if n == focus else 1 for n in known], color="#111"),
                        colorbar=dict(title=dict(text=f"average<br>({SCORE_UNIT})"), thickness=14))))
    if unknown:
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in unknown], y=[pos[n][1] for n in unknown], mode="markers",
            name="no score", hovertemplate="%{customdata}<br>no score<extra></extra>", customdata=unknown,
            marker=dict(size=[22 if n == focus else 12 for n in unknown], color="#cccccc",
                        line=dict(width=[3 if n == focus else 1 for n in unknown], color="#111"))))
    for n in nodes:
        fig.add_annotation(x=pos[n][0], y=pos[n][1], text=f"<b>{_short(n)}</b>" if n == focus else _short(n),
                           showarrow=False, xanchor="left", xshift=12 if n != focus else 16,
                           font=dict(size=12), bgcolor="rgba(255,255,255,0.85)", borderpad=1)
    n_layers = 1 + max((p[0] for p in pos.values()), default=0)
    tallest = max(pd.Series([p[0] for p in pos.values()]).value_counts().max() if pos else 1, 1)
    fig.update_layout(**_LAYOUT, title=_title(title), height=int(min(1200, max(420, 150 + 26 * tallest))),
                      legend=dict(_TOP_LEGEND, title="edge: "), hovermode="closest")
    fig.update_xaxes(visible=False, range=[-0.15, n_layers - 0.15 + 0.75])
    fig.update_yaxes(visible=False, range=[-(tallest + 1) / 2, (tallest + 1) / 2])
    return fig


def _short(model: str, width: int = 38) -> str:
    """Model ids can be long; plots show the tail, hover shows the whole id."""
    return model if len(model) <= width else "…" + model[-(width - 1):]


def scatter_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Predicted vs measured scores (one point per model x benchmark) with the y = x line.

    ``frame`` has columns model, benchmark, predicted, lower, upper, measured.
    """
    frame = frame.dropna(subset=["predicted", "measured"])
    rng = _score_range(frame["measured"], frame["predicted"]) if len(frame) else [0, 100]
    fig = go.Figure(go.Scatter(x=rng, y=rng, mode="lines", name="y = x (perfect prediction)",
                               line=dict(color="#888", dash="dash"), hoverinfo="skip"))
    for bench, part in frame.groupby("benchmark", sort=True):
        fig.add_trace(go.Scatter(
            x=part["measured"], y=part["predicted"], mode="markers", name=str(bench),
            error_y=dict(type="data", symmetric=False, array=(part["upper"] - part["predicted"]).fillna(0),
                         arrayminus=(part["predicted"] - part["lower"]).fillna(0), thickness=1, width=0),
            customdata=part[["model"]].to_numpy(), marker=dict(size=9, opacity=0.8),
            hovertemplate="%{customdata[0]}<br>measured %{x:.1f}, predicted %{y:.1f}<extra>" + str(bench) + "</extra>"))
    fig.update_layout(**_LAYOUT, title=_title(title), height=520, legend=dict(title="benchmark"))
    fig.update_xaxes(title=f"measured score ({SCORE_UNIT})", range=rng)
    fig.update_yaxes(title=f"predicted score ({SCORE_UNIT})", range=rng, scaleanchor="x", scaleratio=1)
    return fig


def curve_figure(frame: pd.DataFrame, x: str, y: str, colour: str, title: str, x_title: str, y_title: str,
                 reference_line: float | None = None) -> go.Figure:
    """Lines of ``y`` against ``x``, one per value of ``colour`` (e.g. error vs budget per method).

    ``reference_line`` draws a horizontal target (e.g. the nominal 90% coverage).
    """
    fig = go.Figure()
    for name, part in frame.sort_values(x).groupby(colour, sort=True):
        fig.add_trace(go.Scatter(x=part[x], y=part[y], mode="lines+markers", name=str(name),
                                 hovertemplate=f"{name}: %{{y:.2f}} at %{{x}}<extra></extra>"))
    if reference_line is not None:
        fig.add_hline(y=reference_line, line=dict(color="#888", dash="dash"),
                      annotation_text=f"target {reference_line:g}", annotation_position="top left")
    fig.update_layout(**_LAYOUT, title=_title(title), height=440, legend=dict(title=colour))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return fig


def empty_figure(message: str) -> go.Figure:
    """A blank plot carrying a short explanation (no data yet), instead of an empty frame."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=15, color="#666"),
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(**_LAYOUT, height=260)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """One fixed colour per method, so a method looks the same in every backtest chart."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    return {m: palette[i % len(palette)] for i, m in enumerate(sorted(methods))}


def setting_bars(frame: pd.DataFrame, value: str, title: str, y_title: str, *, scale: float = 1.0,
                 band: tuple[float, float] | None = None, colours: Mapping[str, str] | None = None) -> go.Figure:
    """A backtest metric per setting and method (e.g. MAE when the backtest has no item budgets to
    draw as curves, or interval coverage).

    Without ``band`` the metric is drawn as bars from zero. With a target ``band`` (shaded) it is
    drawn as points on an axis zoomed around the band: coverage of 88% vs 92% matters, and bars
    from zero would hide the difference. ``frame`` has columns method, setting and ``value``
    (shown times ``scale``).
    """
    colours = colours or method_colours(frame["method"].unique())
    fig = go.Figure()
    settings = list(dict.fromkeys(frame["setting"]))
    for method, part in frame.groupby("method", sort=True):
        part = part.set_index("setting").reindex(settings)
        common = dict(x=settings, y=scale * part[value], name=str(method),
                      hovertemplate=f"{method}: %{{y:.2f}} at %{{x}}<extra></extra>")
        if band is None:
            fig.add_trace(go.Bar(**common, marker_color=colours.get(method)))
        else:
            fig.add_trace(go.Scatter(**common, mode="markers", marker=dict(size=13, color=colours.get(method))))
    fig.update_layout(**_LAYOUT, title=_title(title), height=440, legend=dict(title="method"),
                      barmode="group", scattermode="group")
    fig.update_xaxes(title="backtest setting (evidence per held-out model)")
    if band is None:
        fig.update_yaxes(title=y_title, rangemode="tozero")
    else:
        fig.add_hrect(y0=scale * band[0], y1=scale * band[1], fillcolor="#2ca02c", opacity=0.15, line_width=0,
                      annotation_text=f"target {scale * band[0]:g}–{scale * band[1]:g}",
                      annotation_position="top left")
        values = scale * frame[value].astype(float)
        lo = min(float(values.min()), scale * band[0])
        hi = max(float(values.max()), scale * band[1])
        pad = 0.15 * (hi - lo) + 1e-9
        fig.update_yaxes(title=y_title, range=[lo - pad, hi + pad])
    return fig

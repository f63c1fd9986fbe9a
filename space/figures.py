"""Plotly figures of the Space: predictions with intervals, the lineage tree, the track record.

Builders take plain DataFrames and lists (never the app or the reference), so each is tested with
small hand-made inputs and the app only wires data to them. Every axis names its quantity and unit.
"""
from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from lrmf_plugin.leaderboard import display_name
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
#: Legend rows under the plot: on a phone a side legend would cover the data.
_BOTTOM_LEGEND = dict(orientation="h", yanchor="top", y=-0.22, x=0)


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


def _pct(x: float, lo: float, hi: float) -> str:
    return f"{100 * (min(max(float(x), lo), hi) - lo) / (hi - lo):.2f}%"


def prediction_chart(frame: pd.DataFrame, title: str) -> str:
    """Per-benchmark predicted score with its 90% interval, and the measured score when known, as HTML.

    Plain HTML and CSS (classes styled by ``layout.CSS``) rather than a Plotly figure: it is part of
    the page itself, so the first chart shows without loading Plotly's megabytes, and its rows keep a
    readable text size at any width. ``frame`` is a :func:`tables.prediction_frame`; rows are drawn
    top to bottom in its order, on a 0-100 axis (wider if a value lies outside).
    """
    lo, hi = 0.0, 100.0
    values = pd.concat([frame[c].astype(float) for c in ("lower", "upper", "predicted", "measured")]).dropna()
    if len(values):
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    rows = []
    for r in frame.to_dict("records"):
        name = html.escape(display_name(r["benchmark"]))
        kind = "given" if r["source"] == "given" else "predicted"
        tip = f"{name}: {kind} {r['predicted']:.1f}" + (
            f", 90% interval {r['lower']:.1f} – {r['upper']:.1f}" if r["lower"] == r["lower"] else "")
        marks = ""
        if r["lower"] == r["lower"] and r["upper"] == r["upper"]:
            marks += (f'<span class="pc-int" style="left:{_pct(r["lower"], lo, hi)};'
                      f'right:calc(100% - {_pct(r["upper"], lo, hi)})"></span>')
        marks += f'<span class="pc-dot pc-{kind}" style="left:{_pct(r["predicted"], lo, hi)}" title="{tip}"></span>'
        if r["measured"] == r["measured"]:
            tip += f"; measured {r['measured']:.1f}"
            marks += (f'<span class="pc-measured" style="left:{_pct(r["measured"], lo, hi)}" '
                      f'title="{name}: measured {r["measured"]:.1f}">✕</span>')
        rows.append(f'<div class="pc-row" title="{tip}"><span class="pc-name">{name}</span>'
                    f'<span class="pc-track">{marks}</span><span class="pc-value">{r["predicted"]:.1f}</span></div>')
    ticks = "".join(f'<span style="left:{_pct(t, lo, hi)}">{t:g}</span>' for t in (0, 25, 50, 75, 100))
    legend = ('<span class="pc-dot pc-predicted pc-key"></span> predicted, with its 90% interval'
              + (' · <span class="pc-dot pc-given pc-key"></span> given (your evaluation)'
                 if (frame["source"] == "given").any() else "")
              + (' · <span class="pc-measured pc-key">✕</span> measured' if frame["measured"].notna().any() else ""))
    return (f'<div class="pred-chart"><div class="pc-title">{html.escape(title)}</div>'
            f'<div class="pc-legend">{legend}</div>{"".join(rows)}'
            f'<div class="pc-row pc-axis"><span class="pc-name"></span><span class="pc-track pc-ticks">{ticks}</span>'
            f'<span class="pc-value"></span></div><div class="pc-xtitle">score ({SCORE_UNIT})</div></div>')


def ranking_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Candidate merges ranked by predicted average, with the interval of that average.

    The leader's interval is shaded: candidates whose interval reaches into it (``tied``) are drawn
    hollow, as the data cannot tell them from the leader.
    """
    # ranks label the rows (the table beside names them; hover shows the candidate), so a phone's
    # width goes to the intervals rather than to long ids
    frame = frame.sort_values("average").assign(label=lambda f: "#" + f["rank"].astype(str))
    fig = go.Figure()
    for tied, name, symbol in ((False, "clearly ranked", "circle"), (True, "tie with the leader", "circle-open")):
        part = frame[(frame["tied"] == tied)]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["average"], y=part["label"], mode="markers", name=name, customdata=part["candidate"],
            marker=dict(size=12, color="#d62728", symbol=symbol, line=dict(width=2, color="#d62728")),
            error_x=dict(type="data", symmetric=False, array=part["upper"] - part["average"],
                         arrayminus=part["average"] - part["lower"], thickness=2.5, width=6),
            hovertemplate="%{customdata}: %{x:.1f}<extra></extra>"))
    leader = frame.loc[frame["rank"] == 1].iloc[0]
    fig.add_vrect(x0=leader["lower"], x1=leader["upper"], fillcolor="#d62728", opacity=0.08, line_width=0,
                  annotation_text="leader's interval", annotation_position="top left")
    fig.update_layout(**_LAYOUT, title=_title(title), height=max(300, 170 + 40 * len(frame)), legend=_TOP_LEGEND)
    fig.update_xaxes(title=f"predicted average ({SCORE_UNIT}), 90% interval",
                     range=_score_range(frame["lower"], frame["upper"]))
    fig.update_yaxes(title="rank", automargin=True, categoryorder="array", categoryarray=list(frame["label"]))
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
                   average: Mapping[str, float], measured: Mapping[str, bool], title: str,
                   groups: Mapping[str, str] | None = None) -> go.Figure:
    """The family tree around ``focus``: edges coloured by relation, nodes by average score.

    ``average`` maps a node to its average over the shown suite (missing or NaN = unknown, grey);
    ``measured`` says whether that average was measured (circle) or predicted (diamond). ``groups``
    maps a folded group's box to its label ("+412 quantised copies"), drawn as a grey square. Labels
    are annotations on a light background, so they stay readable where edges cross them; the colour
    bar lies under the plot, where it covers no label.
    """
    groups = groups or {}
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
    models = [n for n in nodes if n not in groups]
    known = [n for n in models if average.get(n, math.nan) == average.get(n, math.nan)]
    unknown = [n for n in models if n not in known]
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
                        colorbar=dict(title=dict(text=f"average ({SCORE_UNIT})", side="top"), orientation="h",
                                      y=-0.02, yanchor="top", len=0.6, x=0, xanchor="left", thickness=12))))
    for name, members, symbol in (("no score", unknown, "circle"), ("folded group", list(groups), "square")):
        if members:
            fig.add_trace(go.Scatter(
                x=[pos[n][0] for n in members], y=[pos[n][1] for n in members], mode="markers", name=name,
                hovertemplate="%{customdata}<extra></extra>", customdata=[groups.get(n, n) for n in members],
                marker=dict(size=[22 if n == focus else 12 for n in members], color="#cccccc", symbol=symbol,
                            line=dict(width=[3 if n == focus else 1 for n in members], color="#111"))))
    _label(fig, nodes, pos, focus, groups)
    n_layers = 1 + max((p[0] for p in pos.values()), default=0)
    tallest = max(pd.Series([p[0] for p in pos.values()]).value_counts().max() if pos else 1, 1)
    fig.update_layout(**_LAYOUT, title=_title(title), height=int(min(1400, max(460, 200 + 28 * tallest))),
                      legend=dict(_TOP_LEGEND, title="edge: "), hovermode="closest")
    fig.update_xaxes(visible=False, range=[-0.15, n_layers - 0.15 + 0.75])
    fig.update_yaxes(visible=False, range=[-(tallest + 1) / 2, (tallest + 1) / 2])
    return fig


def _label(fig: go.Figure, nodes: Sequence[str], pos: Mapping[str, tuple[float, float]], focus: str,
           groups: Mapping[str, str]) -> None:
    """A label right of every node: the focus in bold, folded groups in italics."""
    for n in nodes:
        text = f"<i>{groups[n]}</i>" if n in groups else f"<b>{_short(n)}</b>" if n == focus else _short(n)
        fig.add_annotation(x=pos[n][0], y=pos[n][1], text=text, showarrow=False, xanchor="left",
                           xshift=12 if n != focus else 16, font=dict(size=12),
                           bgcolor="rgba(255,255,255,0.85)", borderpad=1)


def _short(model: str, width: int = 38) -> str:
    """Model ids can be long: plots keep the organisation and the name's tail, hover shows the whole id."""
    if len(model) <= width:
        return model
    org, _, name = model.rpartition("/")
    org = org if len(org) <= 14 else org[:13] + "…"
    head = f"{org}/…" if org else "…"
    return head + name[-(width - len(head)):]


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
            x=part["measured"], y=part["predicted"], mode="markers", name=display_name(str(bench)),
            error_y=dict(type="data", symmetric=False, array=(part["upper"] - part["predicted"]).fillna(0),
                         arrayminus=(part["predicted"] - part["lower"]).fillna(0), thickness=1, width=0),
            customdata=part[["model"]].to_numpy(), marker=dict(size=9, opacity=0.8),
            hovertemplate="%{customdata[0]}<br>measured %{x:.1f}, predicted %{y:.1f}<extra>" + display_name(str(bench))
            + "</extra>"))
    fig.update_layout(**_LAYOUT, title=_title(title), height=540, legend=_BOTTOM_LEGEND)
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
    fig.update_layout(**_LAYOUT, title=_title(title), height=480, legend=_BOTTOM_LEGEND)
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
    """One fixed colour per method, so a method looks the same in every backtest chart; the method
    marked ours ("★ …") is near-black, so it stands out among the baselines."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    others = sorted(m for m in methods if not m.startswith("★"))
    return {**{m: palette[i % len(palette)] for i, m in enumerate(others)},
            **{m: "#111111" for m in methods if m.startswith("★")}}


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
    fig.update_layout(**_LAYOUT, title=_title(title), height=480, legend=_BOTTOM_LEGEND,
                      barmode="group", scattermode="group")
    fig.update_xaxes(title="setting")  # short enough for a phone; the text above explains the settings
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

"""The Space's components and their arrangement: four tabs that read on a laptop and on a phone.

Every output has a label (hidden on the page where the tab says it already), so the API page names
what each endpoint returns. Rows give their children a ``min_width``: below it they wrap, so charts
and tables stack on a phone instead of squeezing side by side.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import gradio as gr

import tables
from lrmf_plugin.leaderboard import display_name
from lrmf_plugin.schema import RELATIONS
from service import SpaceService

CSS = """
.gradio-container {max-width: min(1280px, 100vw) !important; min-width: 0 !important; margin: auto;}
#prediction h3 {margin-top: 0.2em;}
/* table headers break between words, never inside one ("ra nk") */
.table-wrap th, .table-wrap th * {word-break: normal !important; overflow-wrap: normal !important;
  hyphens: none !important;}
/* a wide table scrolls inside its own box; the page itself never scrolls sideways */
.tabitem, .column:has(.table-container), .block:has(> .table-container), .table-container, .table-wrap
  {min-width: 0 !important; max-width: 100%;}
.table-wrap, .block:has(> .table-container) {overflow-x: auto;}
.main, .main > .wrap, .contain, .tabs, .tabitem, .tabitem > .column {min-width: 0 !important; max-width: 100%;}
/* the prediction chart (figures.prediction_chart): one row per benchmark on a 0-100 track */
.pred-chart {font-size: 14px; padding: 4px 2px;}
.pc-title {font-weight: 600; font-size: 16px; margin-bottom: 4px; overflow-wrap: anywhere;}
.pc-legend {color: #555; font-size: 13px; margin-bottom: 8px;}
.pc-row {display: flex; align-items: center; gap: 8px; height: 30px;}
.pc-name {flex: 0 0 6.5em; text-align: right; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;}
.pc-value {flex: 0 0 2.6em; font-variant-numeric: tabular-nums; color: #333;}
.pc-track {position: relative; flex: 1 1 auto; height: 100%;
  background: linear-gradient(to right, #eee 1px, transparent 1px) 0 0 / 25% 100%;}
.pc-int {position: absolute; top: 13px; height: 4px; background: #1f77b4; opacity: 0.55; border-radius: 2px;}
.pc-dot {position: absolute; top: 8px; width: 14px; height: 14px; margin-left: -7px; border-radius: 50%;
  background: #1f77b4;}
.pc-given {background: #ff7f0e; border-radius: 2px;}
.pc-measured {position: absolute; top: 3px; margin-left: -0.4em; color: #2ca02c; font-weight: 700; font-size: 18px;}
.pc-key {position: static; display: inline-block; vertical-align: middle; margin: 0 2px;}
.pc-axis {height: 20px; color: #666; font-size: 12px;}
.pc-ticks {background: none;}
.pc-ticks span {position: absolute; transform: translateX(-50%);}
.pc-xtitle {text-align: center; color: #555; font-size: 13px;}
@media (max-width: 640px) {
  .gradio-container {padding-left: 6px !important; padding-right: 6px !important;}
  .js-plotly-plot, .plot-container {max-width: 100%;}
}
"""

NO_PREDICTIONS = ("**No predictions posted yet.** The bot predicts each new model on the Hub and posts the "
                  "prediction on the model's page; those predictions will be listed here, with the measured "
                  "score once the leaderboard evaluates the model.")


@dataclass
class ResultArea:
    """A result area: the message shown when an action fails, and the results it replaces."""

    error: Any
    results: Any


def suite_of(label: str, suites: dict[str, list[str]]) -> str:
    """The suite behind an "Average" label of a dropdown (a suite's code passes through)."""
    return {tables.suite_label(s): s for s in suites}.get(label, label)


def pick_example(service: SpaceService) -> str:
    """A model with scores, parents and children, so the first view of a tab already says something."""
    graph = service.graph
    best, best_key = "", (-1, "")
    for model in service.models_with_scores:
        if model not in graph:
            continue
        key = (min(len(graph.parents(model)), 1) * (1 + len(graph.children(model))), model)
        if key > best_key:
            best, best_key = model, key
    return best or (service.models_with_scores[0] if service.models_with_scores else "")


def _area(elem_id: str) -> ResultArea:
    return ResultArea(gr.Markdown(visible=False, elem_id=f"{elem_id}-error", elem_classes="error-panel"),
                      gr.Column(elem_id=elem_id))


def _predict_tab(ui: SimpleNamespace, example: str, has_hub: bool) -> None:
    with gr.Tabs(overflow_behavior="wrap"):
        with gr.Tab("By model id", id="by-id"):
            with gr.Row():
                ui.model_id = gr.Textbox(max_lines=1, label="Model id",
                                         placeholder="org/name or a huggingface.co address",
                                         value=example, elem_id="model-id", scale=5, min_width=240)
                ui.predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn", scale=1, min_width=100)
            gr.Markdown("Models in the reference use their known lineage"
                        + ("; others are looked up on the Hub." if has_hub else
                           "; for a new model, use **What if** with its parents."))
        with gr.Tab("From an lm-eval run", id="upload"):
            gr.Markdown("Drop the `results_*.json` and `samples_*.jsonl` files of an lm-eval run on a subset of "
                        "instances (`--log_samples`): the evaluated items pin the model down, the rest is predicted.")
            with gr.Row():
                ui.files = gr.File(label="lm-eval output files", file_count="multiple", file_types=[".json", ".jsonl"],
                                   elem_id="upload-files", scale=3, min_width=240)
                with gr.Column(scale=2, min_width=240):
                    ui.upload_model = gr.Textbox(max_lines=1, label="Model id (optional, else from the run)",
                                                 elem_id="upload-model")
                    ui.upload_btn = gr.Button("Predict from run", variant="primary", elem_id="upload-btn")
        with gr.Tab("What if", id="what-if"):
            gr.Markdown("Choose parents and a relation: the predicted scores of the child, before anyone trains or "
                        "merges it.")
            with gr.Row():
                ui.parent_search = gr.Textbox(max_lines=1, label="Find a parent",
                                              placeholder="part of a name; Enter adds the best match",
                                              elem_id="whatif-search", scale=2, min_width=240)
                ui.parents = gr.Dropdown(choices=[], multiselect=True, allow_custom_value=True, filterable=True,
                                         label="Parents (the matches are listed here)", elem_id="whatif-parents",
                                         scale=3, min_width=240)
                ui.relation = gr.Dropdown(choices=[r for r in RELATIONS if r != "family"], value="merge",
                                          label="Relation", elem_id="whatif-relation", scale=1, min_width=120)
                ui.whatif_btn = gr.Button("Predict child", variant="primary", elem_id="whatif-btn", scale=1,
                                          min_width=120)
            with gr.Accordion("Rank candidate merges", open=False):
                with gr.Row():
                    ui.candidates = gr.Textbox(label="Candidates: one per line, parents joined by +", lines=4,
                                               elem_id="candidates", scale=4, min_width=240,
                                               placeholder="org/model-a + org/model-b")
                    with gr.Column(scale=1, min_width=160):
                        ui.rank_suite = gr.Dropdown(choices=ui.suite_labels, value=ui.suite_labels[0],
                                                    label="Rank by")
                        ui.rank_btn = gr.Button("Rank", elem_id="rank-btn")
                ui.ranking_area = _area("ranking-area")
                with ui.ranking_area.results:
                    ui.ranking_info = gr.Markdown(label="verdict", elem_id="ranking-info")
                    ui.ranking = gr.Dataframe(label="ranking", elem_id="ranking", interactive=False, wrap=True)
                    ui.ranking_plot = gr.Plot(label="ranking chart", show_label=False, elem_id="ranking-plot")


def _prediction_area(ui: SimpleNamespace, first: tuple | None) -> None:
    ui.prediction = _area("prediction-area")
    answer, headline, chart, table = first or (None, "", None, None)
    with ui.prediction.results:
        ui.headline = gr.Markdown(headline, label="headline", elem_id="prediction")
        with gr.Row():
            with gr.Column(scale=3, min_width=340):
                ui.pred_plot = gr.HTML(chart, label="chart", elem_id="prediction-plot")
            with gr.Column(scale=2, min_width=300):
                ui.pred_table = gr.Dataframe(table, label="Predictions (points 0–100)", elem_id="prediction-table",
                                             interactive=False, max_height=600)
        with gr.Accordion("JSON, as returned by the API (api_name='predict')", open=False):
            ui.pred_json = gr.JSON(answer, label="prediction", elem_id="prediction-json")


def _lineage_tab(ui: SimpleNamespace, example: str) -> None:
    with gr.Row():
        ui.lineage_model = gr.Textbox(max_lines=1, label="Model id", value=example, elem_id="lineage-model", scale=4,
                                      min_width=240)
        ui.hops = gr.Slider(1, 4, value=2, step=1, label="Hops (lineage steps either way)", elem_id="hops", scale=2,
                            min_width=200)
        ui.colour_suite = gr.Dropdown(choices=ui.suite_labels, value=ui.suite_labels[0], label="Colour by", scale=2,
                                      min_width=140)
        ui.lineage_btn = gr.Button("Show family", variant="primary", elem_id="lineage-btn", scale=1, min_width=120)
    ui.lineage_area = _area("lineage-area")
    with ui.lineage_area.results:
        ui.lineage_info = gr.Markdown(label="summary", elem_id="lineage-info")
        ui.lineage_plot = gr.Plot(label="family tree", show_label=False, elem_id="lineage")


def _leaderboard_tab(ui: SimpleNamespace, service: SpaceService, has_data: bool) -> None:
    columns = ui.suite_labels + [display_name(b) for b in sorted(service.benchmarks, key=tables.leaderboard_order)]
    with gr.Row(visible=has_data, elem_id="lb-controls") as ui.lb_controls:
        ui.search = gr.Textbox(label="Search model or parent", elem_id="lb-search", scale=3, min_width=200)
        ui.column = gr.Dropdown(choices=columns, value=columns[0], label="Score shown", scale=2, min_width=140)
        ui.sort = gr.Radio(choices=list(tables.LEADERBOARD_SORTS), value="predicted", label="Sort by", scale=3,
                           min_width=240)
        ui.measured_only = gr.Checkbox(label="Measured only", scale=1, min_width=120)
        ui.refresh = gr.Button("Refresh", scale=1, min_width=100)
    ui.lb_info = gr.Markdown(None if has_data else NO_PREDICTIONS, label="summary", elem_id="lb-info")
    ui.board = gr.Dataframe(label="predicted models", show_label=False, elem_id="leaderboard", interactive=False,
                            max_height=640, wrap=True, visible=has_data,
                            datatype=["str", "str", "number", "str", "number", "number", "str", "markdown"],
                            # fixed widths: a phone scrolls the table inside its box, columns stay readable
                            column_widths=["230px", "300px", "90px", "120px", "90px", "70px", "120px", "60px"])


def _track_tab(ui: SimpleNamespace) -> None:
    gr.Markdown("## The bot's predictions, measured later")
    ui.bot_info = gr.Markdown(label="bot summary", elem_id="track-info")
    with gr.Row(visible=False) as ui.bot_area:
        with gr.Column(scale=3, min_width=340):
            ui.scatter = gr.Plot(label="predicted vs measured", show_label=False, elem_id="scatter")
        with gr.Column(scale=2, min_width=300):
            ui.track_table = gr.Dataframe(label="per benchmark", interactive=False, elem_id="track-table")
    gr.Markdown("## Backtest on held-out models")
    ui.bt_info = gr.Markdown(label="backtest summary", elem_id="backtest-info")
    with gr.Column(visible=False) as ui.backtest_area:
        with gr.Row():
            with gr.Column(min_width=340):
                ui.error_plot = gr.Plot(label="error chart", show_label=False, elem_id="error-budget")
            with gr.Column(min_width=340):
                ui.coverage_plot = gr.Plot(label="coverage chart", show_label=False, elem_id="coverage")
        with gr.Accordion("Backtest results table", open=False):
            ui.bt_table = gr.Dataframe(label="backtest table", interactive=False, elem_id="backtest", max_height=500)
    ui.track_refresh = gr.Button("Refresh", elem_id="track-refresh")


def build(service: SpaceService, example: str, first: tuple | None, has_hub: bool) -> SimpleNamespace:
    """Every component of the page, inside the current ``gr.Blocks``; returned by name for wiring."""
    ui = SimpleNamespace(suite_labels=[tables.suite_label(s) for s in service.suites] or ["Average"])
    gr.Markdown(
        "# Predicted LLM benchmark scores\n"
        "A model's full Open LLM Leaderboard scores, with 90% intervals, predicted from its lineage (the models it "
        "was fine-tuned, merged, adapted or quantised from), its metadata and, optionally, a small evaluated subset. "
        f"Reference: **{len(service.models_with_scores):,} models** with scores on **{len(service.benchmarks)} "
        f"benchmarks**, **{len(service.graph.edges):,} lineage edges**. Scores are points 0–100 on the "
        "leaderboard's scale.")
    with gr.Tabs(elem_id="tabs", overflow_behavior="wrap"):  # every tab a visible button on a phone
        with gr.Tab("Predict", id="predict"):
            _predict_tab(ui, example, has_hub)
            _prediction_area(ui, first)
        with gr.Tab("Lineage", id="lineage-tab") as ui.lineage_tab:
            _lineage_tab(ui, example)
        with gr.Tab("Leaderboard", id="leaderboard-tab") as ui.leaderboard_tab:
            _leaderboard_tab(ui, service, service.has_predictions())
        with gr.Tab("Track record", id="track-tab") as ui.track_tab:
            _track_tab(ui)
    return ui

"""The Gradio Space: predicted benchmark scores, lineage and the predictor's track record.

``build_demo`` wires a :class:`service.SpaceService` (all the computing) to four tabs; run this file
to serve it. Configuration comes from the environment: ``LRMF_REF`` (reference directory, required),
``LRMF_BOT_STATE`` (the bot's prediction log), ``LRMF_HUB_ENDPOINT`` (Hub to read lineage of models
outside the reference), ``LRMF_BACKTEST`` (a backtest ``results.csv`` or its report directory) and
Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.
"""
from __future__ import annotations

import os

# before gradio or huggingface_hub are imported: a Space must not phone home on its own
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import functools
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper modules beside this file

import figures  # noqa: E402
import tables  # noqa: E402
from lrmf_plugin.errors import LrmfError  # noqa: E402
from lrmf_plugin.schema import RELATIONS  # noqa: E402
from service import ModelPrediction, SpaceService  # noqa: E402

log = logging.getLogger("lrmf.space")

CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
#prediction h3 {margin-top: 0.2em;}
"""


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a visitor's mistake as a one-line ``gr.Error``; log anything else, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (LrmfError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error("internal error: the Space's log has the details", print_exception=False) from None
    return wrapper


def _md(text: str) -> str:
    """Model ids in markdown: ``_`` and ``*`` would otherwise turn into emphasis."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)


def _hub_link(model: str) -> str:
    return f"[{_md(model)}](https://huggingface.co/{model})"


def _headline(result: ModelPrediction) -> str:
    """The result's first lines: whose prediction, from which lineage, the suite averages."""
    lines = [f"### {_md(result.model)}"]
    if result.parents:
        by_relation: dict[str, list[str]] = {}
        for parent, relation in result.parents:
            by_relation.setdefault(relation, []).append(_hub_link(parent))
        where = {"reference": "lineage from the reference", "hub": "lineage from the Hub",
                 "given": "lineage as chosen"}.get(result.lineage_source, "")
        lines.append("; ".join(f"**{rel}** of {' + '.join(ps)}" for rel, ps in by_relation.items())
                     + (f" · {where}" if where else ""))
    parts = []
    for suite, avg in result.averages.items():
        text = (f"**{tables.suite_label(suite)}: {avg['predicted']:.1f}** "
                f"(90% interval {avg['lower']:.1f} – {avg['upper']:.1f})")
        if "measured" in avg:
            text += f", measured {avg['measured']:.1f}"
        parts.append(text)
    if parts:
        lines.append(" · ".join(parts))
    lines += [f"_{_md(note)}_" for note in result.notes]
    return "\n\n".join(lines)


def _show(result: ModelPrediction) -> tuple[dict[str, Any], str, Any, pd.DataFrame]:
    """The four outputs every prediction shares: JSON (API), headline, chart, table."""
    title = f"Predicted scores of {result.model}" if len(result.model) < 70 else "Predicted scores"
    return (result.as_json(), _headline(result), figures.prediction_figure(result.frame, title),
            tables.display_predictions(result.frame))


def _pick_example(service: SpaceService) -> str:
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


def build_demo(ref_dir: str | Path, bot_state: str | Path | None = None, hub_endpoint: str | None = None,
               backtest: str | Path | None = None) -> gr.Blocks:
    """The Space's Blocks app over the reference in ``ref_dir`` (fitted with ``lm-eval-predict fit``)."""
    service = SpaceService(ref_dir, bot_state=bot_state, hub_endpoint=hub_endpoint, backtest=backtest)
    example = _pick_example(service)
    suites = list(service.suites)
    leaderboard_columns = [tables.suite_label(s) for s in suites] + sorted(service.benchmarks)

    @_friendly
    def predict(model_id: str) -> tuple[dict[str, Any], str, Any, pd.DataFrame]:
        """Predicted score and 90% interval for every benchmark of the reference, for one model id."""
        return _show(service.predict_model(model_id))

    @_friendly
    def predict_upload(files: list[str] | None, model_id: str) -> tuple[dict[str, Any], str, Any, pd.DataFrame]:
        """Full-task predictions from the results/samples files of an lm-eval subset run."""
        return _show(service.predict_upload(files or [], model_id or ""))

    @_friendly
    def what_if(parents: list[str] | None, relation: str) -> tuple[dict[str, Any], str, Any, pd.DataFrame]:
        """Predicted scores of a model made from the chosen parents by the chosen relation."""
        return _show(service.what_if(parents or [], relation))

    @_friendly
    def rank_merges(candidates: str, suite: str) -> tuple[pd.DataFrame, Any]:
        """Candidate merges (one per line, parents joined by '+') ranked by predicted suite average."""
        frame = service.rank_merges(candidates, suite)
        return tables.display_ranking(frame), figures.ranking_figure(frame, f"Candidate merges by predicted {tables.suite_label(suite)}")

    @_friendly
    def lineage(model_id: str, hops: float, suite: str) -> tuple[str, Any]:
        """The family tree around a model, coloured by measured or predicted suite average."""
        nodes, edges, average, measured, total = service.family_tree(model_id, int(hops), suite)
        model = nodes[0]
        info = (f"### {_md(model)}\n\n{len(nodes) - 1} of {total} relatives within {int(hops)} hops "
                f"(closest first) · colour = {tables.suite_label(suite)}: ● measured, ◆ predicted · "
                f"parents left of their children")
        fig = figures.lineage_figure(nodes, edges, model, average, measured,
                                     f"Family of {model}" if len(model) < 70 else "Family tree")
        return info, fig

    @_friendly
    def leaderboard(search: str, column: str, sort: str, measured_only: bool) -> tuple[str, pd.DataFrame]:
        """Every model the bot predicted, with its interval, measured score and discussion link."""
        table = service.prediction_log()
        if table is None:
            return "_No bot store configured: set `LRMF_BOT_STATE` to the bot's state file._", pd.DataFrame()
        frame = tables.leaderboard_frame(table, service.suites, column, search or "", bool(measured_only), sort)
        n_models = table["model"].nunique()
        return (f"{len(frame)} of {n_models} predicted models · column: **{column}** · "
                "interval = 90% prediction interval", frame)

    @_friendly
    def track_record() -> tuple[str, Any, pd.DataFrame, str, Any, Any, pd.DataFrame]:
        """Predicted vs measured for the bot's models, and the backtest's error and coverage curves."""
        table = service.prediction_log()
        if table is None:
            bot_md, scatter, summary = ("_No bot store configured._", figures.empty_figure("no bot store"),
                                        pd.DataFrame())
        else:
            done = tables.track_record(table)
            summary = tables.track_summary(done)
            if done.empty:
                bot_md = (f"The bot has predicted {table['model'].nunique()} models; none has been measured yet. "
                          "Points appear here once the leaderboard evaluates them.")
                scatter = figures.empty_figure("no measured scores yet")
            else:
                n = done["model"].nunique()
                bot_md = (f"**{n} predicted model{'s' if n != 1 else ''} measured later**: "
                          f"mean absolute error {done['error'].abs().mean():.2f} points, "
                          f"{100 * done['covered'].mean():.0f}% inside their 90% interval (target 90%).")
                scatter = figures.scatter_figure(done, "Bot predictions vs measured scores")
        results = service.backtest_results()
        bt_md, error_fig, coverage_fig, bt_table = _backtest_view(results)
        return bot_md, scatter, summary, bt_md, error_fig, coverage_fig, bt_table

    with gr.Blocks(title="LRMF: predicted LLM benchmark scores") as demo:
        n_edges = len(service.graph.edges)
        gr.Markdown(
            "# Predicted LLM benchmark scores\n"
            "Predicts a model's full benchmark scores, with calibrated 90% intervals, from its lineage (the models it "
            "was fine-tuned, merged, adapted or quantised from), its metadata and, optionally, a small evaluated "
            f"subset. Reference: **{len(service.models_with_scores):,} models** with scores on "
            f"**{len(service.benchmarks)} benchmarks**, **{n_edges:,} lineage edges**. Scores are points 0–100 on "
            "the leaderboard's scale.")
        with gr.Tabs():
            with gr.Tab("Predict", id="predict"):
                with gr.Tabs():
                    with gr.Tab("By model id", id="by-id"):
                        with gr.Row():
                            model_id = gr.Textbox(label="Model id", placeholder="org/name", value=example,
                                                  elem_id="model-id", scale=5)
                            predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn", scale=1)
                        gr.Markdown("Models in the reference use their known lineage"
                                    + (" ; others are looked up on the Hub." if hub_endpoint else
                                       "; for a new model, use **What if** with its parents."))
                    with gr.Tab("From an lm-eval run", id="upload"):
                        gr.Markdown("Drop the `results_*.json` and `samples_*.jsonl` files of an lm-eval run on a "
                                    "subset of instances (e.g. `lm-eval-predict run` or a stock run with "
                                    "`--log_samples`): the evaluated items pin the model down, the rest is predicted.")
                        with gr.Row():
                            files = gr.File(label="lm-eval output files", file_count="multiple",
                                            file_types=[".json", ".jsonl"], elem_id="upload-files", scale=3)
                            with gr.Column(scale=2):
                                upload_model = gr.Textbox(label="Model id (optional, else from the run's model_args)",
                                                          elem_id="upload-model")
                                upload_btn = gr.Button("Predict from run", variant="primary", elem_id="upload-btn")
                    with gr.Tab("What if", id="what-if"):
                        gr.Markdown("Choose parents and a relation: the predicted scores of the child, before "
                                    "anyone trains or merges it.")
                        with gr.Row():
                            parents = gr.Dropdown(choices=service.models_with_scores, multiselect=True,
                                                  allow_custom_value=True, label="Parents", elem_id="whatif-parents",
                                                  scale=4)
                            relation = gr.Dropdown(choices=[r for r in RELATIONS if r != "family"], value="merge",
                                                   label="Relation", elem_id="whatif-relation", scale=1)
                            whatif_btn = gr.Button("Predict child", variant="primary", elem_id="whatif-btn", scale=1)
                        with gr.Accordion("Rank candidate merges", open=False):
                            with gr.Row():
                                candidates = gr.Textbox(label="Candidates: one per line, parents joined by +",
                                                        lines=4, elem_id="candidates", scale=4,
                                                        placeholder="org/model-a + org/model-b")
                                with gr.Column(scale=1):
                                    rank_suite = gr.Dropdown(choices=suites, value=suites[0] if suites else None,
                                                             label="Rank by average of suite")
                                    rank_btn = gr.Button("Rank", elem_id="rank-btn")
                            ranking = gr.Dataframe(label="Ranking (predicted, points 0–100)", elem_id="ranking",
                                                   interactive=False, wrap=True)
                            ranking_plot = gr.Plot(show_label=False, elem_id="ranking-plot")
                headline = gr.Markdown(elem_id="prediction")
                with gr.Row():
                    with gr.Column(scale=3):
                        pred_plot = gr.Plot(show_label=False, elem_id="prediction-plot")
                    with gr.Column(scale=2):
                        pred_table = gr.Dataframe(label="Predictions (points 0–100)", elem_id="prediction-table",
                                                  interactive=False, max_height=600)
                with gr.Accordion("JSON, as returned by the API (api_name='predict')", open=False):
                    pred_json = gr.JSON(elem_id="prediction-json")
            with gr.Tab("Lineage", id="lineage-tab"):
                with gr.Row():
                    lineage_model = gr.Textbox(label="Model id", value=example, elem_id="lineage-model", scale=4)
                    hops = gr.Slider(1, 4, value=2, step=1, label="Hops", scale=2)
                    colour_suite = gr.Dropdown(choices=suites, value=suites[0] if suites else None,
                                               label="Colour by average of suite", scale=2)
                    lineage_btn = gr.Button("Show family", variant="primary", elem_id="lineage-btn", scale=1)
                lineage_info = gr.Markdown(elem_id="lineage-info")
                lineage_plot = gr.Plot(show_label=False, elem_id="lineage")
            with gr.Tab("Leaderboard", id="leaderboard-tab"):
                with gr.Row():
                    search = gr.Textbox(label="Search model or parent", elem_id="lb-search", scale=3)
                    column = gr.Dropdown(choices=leaderboard_columns,
                                         value=leaderboard_columns[0] if leaderboard_columns else None,
                                         label="Score shown", scale=2)
                    sort = gr.Radio(choices=list(tables.LEADERBOARD_SORTS), value="predicted", label="Sort by",
                                    scale=3)
                    measured_only = gr.Checkbox(label="Measured only", scale=1)
                    refresh = gr.Button("Refresh", scale=1)
                lb_info = gr.Markdown(elem_id="lb-info")
                board = gr.Dataframe(elem_id="leaderboard", interactive=False, max_height=640, wrap=True,
                                     datatype=["str", "str", "number", "str", "number", "number", "str", "markdown"],
                                     column_widths=["21%", "29%", "9%", "12%", "9%", "6%", "9%", "5%"])
            with gr.Tab("Track record", id="track-tab"):
                gr.Markdown("## The bot's predictions, measured later")
                bot_info = gr.Markdown(elem_id="track-info")
                with gr.Row():
                    with gr.Column(scale=3):
                        scatter = gr.Plot(show_label=False, elem_id="scatter")
                    with gr.Column(scale=2):
                        track_table = gr.Dataframe(label="Per benchmark", interactive=False, elem_id="track-table")
                gr.Markdown("## Backtest on held-out models")
                bt_info = gr.Markdown(elem_id="backtest-info")
                with gr.Row():
                    error_plot = gr.Plot(show_label=False, elem_id="error-budget")
                    coverage_plot = gr.Plot(show_label=False, elem_id="coverage")
                with gr.Accordion("Backtest results table", open=False):
                    bt_table = gr.Dataframe(interactive=False, elem_id="backtest", max_height=500)
                track_refresh = gr.Button("Refresh", elem_id="track-refresh")

        prediction_outputs = [pred_json, headline, pred_plot, pred_table]
        # events that also run on page load: "always_last", so a user's trigger while the page-load run
        # is still pending is queued rather than dropped (Gradio's default drops it)
        queued = {"trigger_mode": "always_last"}
        gr.on([predict_btn.click, model_id.submit, demo.load], predict, [model_id], prediction_outputs, api_name="predict",
              **queued)
        upload_btn.click(predict_upload, [files, upload_model], prediction_outputs, api_name="predict_upload")
        whatif_btn.click(what_if, [parents, relation], prediction_outputs, api_name="what_if")
        rank_btn.click(rank_merges, [candidates, rank_suite], [ranking, ranking_plot], api_name="rank_merges")
        gr.on([lineage_btn.click, lineage_model.submit, demo.load], lineage, [lineage_model, hops, colour_suite],
              [lineage_info, lineage_plot], api_name="lineage", **queued)
        gr.on([demo.load, refresh.click, search.submit, column.change, sort.change, measured_only.change],
              leaderboard, [search, column, sort, measured_only], [lb_info, board], api_name="leaderboard", **queued)
        gr.on([demo.load, track_refresh.click], track_record, None,
              [bot_info, scatter, track_table, bt_info, error_plot, coverage_plot, bt_table], api_name="track_record",
              **queued)
    return demo


def _backtest_view(results: pd.DataFrame | None) -> tuple[str, Any, Any, pd.DataFrame]:
    """Error-vs-budget and coverage figures, and the MAE table, from the backtest's ``results.csv``."""
    if results is None:
        none = figures.empty_figure("no backtest report found")
        return ("_No backtest results: run `lm-eval-predict backtest --out DIR` and set `LRMF_BACKTEST` "
                "(or keep the report in `backtest/` inside the reference)._", none, none, pd.DataFrame())
    colours = figures.method_colours(results["method"].unique())
    curves = tables.backtest_curves(results)
    coverage = tables.backtest_means(results, "coverage")
    if len(curves):
        error_fig = figures.curve_figure(curves, "items per benchmark", "mae", "series", "Error vs evaluation budget",
                                         "evaluated items per benchmark (0 = lineage and metadata only)",
                                         "mean absolute error (points, mean over benchmarks)")
    else:  # no item-level settings (e.g. a reference of leaderboard scores only): error per setting
        error_fig = figures.setting_bars(tables.backtest_means(results, "mae"), "mae", "Error by setting",
                                         "mean absolute error (points, mean over benchmarks)", colours=colours)
    coverage_fig = (figures.setting_bars(coverage, "coverage", "90% interval coverage on held-out models",
                                         "true scores inside the 90% interval (%)", scale=100, band=(0.85, 0.95),
                                         colours=colours)
                    if len(coverage) else figures.empty_figure("no intervals in the backtest"))
    methods = sorted(results["method"].unique())
    info = (f"Models the predictor never saw (k-fold by model, lineage kept); {len(methods)} methods compared: "
            f"{', '.join(methods)}. Lower error is better; coverage should sit in the green band.")
    return info, error_fig, coverage_fig, tables.backtest_summary(results)


def main() -> None:
    """Serve the Space with settings from the environment (see the module docstring)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ref = os.environ.get("LRMF_REF")
    if not ref:
        print("error: set LRMF_REF to a fitted reference directory (lm-eval-predict fit --ref DIR)", file=sys.stderr)
        sys.exit(2)
    try:
        demo = build_demo(ref, bot_state=os.environ.get("LRMF_BOT_STATE") or None,
                          hub_endpoint=os.environ.get("LRMF_HUB_ENDPOINT") or None,
                          backtest=os.environ.get("LRMF_BACKTEST") or None)
    except LrmfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    demo.queue(default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ["GRADIO_SERVER_PORT"]) if os.environ.get("GRADIO_SERVER_PORT") else None,
        css=CSS, footer_links=["api"], ssr_mode=False)


if __name__ == "__main__":
    main()

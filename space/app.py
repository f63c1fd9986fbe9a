"""The Gradio Space: predicted benchmark scores, lineage and the predictor's track record.

``build_demo`` wires a :class:`service.SpaceService` (all the computing) and :mod:`views` (what is
shown) to four tabs; run this file to serve it. Configuration comes from the environment: ``LRMF_REF``
(reference directory; unset: the default fitted reference, pulled from the Hub on first start), ``LRMF_BOT_STATE`` (the bot's prediction log), ``LRMF_HUB_ENDPOINT``
(Hub to read lineage of models outside the reference), ``LRMF_BACKTEST`` (a backtest ``results.csv``
or its report directory) and Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.
"""
from __future__ import annotations

import os

# before gradio or huggingface_hub are imported: a Space must not phone home on its own
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import inspect
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import gradio as gr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper modules beside this file

import figures  # noqa: E402
import layout  # noqa: E402
import tables  # noqa: E402
import views  # noqa: E402
from lrmf_plugin.commands import reference_dir
from lrmf_plugin.errors import LrmfError  # noqa: E402
from service import SpaceService  # noqa: E402

log = logging.getLogger("lrmf.space")

#: The last failure of each (session, action), for the failure step that shows it in place.
_FAILURES: dict[tuple[str, str], str] = {}


def _friendly(action: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A visitor's mistake becomes a one-line ``gr.Error`` for API clients; the browser shows it in the
    result area instead of a toast (see :func:`_wire`). Anything else is logged, never a traceback."""
    def wrapper(*args: Any) -> Any:
        *values, request = args  # Gradio passes the request last, as the signature below asks
        try:
            return fn(*values)
        except (LrmfError, ValueError) as exc:
            message = str(exc)
        except Exception:
            log.exception("unexpected error in %s", action)
            message = "Something went wrong inside the Space; its log has the details."
        if request is not None and request.session_hash:
            if len(_FAILURES) > 10_000:  # a bound, not a cache: entries are popped as soon as they are shown
                _FAILURES.clear()
            _FAILURES[(request.session_hash, action)] = message
        raise gr.Error(message, visible=False, print_exception=False)

    # Gradio reads the signature and type hints to pass inputs and the request, the docstring for the API page
    sig = inspect.signature(fn)
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), request])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**fn.__annotations__, "request": gr.Request}
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def _wire(triggers: list[Any], action: str, fn: Callable[..., Any], inputs: list[Any], outputs: list[Any],
          panel: layout.ResultArea, **kwargs: Any) -> None:
    """An action with an API name whose outputs replace ``panel``'s results, or, when it fails, one
    message replacing the whole result area."""
    def failed(request: gr.Request) -> tuple[Any, Any]:
        message = _FAILURES.pop((request.session_hash, action), "That did not work.")
        return gr.update(value=views.error_panel(message, action), visible=True), gr.update(visible=False)

    event = gr.on(triggers, _friendly(action, fn), inputs, outputs, api_name=action, **kwargs)
    event.success(lambda: (gr.update(visible=False), gr.update(visible=True)), None, [panel.error, panel.results],
                  api_visibility="private", queue=False, show_progress="hidden")
    event.failure(failed, None, [panel.error, panel.results], api_visibility="private", queue=False,
                  show_progress="hidden")


class Actions:
    """What each event does: the service's answer, turned into the event's outputs by :mod:`views`.
    The docstrings are the API page's descriptions."""

    def __init__(self, service: SpaceService):
        self.service = service
        self.suites = service.suites

    def predict(self, model_id: str) -> tuple[dict[str, Any], str, Any, Any]:
        """Predicted score and 90% interval for every benchmark of the reference, for one model id."""
        return views.prediction(self.service.predict_model(model_id), self.suites)

    def predict_upload(self, files: list[str] | None, model_id: str) -> tuple[dict[str, Any], str, Any, Any]:
        """Full-task predictions from the results/samples files of an lm-eval subset run."""
        return views.prediction(self.service.predict_upload(files or [], model_id or ""), self.suites)

    def what_if(self, parents: list[str] | None, relation: str) -> tuple[dict[str, Any], str, Any, Any]:
        """Predicted scores of a model made from the chosen parents by the chosen relation."""
        return views.prediction(self.service.what_if(parents or [], relation), self.suites)

    def rank_merges(self, candidates: str, suite: str) -> tuple[str, Any, Any]:
        """Candidate merges (one per line, parents joined by '+') ranked by predicted suite average."""
        frame = self.service.rank_merges(candidates, layout.suite_of(suite, self.suites))
        return (tables.ranking_summary(frame), tables.styled(tables.display_ranking(frame)),
                figures.ranking_figure(frame, f"Candidate merges by predicted {suite}"))

    def lineage(self, model_id: str, hops: float, suite: str) -> tuple[str, Any]:
        """The family tree around a model, coloured by measured or predicted suite average."""
        code = layout.suite_of(suite, self.suites)
        tree, average, measured = self.service.family_tree(model_id, int(hops), code)
        model = tree.nodes[0]
        info = views.lineage_info(model, len(tree.models) - 1, tree.total, int(hops), len(tree.groups), code)
        title = f"Family of {model}" if len(model) < 60 else "Family tree"
        fig = figures.lineage_figure(tree.nodes, tree.edges, model, average, measured, title, tree.groups)
        return info, fig

    def leaderboard(self, search: str, column: str, sort: str, measured_only: bool) -> tuple[str, Any]:
        """Every model the bot predicted, with its interval, measured score and discussion link."""
        table = self.service.prediction_log()
        if table is None or table.empty:
            return layout.NO_PREDICTIONS, None
        frame = tables.leaderboard_frame(table, self.suites, column, search or "", bool(measured_only), sort)
        info = (f"{len(frame)} of {table['model'].nunique()} predicted models · column: **{column}** · "
                f"interval = 90% prediction interval · {tables.suite_explainer(self.suites)}")
        return info, tables.styled(frame)

    def track_record(self) -> tuple[str, Any, Any, str, Any, Any, Any]:
        """Predicted vs measured for the bot's models, and the backtest's error and coverage curves."""
        bot_md, scatter, summary, _ = views.bot_view(self.service.prediction_log())
        bt_md, error_fig, coverage_fig, bt_table, _ = views.backtest_view(self.service.backtest_results())
        return bot_md, scatter, summary, bt_md, error_fig, coverage_fig, bt_table

    def search_parents(self, chosen: list[str] | None, text: str) -> Any:
        """The parents chosen so far, then the reference's models matching the search text."""
        return gr.update(choices=list(dict.fromkeys([*(chosen or []), *self.service.search_models(text)])))

    def add_parent(self, chosen: list[str] | None, text: str) -> tuple[Any, str]:
        """The best match of the search text added to the parents; the search box cleared for the next."""
        found = self.service.search_models(text)
        chosen = list(dict.fromkeys([*(chosen or []), *found[:1]]))
        return gr.update(choices=list(dict.fromkeys([*chosen, *found])), value=chosen), ""


def build_demo(ref_dir: str | Path, bot_state: str | Path | None = None, hub_endpoint: str | None = None,
               backtest: str | Path | None = None) -> gr.Blocks:
    """The Space's Blocks app over the reference in ``ref_dir`` (fitted with ``lm-eval-predict fit``)."""
    service = SpaceService(ref_dir, bot_state=bot_state, hub_endpoint=hub_endpoint, backtest=backtest)
    example = layout.pick_example(service)
    # the first chart is part of the page: computed once here, so a visitor sees it without a round trip
    first = views.prediction(service.predict_model(example), service.suites) if example else None
    act = Actions(service)

    with gr.Blocks(title="Predicted LLM benchmark scores") as demo:
        ui = layout.build(service, example, first, hub_endpoint is not None)
        queued = {"trigger_mode": "always_last"}
        prediction_outputs = [ui.pred_json, ui.headline, ui.pred_plot, ui.pred_table]
        _wire([ui.predict_btn.click, ui.model_id.submit], "predict", act.predict, [ui.model_id],
              prediction_outputs, ui.prediction, **queued)
        _wire([ui.upload_btn.click], "predict_upload", act.predict_upload, [ui.files, ui.upload_model],
              prediction_outputs, ui.prediction)
        _wire([ui.whatif_btn.click], "what_if", act.what_if, [ui.parents, ui.relation], prediction_outputs,
              ui.prediction)
        private = {"api_visibility": "private", "show_progress": "hidden"}
        ui.parent_search.change(act.search_parents, [ui.parents, ui.parent_search], [ui.parents],
                                trigger_mode="always_last", **private)
        ui.parent_search.submit(act.add_parent, [ui.parents, ui.parent_search], [ui.parents, ui.parent_search],
                                **private)
        _wire([ui.rank_btn.click], "rank_merges", act.rank_merges, [ui.candidates, ui.rank_suite],
              [ui.ranking_info, ui.ranking, ui.ranking_plot], ui.ranking_area)
        _wire([ui.lineage_btn.click, ui.lineage_model.submit, ui.lineage_tab.select, ui.hops.release], "lineage",
              act.lineage, [ui.lineage_model, ui.hops, ui.colour_suite], [ui.lineage_info, ui.lineage_plot],
              ui.lineage_area, **queued)
        gr.on([ui.leaderboard_tab.select, ui.refresh.click, ui.search.submit, ui.column.change, ui.sort.change,
               ui.measured_only.change], act.leaderboard, [ui.search, ui.column, ui.sort, ui.measured_only],
              [ui.lb_info, ui.board], api_name="leaderboard", **queued
              ).success(lambda: [gr.update(visible=service.has_predictions())] * 2, None, [ui.lb_controls, ui.board],
                        api_visibility="private", queue=False, show_progress="hidden")
        gr.on([ui.track_tab.select, ui.track_refresh.click], act.track_record, None,
              [ui.bot_info, ui.scatter, ui.track_table, ui.bt_info, ui.error_plot, ui.coverage_plot, ui.bt_table],
              api_name="track_record", **queued
              ).success(lambda: (gr.update(visible=views.bot_view(service.prediction_log())[3]),
                                 gr.update(visible=service.backtest is not None)),
                        None, [ui.bot_area, ui.backtest_area], api_visibility="private", queue=False,
                        show_progress="hidden")
    return demo


def main() -> None:
    """Serve the Space with settings from the environment (see the module docstring)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # LRMF_REF, else the default fitted reference, pulled from the Hub on first start (never fitted here)
        ref = reference_dir(None)
        demo = build_demo(ref, bot_state=os.environ.get("LRMF_BOT_STATE") or None,
                          hub_endpoint=os.environ.get("LRMF_HUB_ENDPOINT") or None,
                          backtest=os.environ.get("LRMF_BACKTEST") or None)
    except LrmfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    demo.queue(default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ["GRADIO_SERVER_PORT"]) if os.environ.get("GRADIO_SERVER_PORT") else None,
        css=layout.CSS, footer_links=["api"], ssr_mode=False)


if __name__ == "__main__":
    main()

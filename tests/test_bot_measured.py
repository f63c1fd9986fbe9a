"""Measured scores flow back: a model the bot predicted later gains evaluation results on the Hub; the bot
re-reads them on its schedule and records them, and the Space's Track record shows predicted vs measured."""
from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot_helpers import NOW, cfg, created, family_scores, finetune_of, hub  # noqa: F401  (fixture)
from fakehub_evalresults import eval_results_yaml, leaderboard_card
from lrmf_bot.poller import run_once
from lrmf_plugin.eval_results import SUITE, own_benchmark
from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.reference import Reference
from lrmf_plugin.schema import BenchmarkInfo, Prediction
from lrmf_plugin.sources import SourceData
from lrmf_plugin.track_record import PredictionLog

GPQA_D = own_benchmark("Idavidrein/gpqa", "gpqa_diamond")
NEW = "alice/new-tune"
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Eight families on the six v2 benchmarks plus gpqa_diamond from evaluation results (30 of 40 models)."""
    from lrmf_plugin.api import Lrmf

    models, edges = family_scores(seed=1, n_scores=len(BENCHMARKS) + 1, scale=8.0)
    rows = [(name, b, float(s)) for name, _, _, scores in models for b, s in zip(BENCHMARKS, scores)]
    rows += [(name, GPQA_D, float(scores[-1])) for name, f, j, scores in models if j < 4 or f < 2]
    meta = [{"model": name, "params_b": float(2 ** (f % 4)), "architecture": "LlamaForCausalLM"}
            for name, f, _, _ in models]
    path = tmp_path_factory.mktemp("ref")
    Reference.create(path).write_source(SourceData(
        key="synthetic", kind="test", location="test_bot_measured", edges=edges, metadata=pd.DataFrame(meta),
        scores=pd.DataFrame(rows, columns=["model", "benchmark", "score"]),
        benchmarks={GPQA_D: BenchmarkInfo(GPQA_D, suite=SUITE, has_scores=True)}))
    Lrmf(path).fit(progress=False, metadata_model="ridge", calibration_share=0.5)
    return path


def _predicted_then_measured(reference: Path, hub, tmp_path: Path) -> PredictionLog:  # noqa: F811
    """The bot predicts NEW; a day later NEW carries an ``.eval_results`` file and a leaderboard card."""
    hub.add_model(NEW, created_at=created(120), tags=finetune_of("fam1/ft0"), files={"README.md": b"# tune\n"})
    first = run_once(cfg(reference, hub, tmp_path), now=NOW)
    assert first.predicted == 1 and first.posted == 1 and first.measured == 0
    log = PredictionLog(tmp_path / "bot.sqlite")
    assert GPQA_D in {p.benchmark for p in log.latest(NEW).scores}
    post = hub.discussions(NEW)[0]["events"][0]["data"]["latest"]["raw"]
    assert "`.eval_results/`" in post and "track record" in post
    assert "IFEval" in post and "gpqa_diamond" not in post  # logged for the track record, not posted
    hub.commit_model_file(NEW, ".eval_results/gpqa.yaml", eval_results_yaml([
        {"dataset": "Idavidrein/gpqa", "task": "gpqa_diamond", "value": 37.5, "date": "2026-12-05T08:00:00Z",
         "source": "https://huggingface.co/datasets/alice/new-tune-evals"}]))
    hub.commit_model_file(NEW, "README.md", leaderboard_card(NEW, {"ifeval": 64.0}))
    later = run_once(cfg(reference, hub, tmp_path), now=NOW + DAY + timedelta(minutes=1))
    assert later.measured_checked == 1 and later.measured == 2, later
    return log


def test_a_predicted_model_gaining_eval_results_is_measured_on_the_next_due_run(reference, hub, tmp_path):  # noqa: F811
    log = _predicted_then_measured(reference, hub, tmp_path)
    details = log.measured_details()
    assert details[(NEW, GPQA_D)] == (37.5, "2026-12-05T08:00:00Z",
                                      "https://huggingface.co/datasets/alice/new-tune-evals")
    score, _, source = details[(NEW, "ifeval")]
    assert score == 64.0 and "open-llm-leaderboard" in source
    row = log.table().set_index("benchmark").loc[GPQA_D]
    assert row["measured"] == 37.5 and row["evidence"] == "a measured relative"
    # read again only when due: not an hour later, and every request of the re-read was counted
    before = len(hub.requests_to(rf"/api/models/{NEW}/tree/"))
    soon = run_once(cfg(reference, hub, tmp_path), now=NOW + DAY + timedelta(hours=1))
    assert soon.measured_checked == 0 and len(hub.requests_to(rf"/api/models/{NEW}/tree/")) == before


def test_rereads_are_daily_for_ninety_days_then_weekly(tmp_path):
    log = PredictionLog(tmp_path / "log.sqlite")
    for model, age in (("a/young", 10), ("b/old", 200)):
        log.record(model, [Prediction(model, "x", 50.0, 40.0, 60.0)], predictor="p",
                   created_at=(NOW - timedelta(days=age)).isoformat())
    assert log.due_for_reread(NOW, limit=10) == ["a/young", "b/old"]  # never read: both due
    for model in ("a/young", "b/old"):
        log.mark_checked(model, NOW)
    assert log.due_for_reread(NOW + 2 * DAY, limit=10) == ["a/young"]
    assert log.due_for_reread(NOW + 8 * DAY, limit=1) == ["a/young"]  # the limit bounds a run
    assert log.due_for_reread(NOW + 8 * DAY, limit=10) == ["a/young", "b/old"]


def test_reference_import_records_measured_scores_for_logged_models(reference, tmp_path, capsys):
    from cli_run import run_cli
    from csv_files import write_csv
    from lrmf_plugin.importers.leaderboard import V2_SCORE_COLUMNS

    log = PredictionLog(tmp_path / "bot.sqlite")
    log.record(NEW, [Prediction(NEW, b, 40.0, 30.0, 50.0) for b in ("ifeval", "bbh")], predictor="p")
    csv = write_csv(tmp_path / "v2.csv", ["model_name", *V2_SCORE_COLUMNS.values()],
                    [[NEW, 55.0, 33.0, 10.0, 5.0, 8.0, 30.0], ["other/model", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    rc, out, err = run_cli(capsys, "reference", "import", "--ref", str(tmp_path / "ref"), "--kind",
                           "leaderboard-v2", "--track-record", str(tmp_path / "bot.sqlite"), str(csv))
    assert rc == 0, err
    assert "2 measured scores of predicted models recorded" in out
    assert log.measured() == {(NEW, "ifeval"): 55.0, (NEW, "bbh"): 33.0}  # only what was predicted
    rc, _, err = run_cli(capsys, "reference", "import", "--ref", str(tmp_path / "ref2"), "--kind", "leaderboard-v2",
                         "--track-record", str(tmp_path / "nowhere.sqlite"), str(csv))
    assert rc != 0 and "no prediction log" in err and not (tmp_path / "ref2").exists()


@pytest.mark.slow
def test_the_space_track_record_shows_the_pair_in_the_browser(reference, hub, tmp_path):  # noqa: F811
    from test_space_browser import CHROMIUM, CHROMIUM_ARGS, Visit  # the browser tests' page helper

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    _predicted_then_measured(reference, hub, tmp_path)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "space"))
    import space_data

    with space_data.serve(reference, bot_state=tmp_path / "bot.sqlite") as url, \
            playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        visit = Visit(browser, "desktop")
        page = visit.page
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Track record", exact=True).wait_for(timeout=60_000)  # the app has rendered
        visit.tab("Track record")
        page.wait_for_selector("#scatter .js-plotly-plot", timeout=60_000)
        info = page.locator("#track-info").inner_text()
        assert "1 predicted model measured later" in info and "1 of 1 so far" in info
        assert "a measured relative" in info
        assert page.locator("#scatter .scatterlayer .point").count() == 2  # gpqa_diamond and ifeval
        assert "gpqa_diamond" in page.locator("#scatter").inner_text()
        table = page.locator("#track-table").inner_text()
        assert "gpqa_diamond" in table and "IFEval" in table
        visit.shot("track-record-eval-results")
        visit.close()
        browser.close()


def test_an_lm_eval_import_measures_a_complete_task_not_a_subset():
    from lrmf_plugin.sources import ItemObservations
    from lrmf_plugin.track_record import source_scores

    full = ItemObservations("toy_mc", ["a/m", "b/m"], ["0", "1", "2", "3"],
                            np.array([[1, 0, 1, 1], [1, np.nan, 0, 0]], dtype=np.float32), complete=True)
    part = ItemObservations("toy_gen", ["a/m"], ["0", "1"], np.array([[1, 1]], dtype=np.float32), complete=False)
    src = SourceData(key="k", kind="lm-eval-output", location="runs", items=[full, part])
    assert source_scores(src) == {"a/m": {"toy_mc": 75.0}}  # b/m skipped an item; toy_gen is a subset

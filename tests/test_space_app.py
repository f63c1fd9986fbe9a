"""The Space end to end: its service on a fitted synthetic reference, the launched app through
``gradio_client``, and a real headless Chromium clicking through every tab.

One module-scoped reference and server keep the fit and the launch to once per run.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "space"))

import space_data  # noqa: E402
from space_data import FOCUS, LINEAGE_ONLY, QUIZ, SCORED  # noqa: E402

from lrmf_plugin.errors import HubError, InputError, UnknownModelError  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "tests" / "artifacts" / "space"


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    base = tmp_path_factory.mktemp("space")
    ref = space_data.build_reference(base / "ref")
    log = space_data.build_log(base / "bot" / "state.sqlite")
    return ref, log


@pytest.fixture(scope="module")
def service(paths):
    from service import SpaceService

    return SpaceService(paths[0], bot_state=paths[1])


@pytest.fixture(scope="module")
def server(paths):
    import app

    demo = app.build_demo(paths[0], bot_state=paths[1])
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


def _v2_average(service, model: str) -> float:
    return sum(service.measured[model][b] for b in SCORED) / len(SCORED)


# ---------------------------------------------------------------------------------------- service

def test_predict_model_in_reference_gives_every_benchmark_with_interval_and_measured(service):
    result = service.predict_model(f"  {FOCUS} ")
    frame = result.frame.set_index("benchmark")
    assert set(frame.index) == set(SCORED) | {QUIZ}
    assert (frame["lower"] <= frame["predicted"]).all() and (frame["predicted"] <= frame["upper"]).all()
    assert frame.loc["alpha", "measured"] == pytest.approx(service.measured[FOCUS]["alpha"])
    assert result.parents == [("fam0/base", "finetune")] and result.lineage_source == "reference"
    assert set(result.averages) == {"v2", "toy"}
    answer = result.as_json()
    assert set(answer["predictions"]) == set(SCORED) | {QUIZ} and answer["model"] == FOCUS


def test_predict_model_only_in_lineage_uses_its_parent(service):
    result = service.predict_model(LINEAGE_ONLY)
    assert result.parents == [("fam1/base", "finetune")]
    assert result.frame["measured"].isna().all()


@pytest.mark.parametrize("bad, error, words", [
    ("", InputError, "enter a model id"),
    ("not a model!", InputError, "not a model id"),
    ("nobody/unknown", UnknownModelError, "not in the reference"),
])
def test_predict_model_rejects_bad_ids(service, bad, error, words):
    with pytest.raises(error, match=words):
        service.predict_model(bad)


def test_what_if_follows_the_parent(service):
    bases = sorted((f"fam{f}/base" for f in range(3)), key=lambda m: _v2_average(service, m))
    worst, best = bases[0], bases[-1]
    low = service.what_if([worst], "finetune").frame.set_index("benchmark")
    high = service.what_if([best], "finetune").frame.set_index("benchmark")
    assert high.loc[list(SCORED), "predicted"].mean() > low.loc[list(SCORED), "predicted"].mean()
    merge = service.what_if([worst, best], "merge")
    assert merge.parents == [(worst, "merge"), (best, "merge")] and len(merge.frame) == len(SCORED) + 1


def test_what_if_child_inherits_size_and_architecture(service):
    merge = service.child_metadata(["fam0/base", "fam1/base"], "merge")
    assert merge == {"params_b": 10.0, "merged": True}  # the synthetic reference only knows sizes
    assert service.child_metadata(["fam2/base"], "finetune") == {"params_b": 13.0, "merged": False}


@pytest.mark.parametrize("parents, relation, words", [
    ([], "merge", "at least one parent"),
    (["fam0/base", "fam1/base"], "finetune", "need the relation 'merge'"),
    (["fam0/base", "fam0/base"], "merge", "twice"),
    (["nobody/x"], "finetune", "not in the reference"),
    (["fam0/base"], "distilled", "unknown relation"),
])
def test_what_if_rejects_bad_choices(service, parents, relation, words):
    with pytest.raises((InputError, UnknownModelError), match=words):
        service.what_if(parents, relation)


def test_rank_merges_orders_by_predicted_average(service):
    ranked = service.rank_merges("fam0/base + fam1/base\nfam2/ft-0 + fam0/ft-1\nfam1/ft-2", "v2")
    assert list(ranked["rank"]) == [1, 2, 3]
    assert list(ranked["average"]) == sorted(ranked["average"], reverse=True)
    assert set(ranked["candidate"]) == {"fam0/base + fam1/base", "fam2/ft-0 + fam0/ft-1", "fam1/ft-2"}
    with pytest.raises(ValueError, match="line 2: unknown model 'nobody/x'"):
        service.rank_merges("fam0/base + fam1/base\nnobody/x + fam1/base", "v2")
    with pytest.raises(InputError, match="unknown suite"):
        service.rank_merges("fam0/base", "v9")


def test_upload_of_a_subset_run_moves_the_quiz_prediction(service, tmp_path):
    right = space_data.write_run(tmp_path / "right", "new/strong", {d: 1 for d in range(0, 40, 2)})
    wrong = space_data.write_run(tmp_path / "wrong", "new/weak", {d: 0 for d in range(0, 40, 2)})
    strong = service.predict_upload([str(p) for p in right])
    weak = service.predict_upload([str(p) for p in wrong])
    assert strong.model == "new/strong" and weak.model == "new/weak"  # from the run's model_args
    assert strong.notes[0] == "20 evaluated instances on 1 benchmark"
    assert strong.frame.set_index("benchmark")["evaluated"].to_dict() == {QUIZ: 20, **{b: 0 for b in SCORED}}
    quiz = lambda r: r.frame.set_index("benchmark").loc[QUIZ, "predicted"]  # noqa: E731
    assert quiz(strong) > quiz(weak) + 10
    renamed = service.predict_upload([str(p) for p in right], model="org/renamed")
    assert renamed.model == "org/renamed"


def test_upload_rejects_bad_files(service, tmp_path):
    with pytest.raises(InputError, match="no files"):
        service.predict_upload([])
    files = space_data.write_run(tmp_path / "run", "new/x", {0: 1, 1: 0})
    files[1].write_text('{"doc_id": 0, "metrics": ["acc"], "acc": 1}\nnot json\n')
    with pytest.raises(InputError, match=r":2: not a JSON record"):
        service.predict_upload([str(p) for p in files])
    other = tmp_path / "other"
    files = space_data.write_run(other, "new/x", {0: 1})
    renamed = [f.rename(f.with_name(f.name.replace(QUIZ, "other_task"))) for f in files]
    results = renamed[0].read_text().replace(QUIZ, "other_task")
    renamed[0].write_text(results)
    with pytest.raises(InputError, match="none of these has item data in the reference"):
        service.predict_upload([str(p) for p in renamed])


def test_family_tree_colours_every_node(service):
    nodes, edges, average, measured, total = service.family_tree("fam1/ft-0", 2, "v2")
    assert nodes[0] == "fam1/ft-0" and "fam1/base" in nodes and LINEAGE_ONLY in nodes
    assert "mix/merge-01" in nodes and "fam0/ft-0" in nodes  # a merge child with its other parent
    assert measured["fam1/ft-0"] and not measured[LINEAGE_ONLY]
    assert average["fam1/ft-0"] == pytest.approx(_v2_average(service, "fam1/ft-0"))
    assert all(v == v for v in average.values())
    with pytest.raises(UnknownModelError):
        service.family_tree("nobody/x", 2, "v2")


def test_leaderboard_and_track_record_read_the_bot_log(service):
    table = service.prediction_log()
    assert set(table["model"]) == {"new/alpha-tune", "new/merge-x"}
    from tables import track_record

    done = track_record(table)
    assert set(done["model"]) == {"new/alpha-tune"} and len(done) == 3


def test_backtest_results_found_in_the_reference_and_validated(paths, tmp_path):
    from service import SpaceService

    ref = tmp_path / "ref"
    shutil.copytree(paths[0], ref)
    assert SpaceService(ref).backtest_results() is None
    (ref / "backtest").mkdir()
    rows = [{"method": m, "setting": s, "subset": "all", "benchmark": "mean", "mae": mae, "coverage": 0.9}
            for m, off in (("lrmf", 0.0), ("irt", 1.0)) for s, mae in (("zero", 4.0), ("random-5", 3.0))
            for mae in [mae + off]]
    pd.DataFrame(rows).to_csv(ref / "backtest" / "results.csv", index=False)
    results = SpaceService(ref).backtest_results()
    assert len(results) == 4
    (ref / "backtest" / "results.csv").write_text("method,setting\nlrmf,zero\n")
    with pytest.raises(InputError, match="missing columns"):
        SpaceService(ref).backtest_results()
    with pytest.raises(InputError, match="no backtest results.csv"):
        SpaceService(ref, backtest=tmp_path / "nowhere")


def test_predict_reads_lineage_of_a_new_model_from_the_hub(paths, fake_hub):
    from service import SpaceService

    fake_hub.add_model("hub/new-tune", tags=["base_model:fam2/base", "base_model:finetune:fam2/base"])
    fake_hub.add_model("hub/orphan", card_data={"base_model": ["nobody/a", "fam0/base"]})
    service = SpaceService(paths[0], hub_endpoint=fake_hub.url)
    result = service.predict_model("hub/new-tune")
    assert result.parents == [("fam2/base", "finetune")] and result.lineage_source == "hub"
    orphan = service.predict_model("hub/orphan")
    assert orphan.parents == [("fam0/base", "merge")] and "nobody/a" in orphan.notes[-1]
    with pytest.raises(HubError, match="hub/missing"):
        service.predict_model("hub/missing")
    assert all(r.user is None for r in fake_hub.requests)  # the Space never sends a token


# ---------------------------------------------------------------------------------------- gradio_client

@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False, analytics_enabled=False)


def test_client_sees_every_endpoint(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/predict", "/predict_upload", "/what_if", "/rank_merges", "/lineage", "/leaderboard",
            "/track_record"} <= set(named)


def test_client_predict_names_every_benchmark_first(client, service):
    answer, headline, _plot, table = client.predict(FOCUS, api_name="/predict")
    assert answer["model"] == FOCUS
    assert set(answer["predictions"]) == set(service.benchmarks)
    for bench, entry in answer["predictions"].items():
        assert entry["lower"] <= entry["predicted"] <= entry["upper"], bench
    assert FOCUS in headline.replace("\\", "")
    assert sorted(table["data"][i][0] for i in range(len(table["data"]))) == sorted(service.benchmarks)


def test_client_gets_clear_errors(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not in the reference"):
        client.predict("nobody/unknown", api_name="/predict")
    with pytest.raises(AppError, match="need the relation 'merge'"):
        client.predict(["fam0/base", "fam1/base"], "finetune", api_name="/what_if")


def test_client_what_if_leaderboard_and_track_record(client):
    answer, *_ = client.predict(["fam0/base", "fam2/base"], "merge", api_name="/what_if")
    assert answer["parents"] == [{"parent": "fam0/base", "relation": "merge"},
                                 {"parent": "fam2/base", "relation": "merge"}]
    info, board = client.predict("", "v2 average", "predicted", False, api_name="/leaderboard")
    assert "2 of 2 predicted models" in info
    assert [row[0] for row in board["data"]] == ["new/alpha-tune", "new/merge-x"]
    bot_md, *_ = client.predict(api_name="/track_record")
    assert "1 predicted model measured later" in bot_md


# ---------------------------------------------------------------------------------------- browser

@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.slow
def test_browser_runs_every_tab_without_leaving_loopback(browser, server, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else outside.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.wait_for_selector("#predict-btn", timeout=90_000)
        page.locator("#model-id textarea, #model-id input").first.fill(FOCUS)
        page.locator("#predict-btn").click()
        page.wait_for_function(f"document.querySelector('#prediction').innerText.includes('{FOCUS}')", timeout=180_000)
        page.wait_for_selector("#prediction-plot .js-plotly-plot", timeout=90_000)
        table_text = page.locator("#prediction-table").inner_text()
        assert all(b in table_text for b in (*SCORED, QUIZ))
        page.screenshot(path=str(ARTIFACTS / "predict.png"), full_page=True)

        page.locator("#model-id textarea, #model-id input").first.fill("nobody/unknown")
        page.locator("#predict-btn").click()
        page.get_by_text("is not in the reference").first.wait_for(timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "predict-error.png"), full_page=True)

        page.get_by_role("tab", name="From an lm-eval run").click()
        files = space_data.write_run(tmp_path / "run", "new/uploaded", {d: 1 for d in range(10)})
        page.locator("#upload-files input[type=file]").set_input_files([str(f) for f in files])
        page.wait_for_function("document.querySelector('#upload-files').innerText.includes('samples_')",
                               timeout=90_000)
        page.locator("#upload-btn").click()
        page.wait_for_function("document.querySelector('#prediction').innerText.includes('new/uploaded')",
                               timeout=180_000)
        assert "10 evaluated instances" in page.locator("#prediction").inner_text()
        page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)

        page.get_by_role("tab", name="Lineage").click()
        page.wait_for_selector("#lineage .js-plotly-plot", timeout=90_000)
        assert page.locator("#lineage .scatterlayer .point").count() >= 5
        page.screenshot(path=str(ARTIFACTS / "lineage.png"), full_page=True)

        page.get_by_role("tab", name="Leaderboard").click()
        page.wait_for_function("document.querySelector('#leaderboard').innerText.includes('new/alpha-tune')",
                               timeout=90_000)
        page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)

        page.get_by_role("tab", name="Track record").click()
        page.wait_for_selector("#scatter .js-plotly-plot", timeout=90_000)
        assert "measured later" in page.locator("#track-info").inner_text()
        page.screenshot(path=str(ARTIFACTS / "track-record.png"), full_page=True)
    finally:
        page.close()
    assert outside == [], f"requests left 127.0.0.1: {outside[:5]}"
    assert errors == [], errors


def test_backtest_view_draws_curves_with_item_budgets_and_bars_without():
    import app

    rows = [{"method": m, "setting": s, "subset": "all", "benchmark": "mean", "mae": mae, "coverage": 0.9}
            for m in ("lrmf", "irt") for s, mae in (("zero", 4.0), ("known", 3.0))]
    info, error_fig, coverage_fig, summary = app._backtest_view(pd.DataFrame(rows))
    assert "irt, lrmf" in info
    assert error_fig.data[0].type == "bar" and error_fig.layout.title.text == "Error by setting"
    assert error_fig.data[0].marker.color == coverage_fig.data[0].marker.color  # one colour per method
    assert list(coverage_fig.data[0].y) == pytest.approx([90, 90])
    rows += [{"method": "lrmf", "setting": "random-5", "subset": "all", "benchmark": "mean", "mae": 2.0,
              "coverage": 0.9}]
    _, error_fig, _, summary = app._backtest_view(pd.DataFrame(rows))
    assert [t.name for t in error_fig.data] == ["lrmf (random)"] and list(error_fig.data[0].x) == [0, 5]
    assert list(summary.iloc[:, 0]) == ["zero", "known", "random-5"]


@pytest.mark.parametrize("ref, words", [(None, "set LRMF_REF"), ("missing", "not a reference directory")])
def test_launcher_refuses_a_missing_reference_in_one_line(tmp_path, ref, words):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "LRMF_REF"}
    if ref:
        env["LRMF_REF"] = str(tmp_path / ref)
    p = subprocess.run([sys.executable, str(ROOT / "space" / "app.py")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: ") and words in p.stderr and len(p.stderr.strip().splitlines()) == 1

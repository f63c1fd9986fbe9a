"""The Space end to end: its service on a fitted synthetic reference and the launched app through
``gradio_client`` (the browser tests are in ``test_space_browser.py``).

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
from space_data import FOCUS, LINEAGE_ONLY, N_QUIZ, QUIZ, SCORED  # noqa: E402

from lrmf_plugin.errors import HubError, InputError, UnknownModelError  # noqa: E402


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
    with space_data.serve(paths[0], bot_state=paths[1]) as url:
        yield url


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
    ("fam0/ft-11", UnknownModelError, r"did you mean fam0/ft-1\b"),
])
def test_predict_model_rejects_bad_ids(service, bad, error, words):
    with pytest.raises(error, match=words):
        service.predict_model(bad)


@pytest.mark.parametrize("typed", ["FAM0/FT-1", "https://huggingface.co/fam0/ft-1", "hf.co/Fam0/Ft-1/tree/main",
                                   "huggingface.co/fam0/ft-1?library=transformers", " fam0/ft-1/ "])
def test_model_ids_are_matched_ignoring_case_and_hub_addresses(service, typed):
    result = service.predict_model(typed)
    assert result.model == FOCUS and result.parents == [("fam0/base", "finetune")]
    assert service.family_tree(typed, 1, "v2")[0].nodes[0] == FOCUS
    assert service.what_if([typed], "finetune").parents == [(FOCUS, "finetune")]


def test_a_renamed_id_is_offered_its_new_name(service):
    # too far from fam0/ft-1 for plain string similarity; dropping the leading word finds it
    with pytest.raises(UnknownModelError, match=r"did you mean fam0/ft-1\?"):
        service.predict_model("fam0/averyoldbrandname-ft-1")
    with pytest.raises(UnknownModelError, match=r"^'nobody/zzz' is not in the reference\.$"):
        service.predict_model("nobody/zzz")


@pytest.mark.parametrize("bad", ["<script>alert(1)</script>", "x" * 5000, "org/" + "y" * 5000])
def test_messages_repeat_bad_input_cut_short(service, bad):
    with pytest.raises((InputError, UnknownModelError)) as caught:
        service.predict_model(bad)
    message = str(caught.value)
    assert len(message) < 200 and bad[:20] in message
    assert len(bad) < 60 or "…" in message


def test_the_note_on_what_a_prediction_used_follows_its_evidence(service, tmp_path):
    known = service.predict_model(FOCUS)
    assert known.basis.startswith("Predicted from its parent's scores and its metadata (params_b).")
    assert "measured scores were not given" in known.basis  # shown beside the prediction, not used
    child = service.what_if(["fam2/base"], "finetune")  # a fine-tune inherits its parent's size
    assert child.basis.startswith("Predicted from its parent's scores (as chosen) and its metadata")
    assert "measured" not in child.basis
    merge = service.what_if(["fam0/base", "fam1/base"], "merge")  # parents of two sizes pass on neither
    assert merge.basis.startswith("Predicted from its 2 parents' scores (as chosen) and the reference's averages")
    files = space_data.write_run(tmp_path / "run", "new/run", {d: 1 for d in range(6)})
    run = service.predict_upload([str(p) for p in files])
    assert run.basis == f"Predicted from 6 evaluated instances of {QUIZ} and the reference's averages."


def test_what_if_follows_the_parent(service):
    bases = sorted((f"fam{f}/base" for f in range(3)), key=lambda m: _v2_average(service, m))
    worst, best = bases[0], bases[-1]
    low = service.what_if([worst], "finetune").frame.set_index("benchmark")
    high = service.what_if([best], "finetune").frame.set_index("benchmark")
    assert high.loc[list(SCORED), "predicted"].mean() > low.loc[list(SCORED), "predicted"].mean()
    merge = service.what_if([worst, best], "merge")
    assert merge.parents == [(worst, "merge"), (best, "merge")] and len(merge.frame) == len(SCORED) + 1


def test_what_if_and_rank_give_the_same_numbers_and_the_child_inherits_its_parents_size(service):
    parents = ["fam0/base", "fam1/base"]
    query = service.lrmf.query("what-if merge of fam0/base + fam1/base", parents=[(p, "merge") for p in parents])
    sizes = [service.metadata.at[p, "params_b"] for p in parents]
    assert "params_b" not in query.metadata or query.metadata["params_b"] == pytest.approx(sum(sizes) / 2)
    suite = next(iter(service.suites))
    what_if = service.what_if(parents, "merge").frame.set_index("benchmark")
    ranked = service.rank_merges(" + ".join(parents), suite).iloc[0]
    for b in service.suites[suite]:
        assert round(float(what_if.at[b, "predicted"]), 1) == ranked[b]


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
    assert "20 evaluated instances" in strong.basis
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
    tree, average, measured = service.family_tree("fam1/ft-0", 2, "v2")
    nodes = tree.nodes
    assert nodes[0] == "fam1/ft-0" and "fam1/base" in nodes and LINEAGE_ONLY in nodes
    assert "mix/merge-01" in nodes and "fam0/ft-0" in nodes  # a merge child with its other parent
    assert measured["fam1/ft-0"] and not measured[LINEAGE_ONLY]
    assert average["fam1/ft-0"] == pytest.approx(_v2_average(service, "fam1/ft-0"))
    assert set(average) == set(tree.models) and all(v == v for v in average.values())
    assert len(service.family_tree("fam1/ft-0", 1, "v2")[0].nodes) < len(nodes)  # hops change the picture
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


def test_client_sees_every_endpoint_with_named_outputs(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(named) == {"/predict", "/predict_upload", "/what_if", "/rank_merges", "/lineage", "/leaderboard",
                          "/track_record"}  # the page's helper steps are private
    labels = [r["label"] for e in named.values() for r in e["returns"]]
    assert not [x for x in labels if x.startswith("value_")]
    assert [r["label"] for r in named["/predict"]["returns"]][:3] == ["prediction", "headline", "chart"]


def test_config_stays_small_and_carries_no_model_list(server):
    import urllib.request

    config = urllib.request.urlopen(server + "config").read()
    assert len(config) < 100_000
    # parents are searched on the server: models unrelated to the first chart are not in the page
    assert b"fam2/ft-3" not in config and b"mix/merge-01" not in config


def test_client_searches_parents_on_the_server(service):
    assert service.search_models("FAM2/FT") == [f"fam2/ft-{k}" for k in range(5)]
    assert service.search_models("") == [] and len(service.search_models("/", limit=3)) == 3


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
    with pytest.raises(AppError, match="did you mean fam0/base"):
        client.predict("fam0/bse", 2, "Average", api_name="/lineage")
    with pytest.raises(AppError, match="need the relation 'merge'"):
        client.predict(["fam0/base", "fam1/base"], "finetune", api_name="/what_if")


def test_client_what_if_leaderboard_and_track_record(client):
    answer, *_ = client.predict(["fam0/base", "fam2/base"], "merge", api_name="/what_if")
    assert answer["parents"] == [{"parent": "fam0/base", "relation": "merge"},
                                 {"parent": "fam2/base", "relation": "merge"}]
    info, board = client.predict("", "Average", "predicted", False, api_name="/leaderboard")
    assert "2 of 2 predicted models" in info
    assert [row[0] for row in board["data"]] == ["new/alpha-tune", "new/merge-x"]
    bot_md, *_ = client.predict(api_name="/track_record")
    assert "1 predicted model measured later" in bot_md


def test_backtest_view_draws_curves_with_item_budgets_and_bars_without():
    import views

    rows = [{"method": m, "setting": s, "subset": "all", "benchmark": "mean", "mae": mae, "coverage": 0.9}
            for m in ("lrmf", "irt") for s, mae in (("zero", 4.0), ("known", 3.0))]
    info, error_fig, coverage_fig, summary, shown = views.backtest_view(pd.DataFrame(rows))
    assert shown and "**★ LRMF (this Space)**" in info and "**Item response theory**" in info
    assert "*zero* = nothing evaluated" in info
    assert error_fig.data[0].type == "bar" and error_fig.layout.title.text == "Error by setting"
    assert error_fig.data[0].marker.color == coverage_fig.data[0].marker.color  # one colour per method
    assert list(coverage_fig.data[0].y) == pytest.approx([90, 90])
    rows += [{"method": "lrmf", "setting": "random-5", "subset": "all", "benchmark": "mean", "mae": 2.0,
              "coverage": 0.9}]
    _, error_fig, _, summary, _ = views.backtest_view(pd.DataFrame(rows))
    assert [t.name for t in error_fig.data] == ["★ LRMF (this Space) (random)"]
    assert list(error_fig.data[0].x) == [0, 5]
    assert list(summary.data.iloc[:, 0]) == ["zero", "known", "random-5"]
    assert views.backtest_view(None)[4] is False


@pytest.mark.slow  # a subprocess that imports the whole stack
@pytest.mark.parametrize("ref, words", [(None, "HF_HUB_OFFLINE is set: pull it with `lm-eval-predict reference pull "
                                                 "--fitted"), ("missing", "not a reference directory")])
def test_launcher_refuses_a_missing_reference_in_one_line(tmp_path, ref, words):
    """Without LRMF_REF the Space starts from the default fitted reference, pulled on first start;
    offline and without one, it says how to get one, in one line."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "LRMF_REF"}
    env.update(HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    if ref:
        env["LRMF_REF"] = str(tmp_path / ref)
    p = subprocess.run([sys.executable, str(ROOT / "space" / "app.py")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("error: ") and words in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_client_sees_a_model_outside_the_reference_flagged(client, service, tmp_path):
    from gradio_client import handle_file

    files = space_data.write_run(tmp_path / "all-right", "new/oracle", {d: 1 for d in range(N_QUIZ)})
    answer, headline, _plot, _table = client.predict([handle_file(str(p)) for p in files], "", api_name="/predict_upload")
    assert answer["model"] == "new/oracle"
    assert any(f"{N_QUIZ} of its {N_QUIZ} items right, more than the best reference model" in r
               for r in answer["extrapolation"])
    assert "Extrapolation" in headline and "items right" in headline
    quiet, quiet_headline, _plot, _table = client.predict(FOCUS, api_name="/predict")
    assert "extrapolation" not in quiet and "Extrapolation" not in quiet_headline
    assert not service.predict_model(FOCUS).extrapolation

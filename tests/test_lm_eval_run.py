"""`lm-eval-predict run`, `plan --tasks` and `estimate` with the real lm-eval (offline, dummy model).

The reference is built the way a user builds one: stock full lm-eval runs of the same toy tasks,
imported with the lm-eval-output importer, then `lm-eval-predict fit`. lm-eval subprocesses cost
~10-20 s each on shared cores, so the runs are module-scoped and shared by the assertions.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lmeval_toy
from lrmf_plugin.cli import main
from lrmf_plugin.commands.run import OUR_FLAGS
from lrmf_plugin.importers.lm_eval_output import read_run
from lrmf_plugin.samples_plan import budget_count, share_indices

pytestmark = pytest.mark.slow

MODEL = "toy-org/new-merge"
TASKS = [lmeval_toy.GROUP, "toy_gen", "toy_if", "toy_new"]
BUDGET = 0.3


def _cli(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "lrmf_plugin", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def reference(lmeval_stock_runs, tmp_path_factory):
    ref = tmp_path_factory.mktemp("lmeval_ref") / "ref"
    assert main(["reference", "import", "--ref", str(ref), "--kind", "lm-eval-output", str(lmeval_stock_runs["dir"])]) == 0
    assert main(["fit", "--ref", str(ref)]) == 0
    return ref


@pytest.fixture(scope="module")
def run(lmeval_tasks, reference, tmp_path_factory):
    out = tmp_path_factory.mktemp("lmeval_run") / "out"
    proc = _cli(lmeval_tasks["env"], "run", "--model", "dummy", "--model_args", f"pretrained={MODEL}",
                "--tasks", *TASKS, "--include_path", lmeval_tasks["tasks"], "--budget", BUDGET,
                "--output_path", out, "--ref", reference, "--seed", 3)
    folder = out / MODEL.replace("/", "__")
    (results_file,) = folder.glob("results_*.json")
    (pred_file,) = folder.glob("predictions_*.json")
    return {"out": out, "folder": folder, "proc": proc, "results": json.loads(results_file.read_text()),
            "predictions": json.loads(pred_file.read_text())}


def test_evaluates_exactly_the_plan(run):
    res, pred = run["results"], run["predictions"]
    plan = pred["plan"]["samples"]
    leaves = [*lmeval_toy.GROUP_LEAVES, "toy_gen", "toy_if", "toy_new"]
    assert sorted(plan) == sorted(leaves)
    for task in leaves:
        n_full = lmeval_toy.SIZES[task]
        assert res["n-samples"][task] == {"original": n_full, "effective": len(plan[task])}
        assert 1 <= len(plan[task]) <= budget_count(BUDGET, n_full) < n_full
        assert plan[task] == sorted(set(plan[task]))
        # the logged doc ids are the planned ones: lm-eval's unsorted/duplicate mislabelling never happens
        (sfile,) = run["folder"].glob(f"samples_{task}_*.jsonl")
        logged = [json.loads(line)["doc_id"] for line in sfile.read_text().splitlines()]
        assert sorted(logged) == plan[task]
    # the task the reference has never seen: a budget share at random, with a warning naming it
    assert plan["toy_new"] == share_indices("toy_new", 20, BUDGET, seed=3)
    assert "warning: toy_new" in run["proc"].stderr
    assert pred["plan"]["selection"] == "adaptive" and pred["plan"]["rounds"] == [plan]


def test_results_file_is_lm_evals_plus_predicted(run):
    res = run["results"]
    for key in ("results", "groups", "group_subtasks", "configs", "versions", "n-samples", "config", "task_hashes"):
        assert key in res
    assert res["config"]["model"] == "dummy" and res["config"]["model_args"] == {"pretrained": MODEL}
    assert res["model_source"] == "dummy" and res["model_name"] == MODEL
    assert res["predicted"]["benchmarks"] == run["predictions"]["benchmarks"]
    # the output directory still reads as an ordinary lm-eval run (incomplete: a subset)
    obs = read_run(run["out"])
    assert obs.model == MODEL and not any(t.complete for t in obs.tasks.values())


def test_predictions_per_task_group_and_benchmark(run):
    pred = run["predictions"]
    assert pred["model"] == MODEL and pred["lm_eval_version"] == "0.4.13"
    assert pred["predictor"]["reference_fingerprint"]
    bench = pred["benchmarks"]
    for name in ("toy_mc2", "toy_mc4", "toy_gen", "toy_if", "toy_if:inst_level_strict_acc"):
        row = bench[name]
        assert row["n"] == len(pred["plan"]["samples"][name.split(":")[0]])
        assert row["N"] == lmeval_toy.SIZES[name.split(":")[0]]
        assert 0 <= row["lower"] <= row["predicted"] <= row["upper"] <= 100
        assert 0 <= row["observed"] <= 100
    assert bench["toy_new"]["predicted"] is None and bench["toy_new"]["observed"] is not None
    assert pred["tasks"]["toy_gen"]["version"] == 2.0 and len(pred["tasks"]["toy_gen"]["task_hash"]) == 64
    # lm-eval's group: observed value is over the evaluated subset; the prediction weights leaves by full size
    group = pred["groups"][lmeval_toy.GROUP]
    mc2, mc4 = bench["toy_mc2"], bench["toy_mc4"]
    assert group["n"] == mc2["n"] + mc4["n"] and group["N"] == 40
    assert group["observed_subset"] == pytest.approx((mc2["observed"] * mc2["n"] + mc4["observed"] * mc4["n"]) / group["n"], abs=1e-3)
    assert group["predicted"] == pytest.approx((mc2["predicted"] * 24 + mc4["predicted"] * 16) / 40, abs=1e-3)
    assert any("toy_new" in w for w in pred["warnings"])
    assert "leaderboard" not in pred  # no Open LLM Leaderboard task in this run
    table = run["proc"].stdout
    assert "predicted full [90% interval]" in table and f"{lmeval_toy.GROUP} (group)" in table
    assert "(subset)" in table and "observed only" in table
    assert f"{mc2['n']}/24" in table


def test_estimate_on_the_runs_own_output_gives_the_same_predictions(run, reference, tmp_path):
    out = tmp_path / "est.json"
    assert main(["estimate", "--ref", str(reference), str(run["out"]), "--out", str(out)]) == 0
    est = json.loads(out.read_text())
    for key in ("benchmarks", "groups", "tasks"):
        assert est[key] == run["predictions"][key]
    assert est["plan"]["samples"] == run["predictions"]["plan"]["samples"]


def test_plan_stock_lm_eval_and_estimate_equal_run(lmeval_tasks, reference, run, tmp_path):
    env = lmeval_tasks["env"]
    samples = tmp_path / "samples.json"
    _cli(env, "plan", "--ref", reference, "--tasks", *TASKS, "--include-path", lmeval_tasks["tasks"],
         "--budget", BUDGET, "--seed", 3, "--model", MODEL, "--out", samples)
    assert json.loads(samples.read_text()) == run["predictions"]["plan"]["samples"]
    out = tmp_path / "stock"
    proc = subprocess.run([sys.executable, "-m", "lm_eval", "run", "--model", "dummy", "--model_args",
                           f"pretrained={MODEL}", "--tasks", *TASKS, "--include_path", str(lmeval_tasks["tasks"]),
                           "--samples", str(samples), "--log_samples", "--seed", "3", "--output_path", str(out)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pred = tmp_path / "pred.json"
    assert main(["estimate", "--ref", str(reference), str(out), "--out", str(pred)]) == 0
    est = json.loads(pred.read_text())
    assert est["plan"]["samples"] == run["predictions"]["plan"]["samples"]
    assert est["benchmarks"] == run["predictions"]["benchmarks"]
    assert est["groups"] == run["predictions"]["groups"]


def test_target_ci_evaluates_in_rounds_without_repeating_documents(lmeval_tasks, reference, tmp_path):
    out = tmp_path / "out"
    _cli(lmeval_tasks["env"], "run", "--model", "dummy", "--model_args", f"pretrained={MODEL}",
         "--tasks", "toy_mc2", "toy_mc4", "--include_path", lmeval_tasks["tasks"], "--budget", 8,
         "--target-ci", 0.001, "--output_path", out, "--ref", reference)
    folder = out / MODEL.replace("/", "__")
    (pred_file,) = folder.glob("predictions_*.json")
    pred = json.loads(pred_file.read_text())
    rounds = pred["plan"]["rounds"]
    assert len(rounds) == 3 == len(list(folder.glob("results_*.json")))  # never narrow enough: budget spent
    for task in ("toy_mc2", "toy_mc4"):
        per_round = [set(r.get(task, [])) for r in rounds]
        assert sum(len(s) for s in per_round) == len(set().union(*per_round)) == 8  # disjoint rounds
        assert [len(s) for s in per_round] == [2, 2, 4]
        assert pred["benchmarks"][task]["n"] == 8
    assert read_run(out).tasks["toy_mc2"].n_evaluated == 8


def test_a_random_share_is_drawn_as_planned_shown_as_an_estimate_and_found_again_by_estimate(lmeval_tasks, reference,
                                                                                            tmp_path):
    from lrmf_plugin.planning import random_reserve
    from lrmf_plugin.reference import Reference

    out = tmp_path / "out"
    _cli(lmeval_tasks["env"], "run", "--model", "dummy", "--model_args", f"pretrained={MODEL}",
         "--tasks", "toy_mc2", "toy_mc4", "--include_path", lmeval_tasks["tasks"], "--budget", 8,
         "--random-share", 0.5, "--output_path", out, "--ref", reference, "--seed", 3)
    (pred_file,) = (out / MODEL.replace("/", "__")).glob("predictions_*.json")
    pred = json.loads(pred_file.read_text())
    run_obs = read_run(out)
    for task in ("toy_mc2", "toy_mc4"):
        ids = list(Reference(reference).item_block(task)[1].items)  # the order the planner draws from
        drawn = sorted(int(i) for i in random_reserve(task, ids, 4, 3))
        assert sorted(pred["plan"]["random"][task]) == drawn and set(drawn) <= set(pred["plan"]["samples"][task])
        values = run_obs.tasks[task].values[task]
        row = pred["benchmarks"][task]
        assert row["random_subset"]["n"] == 4
        assert row["random_subset"]["estimate"] == pytest.approx(100 * sum(values[d] for d in drawn) / 4, abs=1e-3)
    est = tmp_path / "est.json"
    assert main(["estimate", "--ref", str(reference), str(out), "--random-share", "0.5", "--seed", "3",
                 "--out", str(est)]) == 0
    assert json.loads(est.read_text())["benchmarks"] == pred["benchmarks"]
    assert main(["estimate", "--ref", str(reference), str(out), "--random-share", "0.5", "--seed", "4",
                 "--out", str(tmp_path / "wrong.json")]) == 2  # another seed's random items were not run


# --------------------------------------------------------------------------- refusals and parsing

def _lm_eval_flags() -> list[str]:
    from lm_eval._cli.run import Run

    sub = argparse.ArgumentParser().add_subparsers()
    parser = Run.create(sub)._parser
    return [s for a in parser._actions for s in a.option_strings if s.startswith("--")]


def test_no_flag_of_ours_is_a_prefix_of_lm_evals_or_the_reverse():
    theirs = _lm_eval_flags()
    assert "--predict_only" in theirs and "--samples" in theirs and len(theirs) > 25
    for ours in OUR_FLAGS:
        for flag in theirs:
            assert not flag.startswith(ours) and not ours.startswith(flag), (ours, flag)


def _run_args(tmp_path, *extra):
    return ["run", "--model", "dummy", "--tasks", "toy_mc2", "--budget", "3", "--output_path", str(tmp_path / "o"),
            "--ref", str(tmp_path / "no-ref"), *extra]


@pytest.mark.parametrize("extra, message", [
    (["--limit", "5"], "refusing --limit"),
    (["--cache_requests"], "refusing --cache_requests"),
    (["--predict_only"], "refusing --predict_only"),
    (["--samples", '{"toy_mc2": [1]}'], "refusing --samples"),
    (["--target-ci", "-1"], "--target-ci -1.0 must be a positive"),
    (["--selection", "best"], "unknown --selection 'best'"),
])
def test_refusals(tmp_path, capsys, extra, message):
    assert main(_run_args(tmp_path, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_refusal_from_a_config_file(tmp_path, capsys, reference):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("limit: 3\n")
    args = _run_args(tmp_path, "--config", str(cfg))
    args[args.index("--ref") + 1] = str(reference)
    assert main(args) == 2
    assert "refusing --limit" in capsys.readouterr().err


def test_abbreviations_are_off(tmp_path, capsys):
    for abbreviated in (["--predict"], ["--budg", "3"], ["--target", "1"]):
        with pytest.raises(SystemExit) as exit_:
            main(["run", "--model", "dummy", "--tasks", "x", "--budget", "3", *abbreviated])
        assert exit_.value.code == 2
        assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--budget", "1.5"], "--budget '1.5' must be an integer"),
])
def test_bad_budget(tmp_path, capsys, extra, message):
    args = _run_args(tmp_path)
    args[args.index("--budget") + 1] = extra[1]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_missing_reference_and_unknown_task(tmp_path, capsys, lmeval_tasks):
    assert main(_run_args(tmp_path)) == 2
    assert "not a reference directory" in capsys.readouterr().err
    # task names resolve exactly as lm-eval resolves them (built-in index plus --include_path)
    from lrmf_plugin.errors import EvaluationError
    from lrmf_plugin.lm_eval_tasks import task_manager_for

    with pytest.raises(EvaluationError, match="Tasks not found: no_such_task"):
        task_manager_for(["toy_mc2,no_such_task"], lmeval_tasks["tasks"])


def test_unreachable_dataset_is_one_line_error(lmeval_tasks, reference, tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy_remote.yaml").write_text(
        (Path(lmeval_tasks["tasks"]) / "toy_mc2.yaml").read_text().replace("task: toy_mc2", "task: toy_remote")
        .replace("dataset_path: json", "dataset_path: no-such-org/no-such-dataset"))
    proc = _cli(lmeval_tasks["env"], "run", "--model", "dummy", "--tasks", "toy_remote", "--include_path", tasks,
                "--budget", 3, "--output_path", tmp_path / "o", "--ref", reference, check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert last.startswith("error: lm-eval could not fetch a task's dataset") and "no-such-org/no-such-dataset" in last
    assert not (tmp_path / "o").exists()


def test_without_ref_a_failed_first_pull_leaves_no_cache(fake_hub, tmp_path, monkeypatch, capsys):
    """No --ref and no cached reference: `run` pulls the fitted one from the Hub; here the Hub lacks it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LRMF_REF", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    assert main(["run", "--model", "dummy", "--tasks", "toy_mc2", "--budget", "3"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "lrmf-plugin/reference-v2" in last and "lm-eval-predict fit" in last
    assert not (tmp_path / "cache" / "lrmf-plugin" / "reference").exists()


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return lmeval_toy.build_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2") / "model")


def test_hf_model_run(lmeval_tasks, reference, tiny_gpt2, tmp_path):
    """The `hf` path: a locally built tiny GPT-2 evaluated on the planned subset, then predicted."""
    out = tmp_path / "out"
    proc = _cli(lmeval_tasks["env"], "run", "--model", "hf", "--model_args", f"pretrained={tiny_gpt2}",
                "--device", "cpu", "--batch_size", 4, "--tasks", "toy_mc2", "toy_gen", "--include_path",
                lmeval_tasks["tasks"], "--budget", 4, "--output_path", out, "--ref", reference)
    (pred_file,) = out.rglob("predictions_*.json")
    pred = json.loads(pred_file.read_text())
    assert pred["model"] == str(tiny_gpt2)
    for task in ("toy_mc2", "toy_gen"):
        row = pred["benchmarks"][task]
        assert row["n"] == len(pred["plan"]["samples"][task]) == 4
        assert row["lower"] <= row["predicted"] <= row["upper"]
    (results_file,) = out.rglob("results_*.json")
    res = json.loads(results_file.read_text())
    assert res["config"]["model"] == "hf" and res["n-samples"]["toy_mc2"]["effective"] == 4
    assert "toy_mc2" in proc.stdout


def test_plan_models_csv_writes_plan_jsonl(reference, tmp_path):
    models = tmp_path / "models.csv"
    models.write_text("model,parents,metadata_params_billions\n"
                      "org/child,toy-org/model-1,7\n"
                      "org/fresh,,0.5\n")
    out = tmp_path / "plan.jsonl"
    assert main(["plan", "--ref", str(reference), "--models", str(models), "--budget", "3",
                 "--selection", "random", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert {tuple(sorted(x)) for x in lines} == {("benchmark", "item", "model")}
    from lrmf_plugin.reference import Reference

    ref = Reference(reference)
    for model in ("org/child", "org/fresh"):
        mine = [x for x in lines if x["model"] == model]
        for bench in ("toy_mc2", "toy_mc4", "toy_gen"):
            items = [x["item"] for x in mine if x["benchmark"] == bench]
            assert len(items) == len(set(items)) == 3
            assert set(items) <= set(ref.item_block(bench)[1].items)


def test_plan_and_estimate_input_errors(reference, tmp_path, capsys):
    models = tmp_path / "models.csv"
    models.write_text("model\norg/x\n")
    assert main(["plan", "--ref", str(reference), "--models", str(models), "--budget", "3",
                 "--model", "org/y", "--out", str(tmp_path / "p.jsonl")]) == 2
    assert "--model go with --tasks" in capsys.readouterr().err
    (tmp_path / "empty_run").mkdir()
    assert main(["estimate", "--ref", str(reference), str(tmp_path / "empty_run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no lm-eval samples files" in err and "\n" not in err
    assert not list(tmp_path.glob("**/predictions_*.json")) and not (tmp_path / "p.jsonl").exists()

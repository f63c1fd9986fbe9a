"""The prediction report of an lm-eval run: groups, Open LLM Leaderboard scores, the table, the query."""
from __future__ import annotations

import json

import pytest

from lrmf_plugin.importers.lm_eval_output import RunObservations, TaskObservations
from lrmf_plugin.leaderboard import LEAVES, leaderboard_scores
from lrmf_plugin.lm_eval_report import format_table, query_for, report
from lrmf_plugin.reference import Reference
from lrmf_plugin.schema import Prediction

SIZES = {**{t: 250 for t in LEAVES["bbh"]}, "leaderboard_bbh_snarks": 178,
         "leaderboard_musr_murder_mysteries": 250, "leaderboard_musr_object_placements": 256,
         "leaderboard_musr_team_allocation": 250, "leaderboard_gpqa_diamond": 198,
         "leaderboard_gpqa_extended": 546, "leaderboard_gpqa_main": 448,
         **dict(zip(LEAVES["math"], (307, 123, 132, 280, 154, 193, 135))),
         "leaderboard_mmlu_pro": 12032, "leaderboard_ifeval": 541}
METRIC = {"bbh": "acc_norm", "musr": "acc_norm", "gpqa": "acc_norm", "math": "exact_match", "mmlu_pro": "acc"}
INST = "leaderboard_ifeval:inst_level_strict_acc"


def _leaderboard_run() -> tuple[RunObservations, list[Prediction]]:
    run = RunObservations(model="org/m", lm_eval_version="0.4.13")
    preds = []
    for k, task in enumerate(sorted(SIZES)):
        obs = TaskObservations(task=task, n_full=SIZES[task], version=1.0)
        docs = {i: float((i + k) % 3 == 0) for i in range(0, SIZES[task], 25)}
        obs.values[task] = docs
        bench_of = next((b for b, leaves in LEAVES.items() if task in leaves), None)
        obs.metrics[task] = METRIC.get(bench_of, "prompt_level_strict_acc")
        if task == "leaderboard_ifeval":
            obs.values[INST] = {i: 0.5 for i in docs}
            obs.metrics[INST] = "inst_level_strict_acc"
            preds.append(Prediction("org/m", INST, 61.0, 55.0, 67.0))
        run.tasks[task] = obs
        p = 20.0 + k
        preds.append(Prediction("org/m", task, p, p - 4.0, p + 5.0))
    run.groups = {"leaderboard": ["leaderboard_bbh", "leaderboard_gpqa", "leaderboard_mmlu_pro"],
                  "leaderboard_bbh": list(LEAVES["bbh"]), "leaderboard_gpqa": list(LEAVES["gpqa"])}
    preds.append(Prediction("org/m", "bbh", 30.0, 25.0, 35.0))  # a reference benchmark not evaluated here
    return run, preds


def test_leaderboard_scores_come_from_predicted_leaves_and_their_bounds():
    run, preds = _leaderboard_run()
    block = report(run, preds, plan={"samples": {}}, predictor={"name": "x"})
    leaf = {p.benchmark: p for p in preds}
    for key, attr in (("predicted", "predicted"), ("lower", "lower"), ("upper", "upper")):
        expected = leaderboard_scores({b: getattr(p, attr) / 100 for b, p in leaf.items() if b != "bbh"}, SIZES)
        assert set(block["leaderboard"]) == set(expected) == {"ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro", "average"}
        for name, value in expected.items():
            assert block["leaderboard"][name][key] == pytest.approx(value, abs=1e-4)
    for row in block["leaderboard"].values():
        assert row["lower"] <= row["predicted"] <= row["upper"]
    table = format_table(block)
    assert "leaderboard average (normalised)" in table and "leaderboard_gpqa (group)" in table
    json.dumps(block)  # serialisable as written to the results file


def test_group_rows_subset_observed_and_full_size_weighted_prediction():
    run, preds = _leaderboard_run()
    block = report(run, preds, plan={}, predictor={})
    gpqa = block["groups"]["leaderboard_gpqa"]
    rows = [block["benchmarks"][t] for t in LEAVES["gpqa"]]
    assert gpqa["N"] == 1192 and gpqa["n"] == sum(r["n"] for r in rows)
    assert gpqa["observed_subset"] == pytest.approx(sum(r["observed"] * r["n"] for r in rows) / gpqa["n"], abs=1e-3)
    assert gpqa["predicted"] == pytest.approx(sum(r["predicted"] * r["N"] for r in rows) / 1192, abs=1e-3)
    # nested group over benchmarks with different metrics: the subset value is reported, no full prediction
    top = block["groups"]["leaderboard"]
    assert top["predicted"] is None and top["observed_subset"] is not None
    assert len(top["leaves"]) == 24 + 3 + 1
    # a predicted reference benchmark outside the run is listed, with nothing observed
    assert block["benchmarks"]["bbh"] == {"task": None, "metric": None, "n": 0, "N": None, "observed": None,
                                          "predicted": 30.0, "lower": 25.0, "upper": 35.0}
    assert not block["warnings"]


def test_query_keeps_only_what_the_reference_knows(tmp_path):
    folder = tmp_path / "runs" / "org__a"
    folder.mkdir(parents=True)
    date = "2026-01-01T00-00-00.000001"
    recs = [{"doc_id": d, "filter": "none", "metrics": ["acc"], "acc": float(d % 2)} for d in (0, 1, 2)]
    (folder / f"samples_known_{date}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (folder / f"results_{date}.json").write_text(json.dumps({
        "results": {}, "config": {"model_args": {"pretrained": "org/a"}},
        "n-samples": {"known": {"original": 5, "effective": 3}}}))
    ref = Reference.create(tmp_path / "ref")
    ref.import_source("lm-eval-output", tmp_path / "runs")
    run = RunObservations(model="org/new")
    run.tasks["known"] = TaskObservations(task="known", values={"known": {0: 1.0, 4: 0.0}}, n_full=5)
    run.tasks["unknown"] = TaskObservations(task="unknown", values={"unknown": {0: 1.0}}, n_full=3)
    query, warnings = query_for(run, ref)
    assert query.model == "org/new" and query.items == {"known": {"0": 1.0}}
    assert warnings == ["known: 1 evaluated items are not in the reference and only count as observed"]


def test_a_flagged_prediction_is_flagged_in_the_block_its_rows_the_warnings_and_the_table():
    run, preds = _leaderboard_run()
    reasons = ("leaderboard_ifeval: 22 of 22 items right, more than the best reference model would get (expected 80%)",)
    flagged = [Prediction(p.model, p.benchmark, p.predicted, p.lower, p.upper, flags=reasons) for p in preds]
    block = report(run, flagged, plan={"samples": {}}, predictor={"name": "x"})
    assert block["extrapolation"] == list(reasons)
    assert all(row["extrapolation"] == list(reasons) for row in block["benchmarks"].values() if row["predicted"] is not None)
    assert any("outside the reference's support" in w and reasons[0] in w for w in block["warnings"])
    assert "(extrapolated)" in format_table(block)
    plain = report(run, preds, plan={"samples": {}}, predictor={"name": "x"})
    assert "extrapolation" not in plain and "(extrapolated)" not in format_table(plain)
    assert not any("extrapolation" in row for row in plain["benchmarks"].values())
    json.dumps(block)


def test_uniformly_random_items_give_an_unbiased_estimate_beside_the_prediction():
    run, preds = _leaderboard_run()
    task = "leaderboard_gpqa_main"
    values = run.tasks[task].values[task]
    drawn = sorted(values)[::2]
    block = report(run, preds, plan={"samples": {}, "random": {task: drawn}}, predictor={"name": "x"})
    row = block["benchmarks"][task]["random_subset"]
    v = [values[d] for d in drawn]
    assert row["n"] == len(drawn) and row["estimate"] == pytest.approx(100 * sum(v) / len(v), abs=1e-4)
    n, N = len(v), SIZES[task]
    mean = sum(v) / n
    sd = (sum((x - mean) ** 2 for x in v) / (n - 1) / n * (1 - n / N)) ** 0.5 * 100
    assert row["sd"] == pytest.approx(sd, abs=1e-4)
    assert f"random {n}:" in format_table(block)
    assert not any("random_subset" in r for b, r in block["benchmarks"].items() if b != task)

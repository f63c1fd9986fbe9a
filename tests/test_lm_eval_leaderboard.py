"""Leaderboard leaf tasks against a scores-only reference (real lm-eval, offline, dummy model).

The reference is what a user gets from the leaderboard's CSV: the six normalised v2 scores, lineage
and metadata, no per-instance data. Toy multiple-choice tasks registered under the leaderboard's leaf
names (MuSR: per-subtask normalisation; GPQA: pooled by task size) through ``--include_path`` are
evaluated on random subsets; the subsets' leaderboard score and standard error are the evidence.
"""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import lmeval_toy
from lrmf_plugin.api import Lrmf
from lrmf_plugin.cli import main
from lrmf_plugin.importers.leaderboard import V2_SCORE_COLUMNS
from lrmf_plugin.leaderboard import LEAVES
from lrmf_plugin.samples_plan import share_indices

pytestmark = pytest.mark.slow

MODEL = "lb-org/new-tune"      #: in the reference's lineage and metadata, without scores
TASKS = list(lmeval_toy.LEADERBOARD_TASKS)
BRIDGED = ("gpqa", "musr")
BUDGET, LARGER = 0.25, 0.6
SEED = 1


def _write_v2_csv(path, seed=0):
    """A leaderboard-v2 flat CSV: 10 families of 7 models with two latent skills; MODEL has no scores."""
    rng = np.random.default_rng(seed)
    loads = rng.normal(size=(6, 2)) * 0.6 + np.array([1.0, 0.0])
    rows = []
    for f in range(10):
        size = float(rng.choice([0.5, 1.5, 7.0, 14.0, 70.0]))
        root = rng.normal(size=2) + np.array([np.log(size) - 1.5, 0.0])
        for j in range(7):
            u = root if j == 0 else root + rng.normal(scale=0.3, size=2)
            scores = np.clip(35 + 12 * loads @ u + rng.normal(scale=2.0, size=6), 0, 100)
            rows.append([f"fam{f}/base" if j == 0 else f"fam{f}/ft-{j}", *np.round(scores, 2), size, f"fam{f}/base"])
    rows.append([MODEL, *[""] * 6, 7.0, "fam2/base"])
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model_name", *V2_SCORE_COLUMNS.values(), "metadata_params_billions", "metadata_base_model"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def lb_tasks(lmeval_tasks):
    return lmeval_toy.write_leaderboard_tasks(lmeval_tasks["root"] / "leaderboard_tasks")


@pytest.fixture(scope="module")
def scores_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lb_ref")
    ref = tmp / "ref"
    assert main(["reference", "import", "--ref", str(ref), "--kind", "leaderboard-v2",
                 str(_write_v2_csv(tmp / "v2.csv"))]) == 0
    assert main(["fit", "--ref", str(ref)]) == 0
    return ref


def _acc_norm(folder, task):
    (sfile,) = folder.glob(f"samples_{task}_*.jsonl")
    return {r["doc_id"]: float(r["acc_norm"]) for r in map(json.loads, sfile.read_text().splitlines())}


@pytest.fixture(scope="module")
def lb_run(lmeval_tasks, lb_tasks, scores_reference, tmp_path_factory):
    out = tmp_path_factory.mktemp("lb_run") / "out"
    proc = subprocess.run([sys.executable, "-m", "lrmf_plugin", "run", "--model", "dummy", "--model_args",
                           f"pretrained={MODEL}", "--tasks", *TASKS, "--include_path", str(lb_tasks),
                           "--budget", str(BUDGET), "--output_path", str(out), "--ref", str(scores_reference),
                           "--seed", str(SEED)],
                          env=lmeval_tasks["env"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    folder = out / MODEL.replace("/", "__")
    (pred_file,) = folder.glob("predictions_*.json")
    return {"out": out, "proc": proc, "pred": json.loads(pred_file.read_text()),
            "acc_norm": {t: _acc_norm(folder, t) for t in TASKS}}


def _hand_estimate(acc):
    """musr and gpqa (value, sd) by the leaderboard's formulas and the textbook standard error."""
    def mean_se(t):
        ys = np.array(list(acc[t].values()))
        n, N = len(ys), lmeval_toy.LEADERBOARD_TASKS[t][0]
        return ys.mean(), math.sqrt((1 - n / N) * ys.var(ddof=1) / n)

    out = {}
    musr = LEAVES["musr"]
    terms = [(mean_se(t), b) for t, b in musr.items()]
    out["musr"] = (sum(max(0.0, (m - b) / (1 - b) * 100) for (m, _), b in terms) / 3,
                   math.sqrt(sum((100 / (1 - b) / 3 * se) ** 2 for (_, se), b in terms)))
    sizes = {t: lmeval_toy.LEADERBOARD_TASKS[t][0] for t in LEAVES["gpqa"]}
    total = sum(sizes.values())
    pooled = sum(mean_se(t)[0] * n for t, n in sizes.items()) / total
    out["gpqa"] = (max(0.0, (pooled - 0.25) / 0.75 * 100),
                   math.sqrt(sum((100 / 0.75 * n / total * mean_se(t)[1]) ** 2 for t, n in sizes.items())))
    return out


def test_bridged_benchmarks_are_predicted_not_observed_only(lb_run):
    pred, proc = lb_run["pred"], lb_run["proc"]
    plan = pred["plan"]["samples"]
    for task, (size, _) in lmeval_toy.LEADERBOARD_TASKS.items():
        # a uniform random share per subtask, as for tasks the reference has no items for
        assert plan[task] == share_indices(task, size, BUDGET, SEED)
        row = pred["benchmarks"][task]
        assert row["predicted"] is None and row["score_benchmark"] in BRIDGED and row["n"] == len(plan[task])
    for bench in BRIDGED:
        row = pred["benchmarks"][bench]
        leaves = list(LEAVES[bench])
        assert row["estimate"]["tasks"] == leaves
        assert row["n"] == sum(len(plan[t]) for t in leaves)
        assert row["N"] == sum(lmeval_toy.LEADERBOARD_TASKS[t][0] for t in leaves)
        # an interval, not a point (a prediction may sit on the scale's floor: the dummy model scores ~0)
        assert row["predicted"] is not None and 0 <= row["lower"] <= row["predicted"] < row["upper"] <= 100
        assert row["estimate"]["sd"] > 0
        assert pred["leaderboard"][bench] == {k: row[k] for k in ("predicted", "lower", "upper")}
        assert any(n.startswith(f"{bench}: the reference has the leaderboard score") for n in pred["notes"])
        assert f"note: {bench}: the reference has the leaderboard score" in proc.stderr
    assert "average" not in pred["leaderboard"]  # four of the six benchmarks were not evaluated
    assert not any("no data" in w for w in pred["warnings"]) and "no reference data" not in proc.stdout
    assert "(subset est.)" in proc.stdout and "observed only (in the musr estimate)" in proc.stdout
    # the other benchmarks are predicted too (shared latent vector), with nothing evaluated
    assert pred["benchmarks"]["bbh"]["predicted"] is not None and "estimate" not in pred["benchmarks"]["bbh"]


def test_estimate_and_sd_match_a_hand_computation_on_the_logged_samples(lb_run):
    expected = _hand_estimate(lb_run["acc_norm"])
    for bench in BRIDGED:
        est = lb_run["pred"]["benchmarks"][bench]["estimate"]
        assert est["value"] == pytest.approx(expected[bench][0], abs=1e-3)
        assert est["sd"] == pytest.approx(expected[bench][1], abs=1e-3)


def test_bridge_narrows_the_interval_of_a_zero_evaluation_prediction(lb_run, scores_reference):
    lrmf = Lrmf(scores_reference)
    zero = {p.benchmark: p for p in lrmf.predict([lrmf.query(MODEL)])}
    for bench in BRIDGED:
        row = lb_run["pred"]["benchmarks"][bench]
        assert row["upper"] - row["lower"] < zero[bench].upper - zero[bench].lower


def test_estimate_command_gives_the_same_result(lb_run, scores_reference, tmp_path):
    out = tmp_path / "est.json"
    assert main(["estimate", "--ref", str(scores_reference), str(lb_run["out"]), "--out", str(out)]) == 0
    est = json.loads(out.read_text())
    for key in ("benchmarks", "groups", "tasks", "leaderboard", "notes"):
        assert est[key] == lb_run["pred"][key]


def test_a_larger_subset_gives_a_smaller_sd(lmeval_tasks, lb_tasks, scores_reference, lb_run, tmp_path):
    """A stock lm-eval run of a larger random subset, predicted with `estimate`."""
    out = tmp_path / "stock"
    samples = {t: share_indices(t, size, LARGER, SEED) for t, (size, _) in lmeval_toy.LEADERBOARD_TASKS.items()}
    proc = subprocess.run(lmeval_toy.runs_command(lb_tasks, [{"out": out, "model": MODEL, "tasks": TASKS,
                                                                    "samples": samples}]),
                          env=lmeval_tasks["env"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pred_file = tmp_path / "pred.json"
    assert main(["estimate", "--ref", str(scores_reference), str(out), "--out", str(pred_file)]) == 0
    larger = json.loads(pred_file.read_text())
    folder = out / MODEL.replace("/", "__")
    expected = _hand_estimate({t: _acc_norm(folder, t) for t in TASKS})
    for bench in BRIDGED:
        row, small = larger["benchmarks"][bench], lb_run["pred"]["benchmarks"][bench]
        assert row["n"] > small["n"]
        assert row["estimate"]["sd"] == pytest.approx(expected[bench][1], abs=1e-3)
        assert row["estimate"]["sd"] < small["estimate"]["sd"]

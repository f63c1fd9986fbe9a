"""Items on one task move the predictions of the others, on a reference built from lm-eval runs.

The reference holds real lm-eval runs (the toy multiple-choice tasks, per-instance ``--log_samples``
output) of toy LMs whose one skill drives every task, so the tasks correlate across the reference's
models; a new model's subset run of one task, read by ``lm-eval-predict estimate``, must move the
other tasks' predictions the way that correlation says.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import lmeval_toy
from lrmf_plugin.api import Lrmf
from lrmf_plugin.cli import main
from lrmf_plugin.reference import Reference

pytestmark = pytest.mark.slow

TASKS = ["toy_mc2", "toy_mc4", "toy_new"]
#: the new models' subset run: half of toy_mc2's documents
SUBSET = {"toy_mc2": list(range(0, 24, 2))}


@pytest.fixture(scope="module")
def runs(lmeval_tasks, tmp_path_factory):
    """A fitted reference of 30 skill LMs' full runs, and subset runs of a strong and a weak new model."""
    root = tmp_path_factory.mktemp("transfer")
    runs = [{"out": root / "ref_runs", "model": f"toy-org/skill-{k}", "skill": k / 29, "tasks": TASKS}
            for k in range(30)]
    runs += [{"out": root / name, "model": f"new-org/{name}", "skill": skill, "tasks": ["toy_mc2"],
              "samples": SUBSET} for name, skill in (("strong", 0.95), ("weak", 0.05))]
    proc = subprocess.run(lmeval_toy.runs_command(lmeval_tasks["tasks"], runs), env=lmeval_tasks["env"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = root / "ref"
    assert main(["reference", "import", "--ref", str(ref), "--kind", "lm-eval-output", str(root / "ref_runs")]) == 0
    assert main(["fit", "--ref", str(ref)]) == 0
    return {"root": root, "ref": ref}


def _estimate(runs, name: str) -> dict:
    out = runs["root"] / f"{name}.json"
    assert main(["estimate", "--ref", str(runs["ref"]), str(runs["root"] / name), "--out", str(out)]) == 0
    return json.loads(out.read_text())["benchmarks"]


def test_items_on_one_task_move_the_others_as_the_reference_implies(runs):
    data = Reference(runs["ref"]).load_data()
    means = {t: np.nanmean(data.items[t].values, axis=1) for t in TASKS}
    strong, weak = _estimate(runs, "strong"), _estimate(runs, "weak")
    assert strong["toy_mc2"]["n"] == weak["toy_mc2"]["n"] == len(SUBSET["toy_mc2"])
    assert strong["toy_mc2"]["observed"] > weak["toy_mc2"]["observed"]
    lrmf = Lrmf(runs["ref"])
    nothing = {p.benchmark: p.predicted for p in lrmf.predict([lrmf.query("new-org/none")])}
    for task in ("toy_mc4", "toy_new"):
        # the direction the reference implies: the sign of the tasks' correlation over its models
        direction = np.sign(np.corrcoef(means["toy_mc2"], means[task])[0, 1])
        assert direction > 0  # one skill drives every task (a broken toy would make the test vacuous)
        hi, lo = strong[task]["predicted"], weak[task]["predicted"]
        assert strong[task]["n"] == weak[task]["n"] == 0  # not evaluated: predicted from toy_mc2 alone
        assert hi > nothing[task] > lo, (task, hi, nothing[task], lo)
        # a sizeable move: a quarter of the spread of the reference's scores on that task
        assert hi - lo > 0.25 * 100 * (means[task].max() - means[task].min()), (task, hi, lo)

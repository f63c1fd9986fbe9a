"""A fit's progress: one bar per stage, counting that stage's real work, and the record it keeps."""
from __future__ import annotations

import re

import numpy as np
import pytest
from synthetic_lowrank import make_reference

from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.models.lrmf.defaults import CALIBRATION_MODELS, RESIDUAL_FOLDS


@pytest.fixture(scope="module")
def small():
    data, _ = make_reference(n_families=16, family_size=6, seed=5)
    return data


def test_each_stage_counts_the_work_it_did_and_shows_it(small, capsys):
    model = LRMFPredictor(n_sweeps=3, n_settle=2, calibrate=True, reveal_sets=[("alpha", "beta")],
                          progress=True, seed=0).fit(small)
    stages = {s.name: s for s in model.stages_}
    prior = model.posterior_.prior
    targets = len(prior.basis_)
    core = ["sweeps", "metadata trees", "score-conditional trees", "settle"]
    assert [s.name for s in model.stages_] == core + ["calibration refit: " + n for n in core] + [
        "calibration: held-out models", "calibration: item weights", "calibration: planned items"]
    # the trees: one ensemble per target, again per out-of-fold part; then the score-conditional ones
    # and the reveal set's specialists (one per target it does not reveal), each tree counted
    trees = stages["metadata trees"]
    assert trees.done == trees.total == targets * (1 + RESIDUAL_FOLDS)
    assert trees.trees > sum(len(t.roots) for t in prior.trees_) > 0
    conditional = stages["score-conditional trees"]
    grown = prior.conditional_ + [t for _, ts in prior.specialists_.values() for t in ts]
    assert conditional.done == conditional.total == len(grown) == targets + (targets - 2)
    assert conditional.trees == sum(len(t.roots) for t in grown)
    assert stages["sweeps"].done <= stages["sweeps"].total == 3
    assert stages["settle"].done == stages["settle"].total == 3  # two settling steps, then the covariance
    assert stages["calibration refit: sweeps"].total == 3
    held = stages["calibration: held-out models"]
    n_data = int(small.has_data().sum())
    assert held.done == held.total == min(CALIBRATION_MODELS, max(10, int(0.2 * n_data)))
    assert stages["calibration: planned items"].done == stages["calibration: planned items"].total > 0
    assert all(s.seconds >= 0 and s.cpu_seconds >= 0 for s in model.stages_)
    # what the user sees: every bar ends at the count recorded, trees on the bars that grow them
    shown = capsys.readouterr().err
    for s in model.stages_:
        finals = [line for line in re.split(r"[\r\n]", shown) if line.startswith(s.name + ":")]
        assert finals and f"{s.done}/{s.total}" in finals[-1], s.name
        if s.trees:
            assert f"{s.trees} trees" in finals[-1]


def test_without_progress_nothing_is_shown_and_the_record_is_kept(small, capsys):
    model = LRMFPredictor(n_sweeps=2, n_settle=1, calibrate=False, metadata_model="ridge").fit(small)
    assert capsys.readouterr().err == ""
    assert [s.name for s in model.stages_] == ["sweeps", "metadata trees", "settle"]
    ridge = model.stages_[1]
    assert ridge.total == ridge.done == ridge.trees == 0  # a ridge prior grows no trees
    assert np.isfinite([s.seconds for s in model.stages_]).all()

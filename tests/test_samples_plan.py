"""Plans become lm-eval `samples` dicts that never trigger its `--samples` pitfalls."""
from __future__ import annotations

import pytest

from lrmf_plugin.errors import EvaluationError, InputError
from lrmf_plugin.samples_plan import check_evaluated, plan_options, samples_dict, share_indices

SIZES = {"a": 20, "b": 5}


def test_unsorted_duplicate_and_string_ids_become_sorted_unique_indices():
    assert samples_dict({"b": ["3", 1, 1, 4], "a": [12, 3, 7, 0]}, SIZES) == {"a": [0, 3, 7, 12], "b": [1, 3, 4]}


@pytest.mark.parametrize("plan, message", [
    ({"a": [1], "group_ab": [0]}, "'group_ab', which is not a leaf task"),   # group keys are ignored by lm-eval
    ({"a": [1]}, "no planned items for b"),                              # missing -> full run
    ({"a": [1], "b": []}, "no planned items for b"),                     # empty -> full run
    ({"a": [1], "b": [5]}, "planned item 5 is out of range \\(the task has 5 items"),
    ({"a": [1], "b": ["x1"]}, "item id 'x1' is not an lm-eval document index"),
    ({"a": [1], "b": [-1]}, "planned item -1 is out of range"),
])
def test_plans_lm_eval_would_misread_are_refused(plan, message):
    with pytest.raises(EvaluationError, match=message):
        samples_dict(plan, SIZES)


def test_budget_and_selection_are_checked_up_front():
    assert plan_options("25", "anchors") == 25 and plan_options("0.05", "random") == 0.05
    for bad in ("0", "1.5", "-3", "nan", "x"):
        with pytest.raises(InputError, match="--budget"):
            plan_options(bad, "adaptive")
    with pytest.raises(InputError, match="unknown --selection 'best'"):
        plan_options("5", "best")


def test_share_is_stable_per_task_and_seed():
    a = share_indices("t", 100, 0.1, seed=0)
    assert a == share_indices("t", 100, 0.1, seed=0) and len(a) == 10 and a == sorted(set(a))
    assert a != share_indices("u", 100, 0.1, seed=0) or a != share_indices("t", 100, 0.1, seed=1)
    assert all(0 <= i < 100 for i in a)


def test_check_evaluated_catches_what_lm_eval_would_do_wrong():
    plan = {"a": [0, 3], "b": [1]}
    ok = {"a": {"original": 20, "effective": 2}, "b": {"original": 5, "effective": 1}}
    check_evaluated(plan, ok, {"a": [0, 3, 0, 3], "b": [1]})  # one record per filter is fine
    with pytest.raises(EvaluationError, match="evaluated 20 items, the plan has 2"):
        check_evaluated(plan, {**ok, "a": {"original": 20, "effective": 20}}, {"a": [0, 3], "b": [1]})
    with pytest.raises(EvaluationError, match="logged items"):
        check_evaluated(plan, ok, {"a": [3, 0], "b": [2]})
    with pytest.raises(EvaluationError, match="unplanned task"):
        check_evaluated(plan, {**ok, "c": {"original": 4, "effective": 4}}, {})

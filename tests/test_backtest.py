"""The backtest protocol: no leakage by construction, metrics right on hand cases, report and CLI files."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lrmf_plugin.backtest import (METHODS, MethodSpec, parse_setting, resolve_methods,
                                  run_backtest)
from lrmf_plugin.backtest_metrics import item_metrics, score_metrics
from lrmf_plugin.backtest_report import MEAN_ROWS, TARGETS, Target, summarise, target_value, write_report
from lrmf_plugin.backtest_splits import assign_folds
from lrmf_plugin.cli import main
from lrmf_plugin.errors import InputError
from lrmf_plugin.models.global_mean import GlobalMeanPredictor
from lrmf_plugin.models.scores import full_scores
from synthetic_lowrank import make_reference


@pytest.fixture(scope="module")
def data():
    return make_reference(n_families=12, family_size=6, seed=3)[0]


class Recorder(GlobalMeanPredictor):
    """A global mean that remembers what it was fitted on and every query it was asked."""

    def fit(self, data):
        self.seen_rows_ = set(np.flatnonzero(data.scores.notna().any(axis=1).to_numpy()))
        for block in data.items.values():
            self.seen_rows_ |= set(np.flatnonzero(~np.isnan(block.values).all(axis=1)))
        self.seen_models_ = {data.models[i] for i in self.seen_rows_}
        self.edges_ = list(data.edges)
        self.all_models_ = list(data.models)
        self.queries_ = []
        return super().fit(data)

    def predict(self, queries):
        self.queries_ += list(queries)
        return super().predict(queries)


def first_items_planner(predictor, query, budget, seed, benchmarks):
    """A deterministic 'planner' that asks for more than the budget, to check the backtest trims it."""
    return {b: list(predictor.data_.items[b].items[: budget + 3]) for b in benchmarks}


def test_hand_checked_metrics():
    m = score_metrics(np.array([0.0, 10.0, 20.0]), np.array([1.0, 10.0, 23.0]),
                      np.array([0.0, 11.0, 20.0]), np.array([2.0, 12.0, np.nan]))
    assert m["n"] == 3
    assert m["mae"] == pytest.approx(4 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(10 / 3))
    assert m["pearson"] == pytest.approx(np.corrcoef([1, 10, 23], [0, 10, 20])[0, 1])
    assert m["spearman"] == pytest.approx(1.0)
    assert m["coverage"] == pytest.approx(0.5)  # only two rows have an interval; 0 in [0,2], 10 not in [11,12]
    assert m["width"] == pytest.approx(1.5)
    assert math.isnan(score_metrics(np.array([1.0, 2.0]), np.array([5.0, 5.0]), np.full(2, np.nan), np.full(2, np.nan))["pearson"])
    it = item_metrics(np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.4, 0.6]))
    assert it["auc"] == pytest.approx(0.75) and it["brier"] == pytest.approx(0.185) and it["n_items"] == 4


def test_settings_folds_and_methods_validated():
    assert parse_setting("planned-25").k == 25 and parse_setting("Zero").kind == "zero"
    for bad in ("random", "random-0", "items-5", "planned-x"):
        with pytest.raises(InputError, match="setting"):
            parse_setting(bad)
    with pytest.raises(InputError, match="nope"):
        resolve_methods(["mf", "nope"])
    assert list(resolve_methods(None)) == list(METHODS) and "lrmf" in METHODS
    folds = assign_folds([f"m{i}" for i in range(11)], 3, seed=1)
    assert sorted(np.bincount(folds)) == [3, 4, 4]
    assert (folds == assign_folds([f"m{i}" for i in range(11)], 3, seed=1)).all()
    with pytest.raises(InputError, match="folds"):
        assign_folds(["a", "b"], 3, seed=0)


def test_protocol_never_leaks_held_out_data(data):
    made: list[Recorder] = []

    def factory():
        made.append(Recorder())
        return made[-1]

    methods = {"rec": MethodSpec(factory), "rec_planner": MethodSpec(factory, first_items_planner)}
    settings = ["zero", "known", "random-3", "planned-4"]
    res = run_backtest(data, methods, settings, folds=3, seed=5, known=["alpha", "nope"], progress=False)
    truth = full_scores(data)
    evaluated = set(res.predictions["model"])
    assert evaluated == {m for m in data.models if truth.loc[m].notna().any()}
    for rec in made:
        asked = {q.model for q in rec.queries_}
        # a fold's fit never saw the models it was asked about, yet they stay as lineage nodes
        assert asked and not asked & rec.seen_models_
        assert asked <= set(rec.all_models_) and rec.edges_ == data.edges
        for q in rec.queries_:
            assert set(q.scores) <= {"alpha"}
            row = data.index[q.model]
            for b, obs in q.items.items():
                block = data.items[b]
                col = {it: j for j, it in enumerate(block.items)}
                assert all(v == block.values[row, col[it]] for it, v in obs.items())
    # each model is predicted exactly once per method and setting
    counts = res.predictions.groupby(["method", "setting", "model", "benchmark"]).size()
    assert (counts == 1).all()
    # what each setting revealed
    rec = made[0]
    by_setting = [rec.queries_[i * len(rec.queries_) // 4:(i + 1) * len(rec.queries_) // 4] for i in range(4)]
    zero, known, rand, planned_as_random = by_setting
    assert all(not q.items and not q.scores for q in zero)
    assert all(q.scores.keys() <= {"alpha"} and not q.items for q in known) and any(q.scores for q in known)
    assert all(0 < len(v) <= 3 for q in rand for v in q.items.values())
    assert all(0 < len(v) <= 4 for q in planned_as_random for v in q.items.values())
    planner_rec = made[1]
    planned = planner_rec.queries_[3 * len(planner_rec.queries_) // 4:]
    for q in planned:
        for b, obs in q.items.items():
            assert list(obs) == [it for it in data.items[b].items[:4] if it in obs]
            assert len(obs) <= 4
    # the revealed benchmark is never scored in `known`; every scored row has truth
    p = res.predictions
    assert not ((p["setting"] == "known") & (p["benchmark"] == "alpha")).any()
    assert p["truth"].notna().all()
    assert (p["truth"].to_numpy() == np.array([truth.at[m, b] for m, b in zip(p["model"], p["benchmark"])])).all()


def test_planned_without_planner_equals_random(data):
    spec = {"gm": MethodSpec(GlobalMeanPredictor), "subset": METHODS["subset_mapping"]}
    res = run_backtest(data, spec, ["random-5", "planned-5"], folds=2, seed=0, progress=False)
    p = res.predictions[res.predictions["method"] == "subset"]
    a = p[p["setting"] == "random-5"].set_index(["model", "benchmark"])["predicted"]
    b = p[p["setting"] == "planned-5"].set_index(["model", "benchmark"])["predicted"]
    assert np.allclose(a.sort_index(), b.sort_index())


def test_planner_spends_budget_in_rounds(data):
    calls = []

    def planner(predictor, query, budget, seed, benchmarks):
        calls.append((query.model, budget, {b: len(v) for b, v in query.items.items()}))
        return first_items_planner(predictor, query, budget, seed, benchmarks)

    spec = {"gm": MethodSpec(GlobalMeanPredictor, planner)}
    res = run_backtest(data, spec, ["planned-5"], folds=2, planning_rounds=2, progress=False)
    models = set(res.predictions["model"])
    assert len(calls) == 2 * len(models)
    first, second = calls[0], calls[1]
    assert first[0] == second[0] and (first[1], second[1]) == (3, 5)
    assert first[2] == {} and set(second[2].values()) == {3}
    with pytest.raises(InputError, match="rounds"):
        run_backtest(data, spec, ["planned-5"], folds=2, planning_rounds=0, progress=False)


def test_item_settings_judge_only_models_with_items(data):
    partial = data.subset(np.ones(len(data.models), dtype=bool))
    lacking = [m for m in partial.models if not m.endswith("/base")][:7]
    for m in lacking:
        partial.items["alpha"].values[partial.index[m]] = np.nan
    res = run_backtest(partial, {"gm": MethodSpec(GlobalMeanPredictor)}, ["zero", "random-2"], folds=2, progress=False)
    p = res.predictions
    assert set(lacking) <= set(p[p.setting == "zero"]["model"])
    assert not set(lacking) & set(p[p.setting == "random-2"]["model"])
    assert set(p[p.setting == "random-2"]["model"]) == set(p[(p.setting == "zero") & p.with_items]["model"])
    zero_items = summarise(res).query("setting == 'zero' and subset == 'with_items' and benchmark == 'beta'")
    g = p[(p.setting == "zero") & p.with_items & (p.benchmark == "beta")]
    assert zero_items["mae"].iloc[0] == pytest.approx((g.predicted - g.truth).abs().mean())
    assert len(set(p[p.setting == "random-2"]["model"])) == len(set(p[p.setting == "zero"]["model"])) - len(lacking)


def test_held_out_only_among_models_with_items_and_the_benchmarks_without_items(data, tmp_path):
    partial = data.subset(np.ones(len(data.models), dtype=bool))
    lacking = [m for m in partial.models if not m.endswith("/base")][:7]
    for m in lacking:
        partial.items["alpha"].values[partial.index[m]] = np.nan
    res = run_backtest(partial, {"gm": MethodSpec(GlobalMeanPredictor)}, ["zero", "known", "random-2"], folds=2,
                       known=("alpha",), progress=False, only_with_items=True)
    p = res.predictions
    assert not set(lacking) & set(p["model"])  # no setting judges a model without items on every benchmark
    assert set(p[p.setting == "zero"]["model"]) == set(p[p.setting == "random-2"]["model"])
    table = summarise(res)
    rows = table[(table.setting == "random-2") & (table.subset == "all")].set_index("benchmark")
    assert res.config["item_benchmarks"] == ["alpha", "beta", "c"]
    assert rows.at["mean without items", "mae"] == pytest.approx(rows.loc[["delta", "gamma"], "mae"].mean())
    assert rows.at["mean", "mae"] == pytest.approx(rows.loc[["alpha", "beta", "c", "delta", "gamma"], "mae"].mean())
    known = table[(table.setting == "known") & (table.subset == "all")].set_index("benchmark")
    assert "alpha" not in known.index  # revealed: the known setting's row is over the benchmarks without items
    assert known.at["mean without items", "mae"] == pytest.approx(known.loc[["delta", "gamma"], "mae"].mean())
    write_report(res, tmp_path / "rep", title="synthetic")
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Benchmarks without items" in text and "(delta, gamma)" in text


def test_summary_report_and_targets(data, tmp_path):
    methods = {k: METHODS[k] for k in ("global_mean", "lineage_average", "irt")}
    res = run_backtest(data, methods, ["zero", "random-5"], folds=2, seed=0, progress=False)
    table = summarise(res)
    zero_la = table[(table.method == "lineage_average") & (table.setting == "zero") & (table.subset == "all")]
    per_bench = zero_la[~zero_la.benchmark.isin(MEAN_ROWS)]
    assert zero_la[zero_la.benchmark == "mean"]["mae"].iloc[0] == pytest.approx(per_bench["mae"].mean())
    # the MAE in the table is the MAE of the raw predictions
    raw = res.predictions[(res.predictions.method == "lineage_average") & (res.predictions.setting == "zero")
                          & (res.predictions.benchmark == "beta")]
    assert per_bench.set_index("benchmark").at["beta", "mae"] == pytest.approx((raw.predicted - raw.truth).abs().mean())
    assert set(table[table.setting == "zero"]["subset"]) == {"all", "with_relative", "with_items", "with_parent"}
    assert set(summarise(run_backtest(data, methods, ["zero"], folds=2, progress=False))["subset"]) == \
        {"all", "with_relative", "with_parent"}
    assert table[(table.method == "irt") & (table.benchmark == "mean") & (table.setting == "random-5")]["auc"].notna().all()
    # targets judge the suite's mean; coverage targets look at the worst setting
    goal = Target("t", "syn", "zero", "mae", high=1e9)
    v, _ = target_value(table, goal, "lineage_average", res.settings)
    assert v == pytest.approx(per_bench["mae"].mean()) and goal.passes(v) and not goal.passes(math.nan)
    assert not Target("t", "syn", "zero", "mae", high=0.0).passes(v)
    assert any(t.suite == "v2" and t.setting == "zero" and t.high == 3.5 for t in TARGETS)
    out = tmp_path / "rep"
    write_report(res, out, title="synthetic")
    files = {f.name for f in out.iterdir()}
    assert {"report.md", "results.csv", "error_vs_budget.png", "predicted_vs_actual.png", "coverage.png"} <= files
    assert not [f for f in files if f.startswith(".")]
    text = (out / "report.md").read_text()
    assert "# synthetic" in text and "| lineage_average |" in text and "90% interval coverage" in text
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(table) and {"mae", "coverage", "auc", "brier"} <= set(csv.columns)


def _write_reference(data, path):
    from lrmf_plugin.reference import Reference
    from lrmf_plugin.sources import ItemObservations, SourceData

    long = data.scores.rename_axis("model").reset_index().melt(id_vars="model", var_name="benchmark", value_name="score")
    long = long.dropna()
    items = []
    for b, block in data.items.items():
        rows = ~np.isnan(block.values).all(axis=1)
        items.append(ItemObservations(b, [m for m, r in zip(data.models, rows) if r], list(block.items),
                                      block.values[rows], complete=data.benchmarks[b].items_complete))
    meta = data.metadata.rename_axis("model").reset_index()
    src = SourceData(key="synthetic", kind="test", location="memory", scores=long, metadata=meta,
                     edges=list(data.edges), items=items, benchmarks=dict(data.benchmarks), nodes=list(data.models))
    Reference.create(path).write_source(src)


def test_cli_writes_report(data, tmp_path, capsys):
    ref = tmp_path / "ref"
    _write_reference(data, ref)
    out = tmp_path / "report"
    code = main(["backtest", "--ref", str(ref), "--out", str(out), "--folds", "2", "--methods", "global_mean",
                 "subset_mapping", "--settings", "zero", "random-5", "--max-models", "30", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert (out / "report.md").exists() and (out / "results.csv").exists()
    csv = pd.read_csv(out / "results.csv")
    assert set(csv["method"]) == {"global_mean", "subset_mapping"}
    assert csv[~csv.benchmark.isin(MEAN_ROWS) & (csv.subset == "all")].groupby("setting")["n"].max().max() <= 30
    for argv, needle in ((["--settings", "sometimes"], "setting"), (["--methods", "oracle"], "oracle"),
                         (["--folds", "1"], "folds")):
        capsys.readouterr()
        code = main(["backtest", "--ref", str(ref), "--out", str(tmp_path / "bad"), "--quiet", *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error:") and needle in err and "\n" not in err
    assert not (tmp_path / "bad" / "report.md").exists()
    code = main(["backtest", "--ref", str(tmp_path / "missing"), "--out", str(out), "--quiet"])
    assert code == 2


def test_planned_setting_calls_the_library_planner():
    """The registry's planner is the real :func:`lrmf_plugin.planning.plan_items` (keyword signature)."""
    from lrmf_plugin.backtest import plan_with_planning_module
    from lrmf_plugin.models.lrmf import LRMFPredictor

    small = make_reference(n_families=5, family_size=4, seed=2)[0]
    pred = LRMFPredictor(n_sweeps=3, calibrate=False).fit(small)
    model = small.models[1]
    plan = plan_with_planning_module(pred, small.query(model), 3, 0, ["alpha", "beta"])
    assert set(plan) == {"alpha", "beta"}
    for b, ids in plan.items():
        assert 0 < len(ids) <= 3 and set(ids) <= set(small.items[b].items)
    assert METHODS["lrmf"].planner is plan_with_planning_module


def test_a_method_taking_reveal_sets_is_told_the_known_benchmarks_before_fitting(data):
    class Told(Recorder):
        reveal_sets = ()

        def fit(self, data):
            self.reveal_sets_at_fit_ = self.reveal_sets
            return super().fit(data)

    made: list[Told] = []

    def factory():
        made.append(Told())
        return made[-1]

    methods = {"told": MethodSpec(factory, takes_reveal_sets=True), "plain": MethodSpec(Recorder)}
    res = run_backtest(data, methods, ["zero", "known"], folds=2, seed=1, known=["alpha", "beta"], progress=False)
    assert [m.reveal_sets_at_fit_ for m in made] == [(("alpha", "beta"),)] * 2
    assert any("told fitted with reveal set alpha, beta" in n for n in res.notes)
    made.clear()
    res = run_backtest(data, methods, ["zero"], folds=2, seed=1, known=["alpha", "beta"], progress=False)
    assert [m.reveal_sets_at_fit_ for m in made] == [()] * 2 and not res.notes


def test_ids_and_parents_hides_the_leaderboard_row_and_takes_the_users_path(data):
    """A held-out model given by id keeps its Hub edges but loses its metadata and root link; the
    copy-the-parents baseline then scores exactly its scored parents' mean (quantised copies and
    merges aside: the path applies the reference's relation offsets to those, whatever the method)."""
    import dataclasses

    from lrmf_plugin.backtest import holdout
    from lrmf_plugin.schema import Edge

    child = next(e.child for e in data.edges if e.relation == "finetune" and data.scores.loc[e.parent].notna().all())
    with_root = dataclasses.replace(data, edges=[*data.edges, Edge(child.split("/")[0] + "/base", child, "family")])
    keep = with_root.has_data()
    keep[with_root.index[child]] = False
    train = holdout(with_root, keep)
    assert train.metadata.loc[child].isna().all() and with_root.metadata.loc[child].notna().any()
    assert not [e for e in train.edges if e.child == child and e.relation == "family"]
    assert [e for e in train.edges if e.child == child and e.relation == "finetune"]
    methods = {k: METHODS[k] for k in ("parents_copy", "metadata_regression")}
    res = run_backtest(data, methods, ["zero", "ids-and-parents"], folds=2, seed=0, progress=False)
    p = res.predictions
    copies = {e.child for e in data.edges if e.relation in ("quantized", "merge")}
    ids = p[(p.setting == "ids-and-parents") & (p.method == "parents_copy") & p.with_parent & ~p.model.isin(copies)]
    assert len(ids)
    truth = full_scores(data)
    for row in ids.head(30).itertuples():
        same_fold = set(p[p.fold == row.fold].model)  # held out with it: not scored in that fit
        parents = [e.parent for e in data.edges if e.child == row.model and e.relation != "family"]
        scored = [truth.at[q, row.benchmark] for q in parents if q not in same_fold]
        scored = [v for v in scored if v == v]
        assert row.predicted == pytest.approx(np.mean(scored))
    meta = p[p.method == "metadata_regression"].pivot_table(index=["model", "benchmark"], columns="setting",
                                                            values="predicted")
    assert (meta["zero"] != meta["ids-and-parents"]).any()


def test_ids_and_parents_gives_every_method_finite_predictions_and_keeps_missing_intervals_missing(data):
    methods = {k: METHODS[k] for k in ("global_mean", "lineage_average", "parents_copy")}
    p = run_backtest(data, methods, ["ids-and-parents"], folds=2, seed=0, progress=False).predictions
    assert np.isfinite(p["predicted"]).all()
    copies = {e.child for e in data.edges if e.relation == "quantized"}  # read off their parent, with an interval
    no_interval = p[(p.method != "global_mean") & ~p.model.isin(copies)]
    assert len(no_interval) and no_interval["lower"].isna().all() and no_interval["upper"].isna().all()

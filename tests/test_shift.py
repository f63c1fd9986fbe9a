"""Backtests under shift (frontier, temporal, new-family) and the baselines that survive it
(random sampling, random sampling + regression, AIPW), on synthetic data with a known structure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lrmf_plugin.backtest import resolve_methods, run_backtest
from lrmf_plugin.backtest_splits import FAMILY_SHARE_CAP, make_folds
from lrmf_plugin.cli import main
from lrmf_plugin.errors import InputError
from lrmf_plugin.models.aipw import AIPWPredictor
from lrmf_plugin.models.random_sampling import RandomRegressionPredictor, RandomSamplingPredictor, wilson
from lrmf_plugin.models.scores import full_scores
from synthetic_lowrank import make_reference
from tiny_reference import write_tiny_reference


@pytest.fixture(scope="module")
def data():
    data = make_reference(n_families=14, family_size=8, n_items=60, n_complete=200, seed=4)[0]
    rng = np.random.default_rng(0)
    fam = [m.split("/")[0] for m in data.models]
    # three architectures of different sizes, and a submission date per model (a few undated)
    arch = {f: {3: "Mid", 9: "Mid", 5: "Small"}.get(int(f[3:]), "Big") for f in set(fam)}
    data.metadata["architecture"] = [arch[f] for f in fam]
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, len(fam)), unit="D")
    data.metadata["submission_date"] = [None if i % 17 == 0 else d.strftime("%Y-%m-%d") for i, d in enumerate(dates)]
    return data


def candidates(data):
    truth = full_scores(data)
    return truth, [m for m, has in zip(data.models, truth.notna().any(axis=1)) if has]


def test_frontier_holds_out_the_strongest_together(data):
    truth, cand = candidates(data)
    folds, how = make_folds(data, truth, "frontier", 5, seed=0, share=0.2)
    assert len(folds) == 1 and "frontier" in how
    mean = truth.loc[cand].mean(axis=1)
    held = set(folds[0].held)
    assert abs(len(held) - 0.2 * len(cand)) <= 2
    assert mean[list(held)].min() > mean.drop(list(held)).max()
    # capping the judged models never lets a frontier model back into the fit
    capped, _ = make_folds(data, truth, "frontier", 5, seed=0, max_models=5, share=0.2)
    assert len(capped[0].held) == 5 and set(capped[0].held) <= held and set(capped[0].excluded) == held


def test_temporal_holds_out_the_latest_and_needs_dates(data):
    truth, cand = candidates(data)
    folds, how = make_folds(data, truth, "temporal", 5, seed=0, share=0.1)
    dates = pd.to_datetime(data.metadata.loc[cand, "submission_date"])
    held = folds[0].held
    assert dates[held].min() > dates.drop(held).dropna().max() - pd.Timedelta(days=1)
    assert dates[held].notna().all() and "undated" in how
    undated = data.metadata.copy()
    undated["submission_date"] = None
    data_without = type(data)(list(data.models), data.scores, data.items, undated, data.edges, dict(data.benchmarks))
    with pytest.raises(InputError, match="submission"):
        make_folds(data_without, truth, "temporal", 5, seed=0)


def test_new_family_holds_out_whole_families_under_the_cap(data):
    truth, cand = candidates(data)
    folds, how = make_folds(data, truth, "new-family", 3, seed=0)
    arch = data.metadata.loc[cand, "architecture"]
    assert arch.value_counts(normalize=True)["Big"] > FAMILY_SHARE_CAP  # too big to be "one new family"
    assert [f.label for f in folds] == ["Mid", "Small"] and "Big" not in how
    for fold in folds:
        assert set(fold.held) == set(arch.index[arch == fold.label])
    with pytest.raises(InputError, match="split"):
        make_folds(data, truth, "sideways", 3, seed=0)
    with pytest.raises(InputError, match="folds"):
        make_folds(data, truth, "new-family", 0, seed=0)
    with pytest.raises(InputError, match="share"):
        make_folds(data, truth, "frontier", 1, seed=0, share=1.5)


def test_shift_backtest_never_fits_on_the_held_out_group(data):
    res = run_backtest(data, resolve_methods(["global_mean"]), ["zero"], split="frontier", share=0.2, progress=False)
    truth, cand = candidates(data)
    held = sorted(set(res.predictions["model"]))
    kept = [m for m in cand if m not in held]
    pred = res.predictions[res.predictions.benchmark == "alpha"]["predicted"].unique()
    # the global mean of the fit is the mean of the models that stayed: the frontier never entered it
    assert pred == pytest.approx([truth.loc[kept, "alpha"].mean()])
    assert res.config["split"] == "frontier" and any(n.startswith("frontier:") for n in res.notes)
    # held out for being strong, predicted from the rest: biased low
    assert (res.predictions["predicted"] - res.predictions["truth"]).mean() < 0


def test_wilson_interval_holds_the_mean_and_shrinks_with_the_block():
    low, high = wilson(0.3, 20, 1000)
    assert low < 0.3 < high
    assert wilson(0.3, 20, 25)[1] - wilson(0.3, 20, 25)[0] < high - low
    assert wilson(0.3, 25, 25) == (0.3, 0.3)
    assert 0 < wilson(0.0, 10, 1000)[1] and wilson(1.0, 10, 1000)[0] < 1


def test_random_sampling_is_unbiased_and_covers_on_a_complete_block(data):
    """Benchmark ``c`` is a whole test set: its score is the item mean x100, so a random sample's mean is an
    unbiased estimate and its binomial interval should hold the score about 90% of the time."""
    rs = RandomSamplingPredictor().fit(data)
    assert rs.lines_["c"].slope == pytest.approx(100.0) and rs.lines_["c"].intercept == pytest.approx(0.0, abs=1e-6)
    truth = full_scores(data)["c"]
    rng = np.random.default_rng(1)
    errors, inside = [], []
    models = [m for m in data.models if not np.isnan(truth[m])]
    for m in models:
        plan = data.random_items(data.index[m], 20, rng)
        (p,) = [p for p in rs.predict([data.query(m, items={"c": plan["c"]})]) if p.benchmark == "c"]
        errors.append(p.predicted - truth[m])
        inside.append(p.lower <= truth[m] <= p.upper)
    assert abs(np.mean(errors)) < 3 * np.std(errors) / np.sqrt(len(errors))
    assert 0.8 <= np.mean(inside) <= 0.99
    (full,) = [p for p in rs.predict([data.query(models[0], items={"c": list(data.items["c"].items)})])
               if p.benchmark == "c"]
    assert full.predicted == pytest.approx(truth[models[0]]) and full.upper - full.lower == pytest.approx(0.0, abs=1e-6)


def test_aipw_and_regression_use_the_reference_and_stay_unbiased(data):
    """On low-rank data the reference's answers predict a new model's, so AIPW and the regression
    beat the plain mean at the same items; AIPW's residual correction keeps it unbiased."""
    keep = np.ones(len(data.models), dtype=bool)
    held = [m for i, m in enumerate(data.models) if i % 4 == 0 and not m.endswith("/base")]
    keep[[data.index[m] for m in held]] = False
    train = data.subset(keep)
    methods = {p.name: p.fit(train) for p in (RandomSamplingPredictor(), AIPWPredictor(), RandomRegressionPredictor())}
    truth = full_scores(data)["c"]
    rng = np.random.default_rng(2)
    errors: dict[str, list[float]] = {name: [] for name in methods}
    for m in held:
        for _ in range(3):
            q = data.query(m, items={"c": data.random_items(data.index[m], 15, rng)["c"]})
            for name, pred in methods.items():
                (p,) = [p for p in pred.predict([q]) if p.benchmark == "c"]
                errors[name].append(p.predicted - truth[m])
    mae = {name: float(np.mean(np.abs(e))) for name, e in errors.items()}
    assert mae["aipw"] < mae["random_sampling"] and mae["random_regression"] < mae["random_sampling"]
    e = np.array(errors["aipw"])
    assert abs(e.mean()) < 3 * e.std() / np.sqrt(len(e))
    # benchmarks without observed items fall back to the global mean with its interval
    (gamma,) = [p for p in methods["aipw"].predict([data.query(held[0])]) if p.benchmark == "gamma"]
    assert gamma.predicted == pytest.approx(full_scores(train)["gamma"].mean()) and gamma.lower < gamma.upper


def test_cli_split_option(tmp_path, capsys):
    ref = write_tiny_reference(tmp_path / "ref", fit=False)["path"]
    out = tmp_path / "frontier"
    code = main(["backtest", "--ref", str(ref), "--out", str(out), "--split", "frontier", "--share", "0.25",
                 "--methods", "global_mean", "random_sampling", "aipw", "--settings", "zero", "random-3", "--quiet"])
    assert code == 0, capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "frontier:" in report and "random_sampling" in report and "aipw" in report
    capsys.readouterr()
    code = main(["backtest", "--ref", str(ref), "--out", str(tmp_path / "bad"), "--split", "temporal", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "submission" in err and "\n" not in err
    assert not (tmp_path / "bad").exists()

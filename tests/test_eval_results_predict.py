"""A reference built from a small v2-like CSV plus evaluation results pulled from the fake Hub predicts the
new benchmarks for a new model: with a calibrated interval where enough models have them, else with the
reason there is none. Also the test-level measurement of predicting held-out models' eval-results scores."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cli_run import run_cli
from csv_files import write_csv
from fakehub import FakeHub
from fakehub_evalresults import BENCHMARK_DATASETS, BROKEN_CARD, BROKEN_YAML, eval_results_yaml, leaderboard_card
from lrmf_plugin.api import Lrmf
from lrmf_plugin.eval_results import own_benchmark
from lrmf_plugin.importers.leaderboard import V2_SCORE_COLUMNS
from lrmf_plugin.reference import Reference

GPQA_D = own_benchmark("Idavidrein/gpqa", "gpqa_diamond")
HLE_TOOLS = own_benchmark("cais/hle", "default", "tools")
N_FAMILIES, FAMILY_SIZE = 16, 5
#: models whose gpqa_diamond result is held back from the reference, to be predicted as new ones
HELD = [f"fam{k}/m4" for k in range(N_FAMILIES)]


def _world(seed: int = 7) -> dict:
    """Families sharing an ability; v2 scores and the eval-results benchmark all load on it."""
    rng = np.random.default_rng(seed)
    models, v2, gpqa_d, params = [], {}, {}, {}
    for k in range(N_FAMILIES):
        family = rng.normal()
        size = float(rng.choice([1.5, 7.0, 14.0, 70.0]))
        for j in range(FAMILY_SIZE):
            m = f"fam{k}/m{j}"
            a = family + 0.3 * rng.normal() + 0.4 * math.log(size / 7.0)
            models.append(m)
            params[m] = size
            v2[m] = [float(np.clip(30 + 9 * a * w + 2 * rng.normal(), 0, 100))
                     for w in (1.0, 0.8, 1.2, 0.4, 0.5, 1.0)]
            gpqa_d[m] = float(np.clip(35 + 8 * a + 1.5 * rng.normal(), 0, 100))
    return {"models": models, "v2": v2, "gpqa_d": gpqa_d, "params": params}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The reference (v2 CSV + eval results read from the fake Hub), fitted with calibration."""
    from huggingface_hub import constants

    tmp = tmp_path_factory.mktemp("evalres")
    world = _world()
    header = ["model_name", "metadata_params_billions", "metadata_base_model", *V2_SCORE_COLUMNS.values()]
    rows = [[m, world["params"][m], m.split("/")[0] + "/m0", *world["v2"][m]] for m in world["models"]]
    csv = write_csv(tmp / "v2.csv", header, rows)
    with pytest.MonkeyPatch.context() as mp, FakeHub() as hub:
        mp.setenv("HF_HOME", str(tmp / "hf"))
        mp.setattr(constants, "HF_HUB_CACHE", str(tmp / "hf" / "hub"))
        mp.delenv("HF_TOKEN", raising=False)
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        for d in BENCHMARK_DATASETS:
            hub.add_dataset(d, {"README.md": b"a benchmark"})
        for i, m in enumerate(world["models"]):
            files = {} if m in HELD else {".eval_results/gpqa.yaml": eval_results_yaml(
                [{"dataset": "Idavidrein/gpqa", "task": "gpqa_diamond", "value": round(world["gpqa_d"][m], 2)}])}
            if i < 3:  # a benchmark only three models report: too few to calibrate
                files[".eval_results/hle.yaml"] = eval_results_yaml(
                    [{"dataset": "cais/hle", "task": "default", "value": 10.0 + i, "notes": "tools"}])
            if i == 5:
                files[".eval_results/broken.yaml"] = BROKEN_YAML
            card = b"# a model\n"
            if i % 7 == 0:  # the leaderboard's own card rows: the same numbers as the CSV's
                card = leaderboard_card(m, {"ifeval": round(world["v2"][m][0], 2)})
            hub.add_model(m, files={"README.md": BROKEN_CARD if i == 6 else card, **files})
        ids = tmp / "ids.txt"
        ids.write_text("\n".join(world["models"]) + "\n")
        ref = tmp / "ref"
        from lrmf_plugin.cli import main

        assert main(["reference", "import", "--ref", str(ref), "--kind", "leaderboard-v2", str(csv)]) == 0
        assert main(["reference", "import", "--ref", str(ref), "--kind", "hub-eval-results", "--endpoint", hub.url,
                     str(ids)]) == 0
    notes = [n for s in Reference(ref).sources() if s.kind == "hub-eval-results" for n in s.notes]
    assert notes[0] == "skipped (never stored): 2 malformed files"
    api = Lrmf(ref)
    api.fit(progress=False, n_sweeps=3, calibration_share=0.5)
    return {"ref": ref, "api": api, "world": world}


def test_a_new_model_gets_the_new_benchmark_with_an_interval_and_the_rare_one_with_the_reason(built, capsys):
    rc, out, err = run_cli(capsys, "predict", "--ref", str(built["ref"]), "fam3/new-tune", "--parent",
                           "fam3/m1", "--relation", "finetune")
    assert rc == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "none" not in rows["Idavidrein/gpqa:gpqa_diamond"]
    assert f"{HLE_TOOLS}: no interval: only 3 reference models have a score on {HLE_TOOLS}" in out
    [pred] = [p for p in built["api"].predict([built["api"].query("fam3/new-tune", parents=[("fam3/m1", "finetune")])])
              if p.benchmark == GPQA_D]
    assert pred.lower < pred.predicted < pred.upper
    hle = [p for p in built["api"].predict([built["api"].query("fam3/new-tune")]) if p.benchmark == HLE_TOOLS][0]
    assert math.isnan(hle.lower) and math.isnan(hle.upper) and 0 <= hle.predicted <= 100


@pytest.mark.parametrize("given", ["v2 scores", "lineage and metadata"])
def test_held_out_models_eval_results_scores_are_predicted_better_than_the_benchmarks_mean(built, given):
    """The test-level measurement (docs/experiments.md): each model whose gpqa_diamond result was held
    back, predicted on it from its v2 scores (or from its family and size only); error against the
    truth, against the benchmark's mean over the other models, and interval coverage."""
    api, world = built["api"], built["world"]
    truth = np.array([world["gpqa_d"][m] for m in HELD])
    names = list(V2_SCORE_COLUMNS)
    queries = [api.query(m, scores=dict(zip(names, world["v2"][m])) if given == "v2 scores" else None) for m in HELD]
    preds = {(p.model, p.benchmark): p for p in api.predict(queries)}
    ours = np.array([preds[(m, GPQA_D)].predicted for m in HELD])
    inside = np.mean([preds[(m, GPQA_D)].lower <= t <= preds[(m, GPQA_D)].upper for m, t in zip(HELD, truth)])
    known = [v for m, v in world["gpqa_d"].items() if m not in HELD]
    mae, mae_mean = float(np.mean(np.abs(ours - truth))), float(np.mean(np.abs(np.mean(known) - truth)))
    print(f"\nheld-out gpqa_diamond from {given}: MAE {mae:.2f} (benchmark mean {mae_mean:.2f}), "
          f"coverage {inside:.2f} of {len(HELD)}")
    assert mae < 0.6 * mae_mean
    assert inside >= 0.6


def test_the_space_shows_the_new_benchmarks_and_says_why_one_has_no_interval(built):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "space"))
    from service import SpaceService

    service = SpaceService(built["ref"])
    result = service.predict_model("fam3/m1")
    rows = result.frame.set_index("benchmark")
    assert rows.loc[GPQA_D, "lower"] < rows.loc[GPQA_D, "upper"]
    assert math.isnan(rows.loc[HLE_TOOLS, "lower"])
    assert any(note.startswith("no interval: only 3 reference models") and HLE_TOOLS in note for note in result.notes)
    assert "eval-results" not in service.suites  # no average over benchmarks on their own scales

"""`lm-eval-predict fit / predict / plan` as a user runs them: files in, files out, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from cli_run import run_cli
from synthetic_lowrank import make_reference

from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import ItemObservations, SourceData


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrmf_plugin", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """A reference holding the synthetic data minus three models, fitted through the CLI."""
    data, _ = make_reference(n_families=12, family_size=6, seed=1)
    held = ["fam0/m2-finetune", "fam1/m4-finetune", "fam2/m1-quantized"]
    keep = [m for m in data.models if m not in held]
    scores = data.scores.loc[keep].stack().dropna().rename("score").reset_index()
    scores.columns = ["model", "benchmark", "score"]
    items = []
    for b, block in data.items.items():
        rows = [data.index[m] for m in keep]
        items.append(ItemObservations(b, keep, list(block.items), block.values[rows], complete=data.benchmarks[b].items_complete))
    meta = data.metadata.loc[keep].reset_index().rename(columns={"index": "model"})
    path = tmp_path_factory.mktemp("ref") / "ref"
    Reference.create(path).write_source(SourceData(key="syn", kind="synthetic", location="test", scores=scores,
                                                   metadata=meta, edges=list(data.edges), items=items,
                                                   benchmarks=dict(data.benchmarks)))
    proc = cli("fit", "--ref", str(path), "--sweeps", "6")
    assert proc.returncode == 0, proc.stderr
    return {"path": path, "data": data, "held": held}


def test_predict_writes_every_model_and_benchmark(ref, tmp_path):
    models = tmp_path / "models.csv"
    models.write_text("model,metadata_params_billions,model_type,parents\n"
                      "fam0/m2-finetune,7,finetuned,\n"
                      "new/merge,7,finetuned,fam3/m1-quantized;fam4/m2-finetune\n")
    obs = tmp_path / "obs.jsonl"
    item = ref["data"].items["alpha"].items[0]
    obs.write_text(json.dumps({"model": "new/merge", "benchmark": "alpha", "item": item, "value": 1}) + "\n"
                   + json.dumps({"model": "fam0/m2-finetune", "benchmark": "gamma", "score": 40.0}) + "\n")
    out = tmp_path / "pred.csv"
    proc = cli("predict", "--ref", str(ref["path"]), "--models", str(models), "--observations", str(obs), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    pred = pd.read_csv(out)
    # a given score unlike its family's may put the model outside the reference: then flagged in a column of its own
    assert list(pred.columns)[:7] == ["model", "benchmark", "predicted", "lower", "upper", "measured", "source"]
    assert list(pred.columns)[7:] in ([], ["extrapolation"])
    assert len(pred) == 2 * len(ref["data"].benchmark_names())
    assert (pred.lower <= pred.predicted).all() and (pred.predicted <= pred.upper).all()
    given = pred[(pred.model == "fam0/m2-finetune") & (pred.benchmark == "gamma")].iloc[0]
    assert given.predicted == pytest.approx(40.0) and given.lower == given.upper and given.source == "given"


def test_a_model_outside_the_reference_is_flagged_in_the_table_the_json_and_the_csv(ref, tmp_path):
    giant, plain = "new/giant-400B", "fam0/m2-finetune"  # a size in the name beyond the reference's largest (70B)
    table = cli("predict", "--ref", str(ref["path"]), giant)
    assert table.returncode == 0, table.stderr
    assert "EXTRAPOLATION" in table.stdout and "400B parameters, more than the reference's largest model" in table.stdout
    predicted = [line for line in table.stdout.splitlines() if line.rstrip().endswith("predicted (extrapolated)")]
    assert len(predicted) == len(ref["data"].benchmark_names())
    as_json = json.loads(cli("predict", "--ref", str(ref["path"]), giant, "--json").stdout)[0]
    assert as_json["extrapolation"] and all(row["extrapolation"] == as_json["extrapolation"]
                                             for row in as_json["benchmarks"])
    quiet = json.loads(cli("predict", "--ref", str(ref["path"]), plain, "--json").stdout)[0]
    assert "extrapolation" not in quiet and not any("extrapolation" in row for row in quiet["benchmarks"])
    models = tmp_path / "models.csv"
    models.write_text(f"model\n{plain}\n{giant}\n")
    out = tmp_path / "pred.csv"
    assert cli("predict", "--ref", str(ref["path"]), "--models", str(models), "--out", str(out)).returncode == 0
    pred = pd.read_csv(out, keep_default_na=False)
    flagged = pred.groupby("model")["extrapolation"].apply(lambda s: (s != "").all())
    assert flagged.to_dict() == {giant: True, plain: False}


def test_plan_writes_items_within_budget(ref, tmp_path):
    models = tmp_path / "models.csv"
    models.write_text("model\nfam1/m4-finetune\n")
    out = tmp_path / "plan.jsonl"
    proc = cli("plan", "--ref", str(ref["path"]), "--models", str(models), "--budget", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    per_benchmark = pd.DataFrame(lines).groupby("benchmark").item.nunique()
    assert set(per_benchmark.index) == set(ref["data"].items) and (per_benchmark == 5).all()


def test_plan_marks_the_random_share_and_refuses_a_bad_one(ref, tmp_path, capsys):
    models = tmp_path / "models.csv"
    models.write_text("model\nfam1/m4-finetune\n")
    out = tmp_path / "plan.jsonl"
    proc = cli("plan", "--ref", str(ref["path"]), "--models", str(models), "--budget", "8", "--random-share", "0.25",
               "--seed", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = pd.DataFrame([json.loads(x) for x in out.read_text().splitlines()])
    per_benchmark = lines.groupby("benchmark")["random"].agg(["sum", "size"])
    assert (per_benchmark["sum"] == 2).all() and (per_benchmark["size"] == 8).all()
    for bad in ("1", "-0.1", "half"):
        rc, _, err = run_cli(capsys, "plan", "--ref", str(ref["path"]), "--models", str(models), "--budget", "8",
                             "--random-share", bad, "--out", str(tmp_path / "bad.jsonl"))
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "--random-share" in err
        assert not (tmp_path / "bad.jsonl").exists()


@pytest.mark.parametrize("models_csv,obs,message", [
    ("name\nx\n", None, "missing column 'model'"),
    ("", None, "the file is empty"),
    ("model,relation,parents\nnew/a,cloned,fam0/base\n", None, "models.csv:2: column 'relation': unknown lineage relation 'cloned'"),
    ("model\nnew/a\n", {"model": "new/a", "benchmark": "alpha", "item": "zzz", "value": 1}, "item 'zzz'"),
    ("model\nnew/a\n", {"model": "new/a", "benchmark": "nope", "score": 3}, "benchmark 'nope'"),
    ("model\nnew/a\n", {"model": "new/a", "benchmark": "alpha", "item": "ITEM", "value": 1.5}, "outside [0, 1]"),
    ("model\nnew/a\n", {"model": "new/a", "benchmark": "alpha", "item": "ITEM", "value": "NaN"}, "outside [0, 1]"),
    ("model\nnew/a\n", {"model": "other", "benchmark": "alpha", "score": 3}, "'other'"),
])
def test_bad_input_is_one_line_and_writes_nothing(ref, tmp_path, capsys, models_csv, obs, message):
    models = tmp_path / "models.csv"
    models.write_text(models_csv)
    args = ["predict", "--ref", str(ref["path"]), "--models", str(models), "--out", str(tmp_path / "pred.csv")]
    if obs is not None:
        if obs.get("item") == "ITEM":
            obs["item"] = ref["data"].items["alpha"].items[0]
        (tmp_path / "obs.jsonl").write_text(json.dumps(obs) + "\n")
        args += ["--observations", str(tmp_path / "obs.jsonl")]
    rc, _, err = run_cli(capsys, *args)  # in-process: the subprocess path is covered by the other tests
    lines = err.splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not (tmp_path / "pred.csv").exists()


@pytest.mark.parametrize("model", ["", "   "])
def test_an_empty_model_id_is_one_line_not_a_prediction(ref, capsys, model):
    rc, out, err = run_cli(capsys, "predict", "--ref", str(ref["path"]), model)
    assert rc == 2 and out == "" and err.strip() == "error: empty model id: name one model (ORG/MODEL)"


def test_predictor_of_an_older_state_is_refused(ref, tmp_path):
    # importing anything new changes the reference: the stored predictor no longer matches it
    copy = tmp_path / "ref"
    subprocess.run(["cp", "-r", str(ref["path"]), str(copy)], check=True)
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,edge\nfam0/base,fam0/extra,finetuned\n")
    assert cli("reference", "import", "--ref", str(copy), "--kind", "lineage", str(edges)).returncode == 0
    (tmp_path / "models.csv").write_text("model\nfam0/extra\n")
    proc = cli("predict", "--ref", str(copy), "--models", str(tmp_path / "models.csv"), "--out", str(tmp_path / "p.csv"))
    assert proc.returncode == 2 and "fit" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_texts_read_as_printed():
    """argparse %-formats ``help`` strings but prints a ``description`` as written, so a ``90%%`` in
    a description reached users doubled. Every subcommand's help must print single percent signs."""
    import argparse

    from bot.cli import build_parser as bot_parser
    from lrmf_plugin.cli import build_parser

    for top in (build_parser(), bot_parser()):
        subs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        for name, parser in subs.choices.items():
            text = parser.format_help()
            assert "%%" not in text and "%(" not in text, name


def test_fit_with_an_unknown_reveal_benchmark_fails_in_one_line_and_keeps_the_predictor(ref, tmp_path):
    import shutil
    copy = tmp_path / "ref"
    shutil.copytree(ref["path"], copy)
    stored = {p.name: p.read_bytes() for p in (copy / "predictor").iterdir()}
    proc = cli("fit", "--ref", str(copy), "--reveal", "alpha,nosuch")
    assert proc.returncode == 2 and "'nosuch'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (copy / "predictor").iterdir()} == stored

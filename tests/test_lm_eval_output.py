"""The lm-eval-output importer on real lm-eval output (stock runs of the toy tasks, dummy model)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import lmeval_toy
from lrmf_plugin.errors import InputError
from lrmf_plugin.importers.lm_eval_output import read, read_run
from lrmf_plugin.reference import Reference

pytestmark = pytest.mark.slow


def _raw_records(run_dir, task):
    """Every record of a samples file, parsed independently of the importer."""
    (path,) = run_dir.glob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_blocks_hold_the_per_instance_metric_of_every_model(lmeval_stock_runs):
    src = read(lmeval_stock_runs["dir"])
    blocks = {o.benchmark: o for o in src.items}
    assert set(blocks) == {"toy_mc2", "toy_mc4", "toy_gen", "toy_if", "toy_if:inst_level_strict_acc"}
    for name, block in blocks.items():
        assert block.models == sorted(lmeval_stock_runs["models"])
        task = name.split(":")[0]
        assert len(block.items) == lmeval_toy.SIZES[task]
        assert block.complete and src.benchmarks[name].items_complete
        assert not np.isnan(block.values).any()
    # values are exactly what lm-eval logged per document: acc (first metric) for a plain MC task,
    # the inst-level list as a fraction for the IFEval-like task
    model = lmeval_stock_runs["models"][2]
    run_dir = lmeval_stock_runs["dir"] / model.replace("/", "__")
    row = blocks["toy_mc2"].models.index(model)
    for rec in _raw_records(run_dir, "toy_mc2"):
        assert blocks["toy_mc2"].values[row, blocks["toy_mc2"].items.index(str(rec["doc_id"]))] == rec["acc"]
    inst = blocks["toy_if:inst_level_strict_acc"]
    for rec in _raw_records(run_dir, "toy_if"):
        col = inst.items.index(str(rec["doc_id"]))
        assert inst.values[row, col] == pytest.approx(sum(rec["inst_level_strict_acc"]) / len(rec["inst_level_strict_acc"]))
        assert blocks["toy_if"].values[row, col] == float(rec["prompt_level_strict_acc"])
    # dummy MC answers differ between seeds, so the models are distinguishable
    assert len({tuple(r) for r in blocks["toy_mc2"].values}) > 1
    assert src.benchmarks["toy_mc2"].suite == lmeval_toy.GROUP


def test_one_run_dir_and_reference_import(lmeval_stock_runs, tmp_path):
    model = lmeval_stock_runs["models"][0]
    run = read_run(lmeval_stock_runs["dir"] / model.replace("/", "__"))
    assert run.model == model
    assert run.groups == {lmeval_toy.GROUP: list(lmeval_toy.GROUP_LEAVES)}
    assert {t: (o.n_full, o.n_evaluated) for t, o in run.tasks.items()} == {
        t: (lmeval_toy.SIZES[t], lmeval_toy.SIZES[t]) for t in lmeval_toy.REFERENCE_TASKS}
    assert run.tasks["toy_gen"].version == 2.0 and run.tasks["toy_gen"].metrics == {"toy_gen": "exact_match"}
    assert len(run.tasks["toy_gen"].task_hash) == 64
    with pytest.raises(InputError, match="5 models"):
        read_run(lmeval_stock_runs["dir"])
    ref = Reference.create(tmp_path / "ref")
    ref.import_source("lm-eval-output", lmeval_stock_runs["dir"])
    info = ref.benchmarks()
    assert info["toy_mc4"].n_items == 16 and info["toy_mc4"].items_complete
    models, block = ref.item_block("toy_gen")
    assert sorted(models) == sorted(lmeval_stock_runs["models"]) and len(block.items) == 12


def test_subset_run_is_not_complete_and_later_runs_win(lmeval_stock_runs, tmp_path):
    """A stock `--samples` run imports as an incomplete subset."""
    out = shutil.copytree(lmeval_stock_runs["subset"], tmp_path / "subset")
    (block,) = read(out).items
    assert block.items == ["1", "4", "9"] and not block.complete and block.models == ["org/sub"]
    run = read_run(out)
    assert run.tasks["toy_mc4"].n_full == 16 and not run.tasks["toy_mc4"].complete

    # a second, later run of the same model re-evaluating doc 4 overrides its value
    run_dir = out / "org__sub"
    (sfile,) = run_dir.glob("samples_toy_mc4_*.jsonl")
    (rfile,) = run_dir.glob("results_*.json")
    later = "2999-01-01T00-00-00.000000"
    recs = [json.loads(x) for x in sfile.read_text().splitlines()]
    rec4 = next(r for r in recs if r["doc_id"] == 4)
    rec4["acc"] = 1.0 - rec4["acc"]
    (run_dir / f"samples_toy_mc4_{later}.jsonl").write_text(json.dumps(rec4) + "\n")
    shutil.copy(rfile, run_dir / f"results_{later}.json")
    merged = read_run(out).tasks["toy_mc4"].values["toy_mc4"]
    assert merged[4] == rec4["acc"] and sorted(merged) == [1, 4, 9]


def _write_run(folder, records, results=None, task="toy_mc2", date="2026-01-01T00-00-00.000001", suffix=".jsonl"):
    folder.mkdir(parents=True, exist_ok=True)
    if suffix == ".jsonl":
        text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    else:
        text = json.dumps(records)
    (folder / f"samples_{task}_{date}{suffix}").write_text(text)
    if results is not False:
        results = results or {"results": {task: {}}, "configs": {}, "config": {"model_args": "pretrained=org/x,dtype=float16"},
                              "n-samples": {task: {"original": 3, "effective": len(records)}}}
        (folder / f"results_{date}.json").write_text(json.dumps(results))


def _rec(doc, value=1.0, metric="acc", **extra):
    return {"doc_id": doc, "filter": "none", "metrics": [metric], metric: value, **extra}


def test_details_style_json_list_and_model_override(tmp_path):
    _write_run(tmp_path / "d", [_rec(0), _rec(1, 0.0), _rec(2, True)], suffix=".json", results=False)
    with pytest.raises(InputError, match="names the model"):
        read(tmp_path / "d")
    src = read(tmp_path / "d", model="org/details-model")
    (block,) = src.items
    assert block.models == ["org/details-model"] and block.values.tolist() == [[1.0, 0.0, 1.0]]
    assert not block.complete  # no results file: the full size is unknown


def test_model_args_string_and_first_filter_only(tmp_path):
    recs = [_rec(0, 1.0), _rec(1, 0.0), {**_rec(0, 0.0), "filter": "other"}, _rec(2, 1.0)]
    _write_run(tmp_path / "r", recs)
    run = read_run(tmp_path / "r")
    assert run.model == "org/x"
    assert run.tasks["toy_mc2"].values == {"toy_mc2": {0: 1.0, 1: 0.0, 2: 1.0}}
    assert run.tasks["toy_mc2"].complete


@pytest.mark.parametrize("records, message", [
    ([_rec(0, 2.0)], r"samples_toy_mc2_.*jsonl:1: acc: value 2.0 is outside \[0, 1\]"),
    ([_rec(0, float("nan"))], "outside"),
    ([_rec(0), _rec(0)], ":2: doc_id 0 appears twice"),
    ([_rec(0), "{not json"], ":2: not a JSON record"),
    ([{"filter": "none"}], "no doc_id"),
    ([_rec(-1)], "not a document index"),
    ([_rec(5)], "doc_id 5 is out of range for task 'toy_mc2' \\(3 items\\)"),
    ([_rec(0, [])], "empty list"),
    ([{"doc_id": 0, "metrics": []}], "no per-instance metric"),
])
def test_bad_samples_are_one_line_errors_naming_the_place(tmp_path, records, message):
    _write_run(tmp_path / "r", records)
    with pytest.raises(InputError, match=message) as err:
        read(tmp_path / "r")
    assert "\n" not in str(err.value)


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="--log_samples"):
        read(tmp_path / "empty")
    _write_run(tmp_path / "blank", [])
    with pytest.raises(InputError, match="no sample records"):
        read(tmp_path / "blank")
    _write_run(tmp_path / "nomodel", [_rec(0)], results={"results": {}, "config": {"model_args": {}}})
    with pytest.raises(InputError, match="names no model"):
        read(tmp_path / "nomodel")
    with pytest.raises(InputError, match="takes no option --benchmark"):
        read(tmp_path / "nomodel", benchmark="x")

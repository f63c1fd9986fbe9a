"""Bad input files get one ``error:`` line and a non-zero exit, never a traceback or a silent wrong result.

Tables of inputs -> the expected line, run through ``lm-eval-predict`` in-process on tiny references:
CSV files for every importer and for ``MODELS.csv`` (one reader, one set of rules), observations
(value ranges), and good-but-unusual files (BOM, CRLF, blank lines) whose values must arrive intact.
The other half (``--out`` targets, edited predictors, races, no-ops) is in test_bad_input_outputs.py.
"""
from __future__ import annotations

import json

import pytest
from cli_run import run_cli

from lrmf_plugin.errors import InputError
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import SourceData

V2 = "model_name," + ",".join(f"evaluations_{b}_normalized_score" for b in ("ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro"))
V1 = "name,arc,hellaswag,mmlu,truthfulqa,winogrande,gsm8k"
LINEAGE = "source,target,edge"

# (kind, file content, expected fragment of the one error line)
IMPORT_CASES = [
    # more or fewer fields than the header: file:line:column of the first extra (or missing) field
    ("responses", "model,q0,q1,q2\nfz/alice,1,0,1,\nfz/bob,0,1,1,\n", "r.csv:2:5: the row has 5 fields, the header has 4"),
    ("responses", "model,q0,q1,q2\nfz/alice,1,0,1\nfz/bob,0,1,1,\n", "r.csv:3:5: the row has 5 fields"),
    ("responses", "model,q0,q1\nfz/alice,1\n", "r.csv:2:3: the row has 2 fields, the header has 3"),
    ("responses", "model,q0\nfz/alice,1,,,\n", "r.csv:2:3: the row has 5 fields"),
    ("responses", "model,q0\n\n\nfz/alice,1,1\n", "r.csv:4:3:"),
    ("responses", "model,q0\r\nfz/a,1\r\nfz/b,0,1\r\n", "r.csv:3:3:"),
    ("responses", 'model,q0\n"fz/a",1\n"fz/b\nc",0\nfz/d,1,0\n', "r.csv:5:3:"),
    ("responses", "model,q0\nfz/a\n", "r.csv:2:2: the row has 1 fields, the header has 2"),
    # unnamed and repeated columns
    ("responses", ",model,q0\n0,fz/a,1\n", "r.csv:1:1: column 1 has no name"),
    ("responses", "model,q0,\nfz/a,1,\n", "r.csv:1:3: column 3 has no name"),
    ("responses", "model, ,q0\nfz/a,1,1\n", "column 2 has no name"),
    ("responses", "model,q0,q0\nfz/a,1,0\n", "r.csv:1:3: column 'q0' appears twice"),
    ("responses", "model,q0,model\nfz/a,1,fz/b\n", "column 'model' appears twice"),
    ("responses", "q0,q1\n1,0\n", "missing column 'model'"),
    ("responses", "model\nfz/a\n", "no item columns besides 'model'"),
    # cells
    ("responses", "model,q0\nfz/a,2\n", "line 2, column 'q0': '2' is not 0, 1 or empty"),
    ("responses", "model,q0\nfz/a,-1\n", "'-1' is not 0, 1 or empty"),
    ("responses", "model,q0\nfz/a,0.5\n", "'0.5' is not 0, 1 or empty"),
    ("responses", "model,q0\nfz/a,yes\n", "'yes' is not 0, 1 or empty"),
    ("responses", "model,q0\nfz/a,nan\n", "'nan' is not 0, 1 or empty"),
    ("responses", "model,q0\n\nfz/a,1\n\nfz/b,7\n", "line 5, column 'q0': '7'"),
    ("responses", "model,q0\n,1\n", "line 2, column 'model': empty model id"),
    ("responses", "model,q0\nfz/a,1\n\nfz/a,0\n", "line 4, column 'model': model 'fz/a' appears twice"),
    # whole-file problems
    ("responses", "", "the file is empty"),
    ("responses", "\ufeff", "the file is empty"),
    ("responses", "\n\n", "the file is empty"),
    ("responses", ",,\n", "r.csv:1: the header row names no columns"),
    ("responses", "model,q0\n", "no data rows below the header"),
    ("responses", "model,q0\n\n\n", "no data rows below the header"),
    ("responses", 'model,q0\n"fz/a,1\n', "r.csv:2: malformed CSV"),
    ("responses", b"model,q0\nfz/\xff,1\n", "not UTF-8 text"),
    # leaderboard v2 and v1: the same reader, plus the score range
    ("leaderboard-v2", f"{V2}\norg/a,1,2,3,4,5,6,\n", "r.csv:2:8: the row has 8 fields, the header has 7"),
    ("leaderboard-v2", f"id,{V2}\n0,org/a,1,2,3,4,5,6\n", None),  # a named extra column is fine (control)
    ("leaderboard-v2", f",{V2}\n0,org/a,1,2,3,4,5,6\n", "r.csv:1:1: column 1 has no name"),
    ("leaderboard-v2", f"{V2},model_name\norg/a,1,2,3,4,5,6,org/b\n", "column 'model_name' appears twice"),
    ("leaderboard-v2", f"{V2}\norg/a,-1,2,3,4,5,6\n", "score '-1' is outside [0, 100]"),
    ("leaderboard-v2", f"{V2}\norg/a,1,100.5,3,4,5,6\n", "line 2, column 'evaluations_bbh_normalized_score': score '100.5' is outside [0, 100]"),
    ("leaderboard-v2", f"{V2}\norg/a,1,2,3,inf,5,6\n", "score 'inf' is outside [0, 100]"),
    ("leaderboard-v2", f"{V2}\norg/a,1,2,3,4,5,abc\n", "score 'abc' is not a number"),
    ("leaderboard-v2", f"{V2}\n\n\norg/a,1,2,3,4,5,1e9\n", "line 4, column 'evaluations_mmlu_pro_normalized_score'"),
    ("leaderboard-v2", f"{V2}\n,1,2,3,4,5,6\n", "line 2, column 'model_name': empty model id"),
    ("leaderboard-v1", f"{V1}\norg/a,1,2,3,4,5\n", "r.csv:2:7: the row has 6 fields, the header has 7"),
    ("leaderboard-v1", f"{V1}\norg/a,1,2,3,4,5,-0.01\n", "score '-0.01' is outside [0, 100]"),
    ("leaderboard-v1", f"{V1},arc\norg/a,1,2,3,4,5,6,7\n", "column 'arc' appears twice"),
    ("leaderboard-v1", "name,arc\norg/a,1\n", "missing columns 'hellaswag'"),
    # lineage
    ("lineage", f"{LINEAGE}\na/x,a/y,finetuned,extra\n", "r.csv:2:4: the row has 4 fields, the header has 3"),
    ("lineage", f"{LINEAGE}\na/x,a/y\n", "r.csv:2:3: the row has 2 fields"),
    ("lineage", f"{LINEAGE}\n\na/x,a/y,distilled\n", "line 3, column 'edge': unknown lineage relation 'distilled'"),
    ("lineage", f"{LINEAGE}\na/x,,merged\n", "line 2, column 'target': empty model id"),
    ("lineage", f"{LINEAGE},edge\na/x,a/y,merged,merged\n", "column 'edge' appears twice"),
    ("lineage", "from,to,kind\na/x,a/y,merged\n", "need 'source,target,edge'"),
]


@pytest.mark.parametrize("kind, content, message", IMPORT_CASES)
def test_a_bad_import_is_one_line_and_leaves_no_reference(tmp_path, capsys, kind, content, message):
    path = tmp_path / "r.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    ref = tmp_path / "ref"
    options = ["--benchmark", "arc"] if kind == "responses" else []
    rc, _, err = run_cli(capsys, "reference", "import", "--ref", str(ref), "--kind", kind, *options, str(path))
    if message is None:
        assert rc == 0, err
        return
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert not ref.exists()


@pytest.mark.parametrize("content", [
    "\ufeffmodel,q0,q1\r\nfz/alice,1,0\r\n\r\nfz/bob,0,\r\n",
    "model,q0,q1\nfz/alice , 1 ,0\n\n\nfz/bob,0,\n",
    'model,"q0","q1"\n"fz/alice",1,0\nfz/bob,"0",""\n',
])
def test_bom_crlf_blank_lines_and_quotes_import_every_value_in_its_column(tmp_path, content):
    path = tmp_path / "r.csv"
    path.write_bytes(content.encode("utf-8"))
    ref = Reference.create(tmp_path / "ref")
    ref.import_source("responses", path, benchmark="arc")
    models, block = ref.item_block("arc")
    assert models == ["fz/alice", "fz/bob"] and block.items == ["q0", "q1"]
    assert block.values.tolist()[0] == [1.0, 0.0]
    assert block.values[1, 0] == 0.0 and block.values[1, 1] != block.values[1, 1]  # NaN: not evaluated


# an unknown or self parent is a warning, not an error (tests/test_user_path.py)
MODELS_CASES = [
    ("model,model\nnew/a,new/b\n", "models.csv:1:2: column 'model' appears twice"),
    ("model,metadata_params_billions,metadata_params_billions\nnew/a,7,70\n", "column 'metadata_params_billions' appears twice"),
    ("model,\nnew/a,1\n", "models.csv:1:2: column 2 has no name"),
    (",model\n1,new/a\n", "column 1 has no name"),
    ("model\nnew/a,7\n", "models.csv:2:2: the row has 2 fields, the header has 1"),
    ("model,parents\nnew/a,fam0/base,\n", "models.csv:2:3: the row has 3 fields"),
    ("model,parents\nnew/a\n", "models.csv:2:2: the row has 1 fields, the header has 2"),
    ("model\n\nnew/a\n\nnew/a\n", "models.csv:5: model 'new/a' is listed twice"),
    ("model\r\nnew/a\r\n\r\nnew/a\r\n", "models.csv:4: model 'new/a' is listed twice"),
    ("model,parents,relation\nnew/a,fam0/base,distilled\n", "models.csv:2: column 'relation': unknown lineage relation 'distilled'"),
    ("model,parents,relation\n\nnew/a,fam0/base,\nnew/b,fam0/base,cloned\n", "models.csv:4: column 'relation'"),
    ("model\n\n \n", "models.csv:3: empty 'model'"),
    ("name\nnew/a\n", "missing column 'model'"),
    ("", "the file is empty"),
    ("model\n", "no data rows below the header"),
    ('model\n"new/a\n', "malformed CSV"),
    (b"model\nnew/\xe9\n", "not UTF-8 text"),
]


@pytest.mark.parametrize("content, message", MODELS_CASES)
def test_bad_models_csv_is_one_line_and_writes_nothing(tiny_ref, tmp_path, capsys, content, message):
    models = tmp_path / "models.csv"
    models.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    out = tmp_path / "pred.csv"
    rc, _, err = run_cli(capsys, "predict", "--ref", str(tiny_ref["path"]), "--models", str(models), "--out", str(out))
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("content", ["\ufeffmodel,parents\r\nnew/a,fam0/base\r\n", "model,parents\n\nnew/a,fam0/base\n"])
def test_models_csv_with_bom_crlf_or_blank_lines_predicts_like_a_plain_one(tiny_ref, tmp_path, capsys, content):
    outs = []
    for k, text in enumerate([content, "model,parents\nnew/a,fam0/base\n"]):
        (tmp_path / f"m{k}.csv").write_bytes(text.encode("utf-8"))
        rc, _, err = run_cli(capsys, "predict", "--ref", str(tiny_ref["path"]), "--models", str(tmp_path / f"m{k}.csv"),
                             "--out", str(tmp_path / f"p{k}.csv"))
        assert rc == 0, err
        outs.append((tmp_path / f"p{k}.csv").read_text())
    assert outs[0] == outs[1] and "new/a" in outs[0]


# (observation line, expected fragment)
OBS_CASES = [
    ({"benchmark": "gamma", "score": -50}, "obs.jsonl:1: score -50 is outside [0, 100]"),
    ({"benchmark": "gamma", "score": -0.5}, "score -0.5 is outside [0, 100]"),
    ({"benchmark": "gamma", "score": 100.01}, "score 100.01 is outside [0, 100]"),
    ({"benchmark": "gamma", "score": 1e300}, "is outside [0, 100]"),
    ('{"model": "new/a", "benchmark": "gamma", "score": NaN}', "score nan is outside [0, 100]"),
    ('{"model": "new/a", "benchmark": "gamma", "score": Infinity}', "score inf is outside [0, 100]"),
    ({"benchmark": "gamma", "score": True}, "score True is not a number"),
    ({"benchmark": "gamma", "score": None}, "score None is not a number"),
    ({"benchmark": "gamma", "score": "abc"}, "score 'abc' is not a number"),
    ({"benchmark": "gamma", "score": [50]}, "score [50] is not a number"),
    ({"benchmark": "alpha", "item": "ITEM", "value": 1.5}, "value 1.5 is outside [0, 1]"),
    ({"benchmark": "alpha", "item": "ITEM", "value": -0.1}, "value -0.1 is outside [0, 1]"),
    ({"benchmark": "alpha", "item": "ITEM", "value": "NaN"}, "value 'NaN' is outside [0, 1]"),
    ({"benchmark": "alpha", "item": "ITEM", "value": "x"}, "value 'x' is not a number"),
    ({"benchmark": "alpha", "item": "ITEM", "value": {}}, "value {} is not a number"),
    ({"benchmark": "alpha", "item": "ITEM"}, "item line without 'value'"),
    ({"benchmark": "alpha", "item": "nope", "value": 1}, "item 'nope' is not an item of benchmark 'alpha'"),
    ({"benchmark": "nope", "score": 3}, "benchmark 'nope' is not in the reference"),
    ({"benchmark": "alpha"}, "a line needs 'item' and 'value', or 'score'"),
    ({"model": "other", "benchmark": "alpha", "score": 3}, "model 'other' is not in the models file"),
    ({"model": "", "benchmark": "alpha", "score": 3}, "missing or empty 'model'"),
    ({"benchmark": 7, "score": 3}, "missing or empty 'benchmark'"),
    ("[1, 2]", "obs.jsonl:1: not a JSON object"),
    ("{not json", "obs.jsonl:1: not a JSON object"),
]


@pytest.mark.parametrize("line, message", OBS_CASES)
def test_bad_observation_is_one_line_naming_its_line(tiny_ref, tmp_path, capsys, line, message):
    (tmp_path / "models.csv").write_text("model\nnew/a\n")
    if isinstance(line, dict):
        line = {"model": "new/a", **line}
        if line.get("item") == "ITEM":
            line["item"] = tiny_ref["data"].items["alpha"].items[0]
        line = json.dumps(line)
    (tmp_path / "obs.jsonl").write_text(line + "\n")
    rc, _, err = run_cli(capsys, "predict", "--ref", str(tiny_ref["path"]), "--models", str(tmp_path / "models.csv"),
                         "--observations", str(tmp_path / "obs.jsonl"), "--out", str(tmp_path / "p.csv"))
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("score", [0, 0.0, 37.5, 100])
def test_scores_at_and_inside_the_bounds_are_used_as_given(tiny_ref, tmp_path, capsys, score):
    (tmp_path / "models.csv").write_text("model\nnew/a\n")
    (tmp_path / "obs.jsonl").write_text(json.dumps({"model": "new/a", "benchmark": "gamma", "score": score}) + "\n")
    rc, _, err = run_cli(capsys, "predict", "--ref", str(tiny_ref["path"]), "--models", str(tmp_path / "models.csv"),
                         "--observations", str(tmp_path / "obs.jsonl"), "--out", str(tmp_path / "p.csv"))
    assert rc == 0, err
    row = [r.split(",") for r in (tmp_path / "p.csv").read_text().splitlines() if ",gamma," in r][0]
    assert [float(x) for x in row[2:5]] == [score] * 3 and row[6] == "given"


@pytest.mark.parametrize("score", [-50.0, 100.5, float("nan")])
def test_the_reference_refuses_scores_off_its_scale_from_any_source(tmp_path, score):
    import pandas as pd

    ref = Reference.create(tmp_path / "ref")
    scores = pd.DataFrame([("org/a", "bbh", score)], columns=["model", "benchmark", "score"])
    with pytest.raises(InputError, match=r"org/a.*bbh"):
        ref.write_source(SourceData(key="k", kind="test", location="test", scores=scores))
    assert ref.sources() == []

"""The user's path: a model id, perhaps parents, resolved and predicted the same way by the CLI and the API."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from synthetic_lowrank import make_reference

from lrmf_plugin.api import Lrmf
from lrmf_plugin.models.scores import full_scores
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import ItemObservations, SourceData
from lrmf_plugin.resolution import ModelRequest


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrmf_plugin", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """The synthetic families with one fine-tune's metadata left out, and a Hub node list; fitted."""
    data, _ = make_reference(n_families=12, family_size=6, seed=1)
    models = list(data.models)
    scores = data.scores.stack().dropna().rename("score").reset_index()
    scores.columns = ["model", "benchmark", "score"]
    items = [ItemObservations(b, models, list(block.items), block.values,
                              complete=data.benchmarks[b].items_complete) for b, block in data.items.items()]
    meta = data.metadata.reset_index().rename(columns={"index": "model"})
    path = tmp_path_factory.mktemp("ref") / "ref"
    Reference.create(path).write_source(SourceData(key="syn", kind="synthetic", location="test", scores=scores,
                                                   metadata=meta, edges=list(data.edges), items=items,
                                                   benchmarks=dict(data.benchmarks)))
    nodes = tmp_path_factory.mktemp("hub") / "hub_models.csv"
    nodes.write_text("id,type,owner,architecture\nfam0/base,base,fam0,llama\nnew/gguf,quantized,new,llama\n")
    assert cli("reference", "import", "--ref", str(path), "--kind", "hub-models", str(nodes)).returncode == 0
    proc = cli("fit", "--ref", str(path), "--sweeps", "6")
    assert proc.returncode == 0, proc.stderr
    return {"path": path, "data": data}


def _scored(data, relation: str) -> str:
    """A member of ``relation`` whose parent has scores."""
    edge = next(e for e in data.edges if e.relation == relation and e.parent in data.scores.dropna().index)
    return edge.parent


def test_a_model_in_the_reference_shows_its_measured_scores(ref):
    model = ref["data"].scores.dropna().index[3]
    proc = cli("predict", "--ref", str(ref["path"]), model, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["benchmark"]: r for r in json.loads(proc.stdout)[0]["benchmarks"]}
    # "c" has no score column: its complete item set is the measurement
    for b, value in full_scores(ref["data"]).loc[model].items():
        assert rows[b]["source"] == "measured" and rows[b]["predicted"] == pytest.approx(value)
        assert rows[b]["measured"] == pytest.approx(value)
    new = {r["benchmark"]: r for r in json.loads(cli("predict", "--ref", str(ref["path"]), model, "--json",
                                                      "--as-if-new").stdout)[0]["benchmarks"]}
    assert all(new[b]["source"] == "predicted" for b in new)
    assert any(new[b]["predicted"] != pytest.approx(rows[b]["predicted"], abs=1e-6) for b in ("alpha", "beta"))


def test_cli_and_api_give_identical_numbers(ref):
    parent = _scored(ref["data"], "finetune")
    proc = cli("predict", "--ref", str(ref["path"]), "new/tune", "--parent", parent, "--json")
    assert proc.returncode == 0, proc.stderr
    cli_rows = json.loads(proc.stdout)[0]["benchmarks"]
    api = Lrmf(ref["path"])
    api_rows = api.report([ModelRequest("new/tune", parents=((parent, None),))])[0].rows()
    assert [(r["benchmark"], r["predicted"], r["lower"], r["upper"]) for r in cli_rows] == \
        [(r["benchmark"], r["predicted"], r["lower"], r["upper"]) for r in api_rows]
    query = api.query("new/tune", parents=[(parent, None)])
    assert [p.predicted for p in api.predict([query])] == [r["predicted"] for r in api_rows]


def test_a_fine_tune_given_only_its_parent_inherits_its_metadata(ref):
    parent = _scored(ref["data"], "finetune")
    resolved = Lrmf(ref["path"]).resolver.resolve(ModelRequest("new/tune", parents=((parent, None),)))
    assert resolved.query.metadata["params_b"] == ref["data"].metadata.at[parent, "params_b"]
    assert resolved.sources["params_b"] == f"inherited from {parent} (finetune)"
    assert resolved.parents == [(parent, "finetune")] and not resolved.warnings


def test_a_quantised_copy_is_predicted_at_its_parent_with_a_narrow_interval(ref):
    parent = _scored(ref["data"], "quantized")
    api = Lrmf(ref["path"])
    copy = {p.benchmark: p for p in api.predict([api.query("new/q4", parents=[(parent, "quantized")])])}
    tune = {p.benchmark: p for p in api.predict([api.query("new/ft", parents=[(parent, "finetune")])])}
    for b, measured in ref["data"].scores.loc[parent].items():
        assert abs(copy[b].predicted - measured) < 3.0
        assert copy[b].upper - copy[b].lower < tune[b].upper - tune[b].lower


def test_the_hub_model_list_types_a_copy_and_names_its_architecture(ref):
    parent = _scored(ref["data"], "quantized")
    resolved = Lrmf(ref["path"]).resolver.resolve(ModelRequest("new/gguf", parents=((parent, None),)))
    assert resolved.parents == [(parent, "quantized")]
    assert "hub_type" not in resolved.query.metadata


def test_a_batch_with_unknown_and_self_parents_completes_with_warnings(ref, tmp_path):
    parent = _scored(ref["data"], "finetune")
    models = tmp_path / "models.csv"
    models.write_text(f"model,parents,model_type\nnew/a,nobody/never,fine-tuned\nnew/b,new/b;{parent},\n"
                      "new/c,,fine-tuned\n")
    out = tmp_path / "pred.csv"
    proc = cli("predict", "--ref", str(ref["path"]), "--models", str(models), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert any("models.csv:2" in w and "'nobody/never'" in w for w in warnings)
    assert any("models.csv:3" in w and "itself" in w for w in warnings)
    assert sum("fine-tuned" in w for w in warnings) <= 1  # an unknown value is warned about once
    pred = pd.read_csv(out)
    assert set(pred.model) == {"new/a", "new/b", "new/c"} and np.isfinite(pred.predicted).all()


def test_one_model_prints_a_table_and_out_dash_is_stdout(ref):
    parent = _scored(ref["data"], "finetune")
    proc = cli("predict", "--ref", str(ref["path"]), "new/tune", "--parent", parent)
    assert proc.returncode == 0, proc.stderr
    assert "90% interval" in proc.stdout and "alpha" in proc.stdout and f"parent {parent} (finetune)" in proc.stdout
    csv = cli("predict", "--ref", str(ref["path"]), "new/tune", "--parent", parent, "--out", "-")
    assert csv.stdout.splitlines()[0] == "model,benchmark,predicted,lower,upper,measured,source"


def test_reference_show_tells_whether_the_predictor_is_current_and_reimporting_the_same_bytes_keeps_it(ref, tmp_path):
    import shutil
    copy = tmp_path / "ref"
    shutil.copytree(ref["path"], copy)
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("id,type,owner,architecture\nx/y,base,x,llama\n")
    show = cli("reference", "show", "--ref", str(copy))
    assert show.returncode == 0 and "predictor: fitted on this state" in show.stdout and "artifact version" in show.stdout
    assert cli("reference", "import", "--ref", str(copy), "--kind", "hub-models", str(nodes)).returncode == 0
    stale = cli("reference", "show", "--ref", str(copy)).stdout
    assert "predictor: stale" in stale and "hub-models" in stale
    assert cli("fit", "--ref", str(copy), "--sweeps", "2", "--no-calibration").returncode == 0
    again = cli("reference", "import", "--ref", str(copy), "--kind", "hub-models", str(nodes))
    assert again.returncode == 0 and again.stdout.startswith("unchanged")
    assert "fitted on this state" in cli("reference", "show", "--ref", str(copy)).stdout
    nodes.write_text("id,type,owner,architecture\nx/y,base,x,qwen2\n")
    assert not cli("reference", "import", "--ref", str(copy), "--kind", "hub-models", str(nodes)).stdout.startswith("unchanged")
    assert "predictor: stale" in cli("reference", "show", "--ref", str(copy)).stdout
    shutil.rmtree(copy / "predictor")
    assert "not fitted" in cli("reference", "show", "--ref", str(copy)).stdout


def test_with_a_hub_endpoint_a_new_model_takes_its_parents_from_the_hub_and_offline_never_asks(ref, fake_hub):
    import os
    parent = _scored(ref["data"], "finetune")
    fake_hub.add_model("hub/new-tune", tags=[f"base_model:finetune:{parent}"])
    env = {**os.environ, "HF_HOME": os.environ["HF_HOME"], "NO_PROXY": "127.0.0.1,localhost"}
    run = lambda *extra, **kw: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "lrmf_plugin", "predict", "--ref", str(ref["path"]), "hub/new-tune", "--json", *extra],
        capture_output=True, text=True, timeout=600, env={**env, **kw})
    online = run("--hub-endpoint", fake_hub.url)
    assert online.returncode == 0, online.stderr
    assert json.loads(online.stdout)[0]["parents"] == [{"model": parent, "relation": "finetune"}]
    asked = len(fake_hub.requests_to("/api/models/hub/new-tune"))
    assert asked >= 1
    offline = run("--hub-endpoint", fake_hub.url, HF_HUB_OFFLINE="1")
    assert offline.returncode == 0 and json.loads(offline.stdout)[0]["parents"] == []
    assert len(fake_hub.requests_to("/api/models/hub/new-tune")) == asked


@pytest.mark.parametrize("raw,expected", [
    ({"model_type": "fine-tuned"}, {"model_type": "fine-tunedondomain-specificdatasets"}),
    ({"Type": "🔶 fine-tuned on domain-specific datasets"}, {"model_type": "fine-tunedondomain-specificdatasets"}),
    ({"model_type": "Merge"}, {"model_type": "basemergesandmoerges"}),
    ({"model_type": "chat"}, {"model_type": "chatmodels"}),
    ({"model_precision": "BF16"}, {"precision": "bfloat16"}),
    ({"model_type": "chatmodels", "model_precision": "float16"}, {"model_type": "chatmodels", "precision": "float16"}),
])
def test_obvious_aliases_of_types_and_precisions_mean_the_leaderboards_values(raw, expected):
    from lrmf_plugin.metadata import normalise_metadata
    assert normalise_metadata(raw) == expected


def test_a_merge_of_measured_parents_moves_towards_their_mean_plus_the_merge_offset(ref):
    data = ref["data"]
    scored = [m for m in data.scores.dropna().index][:2]
    api = Lrmf(ref["path"])
    query = api.query("new/merge", parents=[(p, "merge") for p in scored])
    path = {p.benchmark: p.predicted for p in api.predict([query])}
    alone = {p.benchmark: p.predicted for p in api.predictor.predict([query])}
    offsets = api.path.merges.offsets_
    means = data.scores.loc[scored].mean() + pd.Series({b: offsets[b].mean for b in data.scores.columns})
    closer = [abs(path[b] - means[b]) <= abs(alone[b] - means[b]) + 1e-9 for b in means.index]
    assert all(closer) and any(abs(path[b] - alone[b]) > 1e-6 for b in means.index)


def test_a_model_known_by_its_id_alone_gets_at_least_the_references_own_range(ref):
    api = Lrmf(ref["path"])
    bare = {p.benchmark: p for p in api.predict([api.query("stranger/unknown-model")])}
    described = {p.benchmark: p for p in api.predict([api.query("stranger/unknown-model", metadata={
        "params_b": 7.0, "architecture": "LlamaForCausalLM", "model_type": "finetuned"})])}
    scores = ref["data"].scores
    for b, col in scores.items():
        assert bare[b].lower <= col.quantile(0.05) + 1e-9 and bare[b].upper >= col.quantile(0.95) - 1e-9
    assert any(described[b].upper - described[b].lower < bare[b].upper - bare[b].lower for b in scores.columns)

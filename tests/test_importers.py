"""Every CSV importer on generated files: what it reads, and one-line errors for bad input."""
from __future__ import annotations

import numpy as np
import pytest
from csv_files import write_csv

from lrmf_plugin.errors import InputError
from lrmf_plugin.importers import get_importer
from lrmf_plugin.importers.leaderboard import (
    V1_BENCHMARKS,
    V2_SCORE_COLUMNS,
    read_v1,
    read_v2,
)
from lrmf_plugin.importers.lineage_csv import read as read_lineage
from lrmf_plugin.importers.responses import read as read_responses
from lrmf_plugin.schema import Edge

V2_META = {"model_precision": "bfloat16", "model_type": "🟢 pretrained", "model_architecture": "LlamaForCausalLM",
           "model_has_chat_template": "False", "metadata_params_billions": "7.24",
           "metadata_upload_date": "2024-04-13", "metadata_hub_hearts": "12", "metadata_hub_license": "Apache-2.0",
           "metadata_generation": "1", "features_is_official_provider": "False", "model_weight_type": "Original"}


def v2_rows(specs: list[tuple[str, str, str, float]]) -> tuple[list[str], list[list]]:
    """(model, base model, submission date, score offset) -> a v2 flat CSV."""
    header = ["id", "model_name", *V2_SCORE_COLUMNS.values(), *V2_META, "metadata_submission_date",
              "metadata_base_model"]
    rows = []
    for k, (model, base, date, offset) in enumerate(specs):
        scores = [round(10 + offset + j, 3) for j in range(len(V2_SCORE_COLUMNS))]
        rows.append([f"{model}_{k}", model, *scores, *V2_META.values(), date, base])
    return header, rows


def test_v2_scores_metadata_dedup_and_family_edges(tmp_path):
    header, rows = v2_rows([
        ("org/base", "org/base", "2024-06-01", 0.0),
        ("org/tuned", "org/base", "2024-07-01", 1.0),
        ("org/tuned", "org/base", "2024-08-01", 5.0),   # re-evaluation: the latest submission wins
        ("org/tuned", "org/base", "2024-05-01", 9.0),   # an older one after it in the file
        ("org/merged", "org/merged (Merge)", "2024-08-01", 2.0),
        ("org/lost", "Removed", "2024-08-01", 3.0),
    ])
    src = read_v2(write_csv(tmp_path / "v2.csv", header, rows))
    assert src.kind == "leaderboard-v2"
    scores = src.scores.set_index(["model", "benchmark"])["score"]
    assert len(src.scores) == 4 * 6
    assert scores[("org/tuned", "ifeval")] == pytest.approx(15.0)
    assert scores[("org/tuned", "mmlu_pro")] == pytest.approx(20.0)
    assert src.edges == [Edge("org/base", "org/tuned", "family")]
    assert {b.suite for b in src.benchmarks.values()} == {"v2"}
    assert set(src.benchmarks) == {"ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro"}
    meta = src.metadata.set_index("model")
    assert meta.loc["org/tuned", "params_b"] == pytest.approx(7.24)
    assert meta.loc["org/tuned", "model_type"] == "pretrained"
    assert meta.loc["org/tuned", "submission_date"] == "2024-08-01"
    assert meta.loc["org/tuned", ["likes", "license", "generation", "official", "weight_type"]].tolist() == \
        [12.0, "apache-2.0", 1.0, False, "original"]
    assert meta.loc["org/base", "chat_template"] is False or meta.loc["org/base", "chat_template"] == False  # noqa: E712
    assert any("2 repeated rows" in n for n in src.notes)


@pytest.mark.parametrize("mutate, message", [
    (lambda h, r: (h[:2] + h[3:], [x[:2] + x[3:] for x in r]), "missing column 'evaluations_ifeval_normalized_score'"),
    (lambda h, r: (h, r[:1] + [r[1][:2] + ["abc"] + r[1][3:]]), "line 3, column 'evaluations_ifeval_normalized_score': score 'abc' is not a number"),
    (lambda h, r: (h, r[:1] + [r[1][:3] + ["150"] + r[1][4:]]), "line 3, column 'evaluations_bbh_normalized_score': score '150' is outside [0, 100]"),
    (lambda h, r: (h, r[:1] + [r[1][:3] + ["inf"] + r[1][4:]]), "'inf' is outside [0, 100]"),
    (lambda h, r: (h, [r[0][:1] + [""] + r[0][2:]]), "line 2, column 'model_name': empty model id"),
    (lambda h, r: (h, []), "no data rows"),
    (lambda h, r: (h[:1] + ["model_name"] + h[1:], r), "column 'model_name' appears twice"),
])
def test_v2_bad_input_is_one_line_naming_place(tmp_path, mutate, message):
    header, rows = v2_rows([("org/a", "org/a", "2024-01-01", 0.0), ("org/b", "org/a", "2024-01-01", 1.0)])
    header, rows = mutate(header, rows)
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(InputError) as err:
        read_v2(path)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="the file is empty"):
        read_v1(tmp_path / "empty.csv")
    with pytest.raises(InputError, match="no such file"):
        read_v1(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="bin.csv"):
        read_lineage(tmp_path / "bin.csv")


def test_v1_skips_missing_scores_and_reads_metadata(tmp_path):
    header = ["name", *V1_BENCHMARKS, "precision", "arch", "size", "moe"]
    rows = [["org/a", 60, 80, 55, 40, 70, 30, "bfloat16", "MistralForCausalLM", 7.24, "False"],
            ["org/b", 50, "", 45, "NaN", 65, 20, "float16", "LlamaForCausalLM", 13, "True"]]
    src = read_v1(write_csv(tmp_path / "v1.csv", header, rows))
    assert len(src.scores) == 12 - 2
    assert not ((src.scores.model == "org/b") & src.scores.benchmark.isin(["hellaswag", "truthfulqa"])).any()
    assert any("2 missing scores skipped" in n for n in src.notes)
    meta = src.metadata.set_index("model")
    assert meta.loc["org/b", "params_b"] == 13 and bool(meta.loc["org/b", "moe"]) is True
    assert src.benchmarks["gsm8k"].suite == "v1"


def test_responses_values_missing_cells_and_subset_flag(tmp_path):
    header = ["model", "q.0", "q.1", "q.2"]
    rows = [["org/a", 1, 0, 1], ["org/b", 0, "", 1], ["org/c", "1.0", "0.0", ""]]
    src = read_responses(write_csv(tmp_path / "r.csv", header, rows), benchmark="arc")
    (obs,) = src.items
    assert obs.benchmark == "arc" and obs.items == ["q.0", "q.1", "q.2"] and not obs.complete
    assert obs.models == ["org/a", "org/b", "org/c"]
    expected = np.array([[1, 0, 1], [0, np.nan, 1], [1, 0, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(obs.values, expected)
    assert src.key.startswith("responses:arc:")


@pytest.mark.parametrize("header, rows, message", [
    (["model", "q.0", "q.1"], [["org/a", 1, 2]], "line 2, column 'q.1': '2' is not 0, 1 or empty"),
    (["model", "q.0", "q.1"], [["org/a", 1, 0], ["org/b", "0.5", 1]], "line 3, column 'q.0': '0.5' is not 0, 1 or empty"),
    (["model", "q.0"], [["org/a", 1], ["org/a", 0]], "line 3, column 'model': model 'org/a' appears twice"),
    (["model", "q.0", "q.0"], [["org/a", 1, 0]], "column 'q.0' appears twice"),
    (["name", "q.0"], [["org/a", 1]], "missing column 'model'"),
    (["model"], [["org/a"]], "no item columns"),
    (["model", "q.0"], [["", 1]], "line 2, column 'model': empty model id"),
])
def test_responses_bad_input(tmp_path, header, rows, message):
    path = write_csv(tmp_path / "r.csv", header, rows)
    with pytest.raises(InputError) as err:
        read_responses(path, benchmark="arc")
    assert message in str(err.value) and str(path) in str(err.value)


def test_responses_need_a_benchmark(tmp_path):
    path = write_csv(tmp_path / "r.csv", ["model", "q.0"], [["org/a", 1]])
    with pytest.raises(InputError, match="--benchmark NAME is required"):
        read_responses(path)


def test_lineage_relations_headers_and_errors(tmp_path):
    path = write_csv(tmp_path / "e.csv", ["source", "target", "edge"], [
        ["org/base", "org/ft", "finetuned"], ["org/ft", "org/ft-GGUF", "quantized"],
        ["org/ft", "org/m", "merged"], ["org/x", "org/m", "merge"], ["org/base", "org/lora", "adapter"]])
    src = read_lineage(path)
    assert [e.relation for e in src.edges] == ["finetune", "quantized", "merge", "merge", "adapter"]
    alt = read_lineage(write_csv(tmp_path / "alt.csv", ["parent", "child", "relation"], [["p", "c", "finetune"]]))
    assert alt.edges == [Edge("p", "c", "finetune")]
    bad = write_csv(tmp_path / "bad.csv", ["source", "target", "edge"], [["a", "b", "finetuned"], ["a", "c", "distilled"]])
    with pytest.raises(InputError, match=r"line 3, column 'edge': unknown lineage relation 'distilled'"):
        read_lineage(bad)
    empty_id = write_csv(tmp_path / "empty_id.csv", ["source", "target", "edge"], [["a", "", "finetuned"]])
    with pytest.raises(InputError, match=r"line 2, column 'target': empty model id"):
        read_lineage(empty_id)
    with pytest.raises(InputError, match="need 'source,target,edge'"):
        read_lineage(write_csv(tmp_path / "cols.csv", ["from", "to"], [["a", "b"]]))


def test_registry_unknown_kind_and_options(tmp_path):
    with pytest.raises(InputError, match="unknown source kind 'csv'.*leaderboard-v2"):
        get_importer("csv")
    path = write_csv(tmp_path / "e.csv", ["source", "target", "edge"], [["a", "b", "finetuned"]])
    with pytest.raises(InputError, match="takes no option --benchmark"):
        get_importer("lineage")(path, benchmark="arc")
    assert get_importer("lineage")(path).edges == [Edge("a", "b", "finetune")]

"""``lm-eval-predict reference import|show|pull`` as a user runs them: real subprocesses, exit codes,
one-line errors, and a reference left untouched (or not created) when something fails."""
from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd
from csv_files import write_csv

from lrmf_plugin.reference import Reference


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrmf_plugin", *args], capture_output=True, text=True, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_import_and_show(tmp_path):
    ref = tmp_path / "ref"
    lineage = write_csv(tmp_path / "edges.csv", ["source", "target", "edge"],
                        [["org/base", "org/a", "finetuned"], ["org/a", "org/a-GGUF", "quantized"],
                         ["org/a", "org/a", "finetuned"]])
    responses = write_csv(tmp_path / "arc.csv", ["model", "q.0", "q.1"], [["org/a", 1, 0], ["org/b", 0, ""]])
    p = cli("reference", "import", "--ref", str(ref), "--kind", "lineage", str(lineage))
    assert p.returncode == 0, p.stderr
    assert "3 lineage edges" in p.stdout
    p = cli("reference", "import", "--ref", str(ref), "--kind", "responses", "--benchmark", "arc", str(responses))
    assert p.returncode == 0, p.stderr
    assert "3 item observations" in p.stdout and "benchmarks: arc" in p.stdout
    p = cli("reference", "show", "--ref", str(ref))
    assert p.returncode == 0, p.stderr
    assert "models: 4 (2 with scores or items" in p.stdout
    assert "arc" in p.stdout and "2 items (subset) x 2 models" in p.stdout
    assert "lineage edges: 2 (finetune 1, merge 0, adapter 0, quantized 1, family 0)" in p.stdout
    assert "dropped edges: 1 (self-edge: 1)" in p.stdout
    assert str(lineage.resolve()) in p.stdout and str(responses.resolve()) in p.stdout


def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path):
    ref = tmp_path / "ref"
    bad = write_csv(tmp_path / "arc.csv", ["model", "q.0"], [["org/a", 1], ["org/b", "yes"]])
    line = one_line_error(cli("reference", "import", "--ref", str(ref), "--kind", "responses",
                              "--benchmark", "arc", str(bad)))
    assert str(bad) in line and "line 3, column 'q.0'" in line
    assert not ref.exists()
    line = one_line_error(cli("reference", "show", "--ref", str(ref)))
    assert "not a reference directory" in line
    assert not ref.exists()


def test_failed_reimport_leaves_the_reference_unchanged(tmp_path):
    ref = tmp_path / "ref"
    edges = write_csv(tmp_path / "edges.csv", ["source", "target", "edge"], [["p", "c", "finetuned"]])
    assert cli("reference", "import", "--ref", str(ref), "--kind", "lineage", str(edges)).returncode == 0
    before = (Reference(ref).fingerprint(), Reference(ref).edges())
    write_csv(edges, ["source", "target", "edge"], [["p", "c", "finetuned"], ["p", "d", "cloned"]])
    line = one_line_error(cli("reference", "import", "--ref", str(ref), "--kind", "lineage", str(edges)))
    assert "line 3, column 'edge'" in line and "cloned" in line
    assert (Reference(ref).fingerprint(), Reference(ref).edges()) == before


def _contents_parquet() -> bytes:
    cols = ("IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO")
    rows = [{"fullname": "org/chat-7b", "Base Model": "org/base-7b", "Precision": "bfloat16",
             "#Params (B)": 7.2, **{c: 10.0 + k for k, c in enumerate(cols)}}]
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf, index=False)
    return buf.getvalue()


def test_pull_through_the_cli(fake_hub, tmp_path):
    ref = tmp_path / "ref"
    line = one_line_error(cli("reference", "pull", "--ref", str(ref), "--endpoint", fake_hub.url, "--quiet",
                              "--no-lineage"))
    assert "open-llm-leaderboard/contents" in line
    assert not ref.exists()  # a failed first pull leaves no empty reference behind
    fake_hub.add_dataset("my-org/contents", {"data/train-00000-of-00001.parquet": _contents_parquet()})
    p = cli("reference", "pull", "--ref", str(ref), "--endpoint", fake_hub.url, "--contents-repo", "my-org/contents",
            "--no-lineage", "--quiet")
    assert p.returncode == 0, p.stderr
    r = Reference(ref)
    scores = r.scores().set_index(["model", "benchmark"])["score"]
    assert scores[("org/chat-7b", "ifeval")] == 10.0 and scores[("org/chat-7b", "mmlu_pro")] == 15.0
    assert "org/base-7b" in r.models()
    assert fake_hub.requests_to("my-org/contents")  # it really went to the given endpoint and repo

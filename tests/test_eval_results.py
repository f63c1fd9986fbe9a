"""The Hub's evaluation results as reference scores: ``reference import --kind hub-eval-results`` and
``reference pull``, with the real client against the fake Hub serving ``.eval_results`` files and cards."""
from __future__ import annotations

from collections import Counter

import pytest
from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml

from cli_run import run_cli
from fakehub_evalresults import (BAD_ENTRIES, BENCHMARK_DATASETS, BROKEN_CARD, BROKEN_YAML, eval_results_yaml,
                                 leaderboard_card)
from lrmf_plugin.eval_results import (SAME_MEASUREMENT, own_benchmark, parse_eval_results_file,
                                      scores_from_entries)
from lrmf_plugin.reference import Reference

GPQA_D = own_benchmark("Idavidrein/gpqa", "gpqa_diamond")
HLE_TOOLS = own_benchmark("cais/hle", "default", "tools")
HLE = own_benchmark("cais/hle", "default")
#: the card's MATH Lvl 5 row: scored before the leaderboard re-scored MATH, so not the v2 column
OLD_MATH = own_benchmark("hendrycks/competition_math", "MATH Lvl 5 (4-Shot)", "exact_match")


def seed_eval_results(hub) -> None:
    """Three models with results in every form, and every kind of bad input, once each."""
    for d in BENCHMARK_DATASETS:
        hub.add_dataset(d, {"README.md": b"a benchmark"})
    hub.add_model("org/alpha", files={
        "README.md": leaderboard_card("org/alpha", {"ifeval": 61.5, "bbh": 35.0, "math": 12.0}),
        ".eval_results/gpqa.yaml": eval_results_yaml([
            {"dataset": "Idavidrein/gpqa", "task": "gpqa_diamond", "value": 41.2, "date": "2026-01-15T10:30:00Z",
             "source": "https://huggingface.co/spaces/org/evals"}]),
        ".eval_results/hle.yaml": eval_results_yaml([
            {"dataset": "cais/hle", "task": "default", "value": 20.9, "notes": "tools"},
            {"dataset": "cais/hle", "task": "default", "value": 12.5, "notes": "no-tools"},
            {"dataset": "cais/hle", "task": "default", "value": 14.0},
            {"dataset": "nobody/made-up-bench", "task": "default", "value": 50.0},    # unknown dataset
            {"dataset": "TIGER-Lab/MMLU-Pro", "task": "default", "value": 4120.0}]),  # off its scale
        ".eval_results/broken.yaml": BROKEN_YAML,
        ".eval_results/entries.yaml": BAD_ENTRIES})
    hub.add_model("org/beta", files={
        "README.md": BROKEN_CARD,
        ".eval_results/gpqa.yaml": eval_results_yaml([
            {"dataset": "Idavidrein/gpqa", "task": "gpqa_diamond", "value": 33.0, "date": "2026-02-01"}])})
    hub.add_model("org/gamma", files={"README.md": b"# no YAML header at all\n"})
    # a quantised copy whose card repeats its parent's leaderboard rows (their links name the parent)
    hub.add_model("org/alpha-4bit", files={"README.md": leaderboard_card("org/alpha", {"ifeval": 61.5, "bbh": 35.0})})
    hub.add_model("org/gated", gated="manual", files={"README.md": leaderboard_card("org/gated", {"bbh": 20.0})})


def test_the_format_parser_is_huggingface_hubs_own_and_one_bad_entry_spoils_nothing():
    entries = [EvalResultEntry(dataset_id="cais/hle", task_id="default", value=20.9, notes="tools")]
    skipped: Counter = Counter()
    parsed = parse_eval_results_file([*eval_result_entries_to_yaml(entries), {"value": 1}, "text"], skipped)
    assert [(e.dataset_id, e.task_id, e.value, e.notes) for e in parsed] == [("cais/hle", "default", 20.9, "tools")]
    assert skipped == Counter({"malformed entry": 2})
    scores = scores_from_entries("m", parsed, skipped, known_dataset=lambda d: True)
    assert [s.benchmark for s in scores] == ["cais/hle:default [tools]"]
    assert parse_eval_results_file("not a list", skipped) == [] and skipped["malformed file"] == 1


def test_import_maps_the_leaderboards_rows_keeps_the_rest_apart_and_counts_what_it_skips(fake_hub, tmp_path,
                                                                                          capsys):
    seed_eval_results(fake_hub)
    ids = tmp_path / "models.txt"
    ids.write_text("# predicted lately\norg/alpha\norg/beta\norg/gamma\norg/gone\norg/gated\norg/alpha-4bit\n")
    ref_dir = tmp_path / "ref"
    rc, _, err = run_cli(capsys, "reference", "import", "--ref", str(ref_dir), "--kind", "hub-eval-results",
                         "--endpoint", fake_hub.url, str(ids))
    assert rc == 0, err
    ref = Reference(ref_dir)
    scores = {(r.model, r.benchmark): r.score for r in ref.scores().itertuples()}
    assert scores == {("org/alpha", "ifeval"): 61.5, ("org/alpha", "bbh"): 35.0, ("org/alpha", OLD_MATH): 12.0,
                      ("org/alpha", GPQA_D): 41.2,
                      ("org/alpha", HLE_TOOLS): 20.9, ("org/alpha", own_benchmark("cais/hle", "default", "no-tools")):
                      12.5, ("org/alpha", HLE): 14.0, ("org/beta", GPQA_D): 33.0}
    info = ref.benchmarks()
    assert info[GPQA_D].suite == "eval-results" and info[GPQA_D].has_scores
    rc, show, err = run_cli(capsys, "reference", "show", "--ref", str(ref_dir))
    assert rc == 0, err
    # two files that are not YAML (an .eval_results file, a card header), two bad entries + text value
    assert ("skipped (never stored): 2 malformed files, 1 malformed entry, 1 unknown dataset, 2 results of another "
            "model, 1 unreadable value, 1 off-scale value") in show
    assert "1 models have no card and no .eval_results on the Hub" in show
    assert "1 models could not be read (gated or disabled on the Hub)" in show
    assert f"{GPQA_D}: 2 scores from https://huggingface.co/spaces/org/evals" in show
    assert "dated 2026-01-15 to 2026-02-01" in show


def test_reimporting_unchanged_results_is_a_no_op_and_a_new_file_is_read(fake_hub, tmp_path, capsys):
    seed_eval_results(fake_hub)
    ids = tmp_path / "models.txt"
    ids.write_text("org/beta\n")
    args = ("reference", "import", "--ref", str(tmp_path / "ref"), "--kind", "hub-eval-results", "--endpoint",
            fake_hub.url, str(ids))
    assert run_cli(capsys, *args)[0] == 0
    assert "unchanged" in run_cli(capsys, *args)[1]
    fake_hub.commit_model_file("org/beta", ".eval_results/hle.yaml",
                               eval_results_yaml([{"dataset": "cais/hle", "task": "default", "value": 9.0}]))
    rc, out, _ = run_cli(capsys, *args)
    assert rc == 0 and "replaced" in out
    assert (("org/beta", HLE) in {(r.model, r.benchmark) for r in Reference(tmp_path / "ref").scores().itertuples()})


def test_a_bad_ids_file_is_one_line_and_creates_nothing(fake_hub, tmp_path, capsys):
    ids = tmp_path / "models.txt"
    ids.write_text("org/alpha\nnot a model id\n")
    rc, _, err = run_cli(capsys, "reference", "import", "--ref", str(tmp_path / "ref"), "--kind", "hub-eval-results",
                         "--endpoint", fake_hub.url, str(ids))
    assert rc != 0 and "line 2" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ref").exists()


@pytest.mark.parametrize("key", sorted(SAME_MEASUREMENT))
def test_every_mapping_row_is_lower_case_so_card_spelling_does_not_matter(key):
    assert all(part == part.casefold() for part in key)


def test_reference_pull_reads_the_pulled_models_eval_results(fake_hub, tmp_path, capsys):
    import io

    import pandas as pd

    seed_eval_results(fake_hub)
    contents = pd.DataFrame([{"fullname": m, "IFEval": 50.0, "BBH": 30.0, "MATH Lvl 5": 10.0, "GPQA": 5.0,
                              "MUSR": 8.0, "MMLU-PRO": 25.0} for m in ("org/alpha", "org/beta")])
    buf = io.BytesIO()
    contents.to_parquet(buf, index=False)
    fake_hub.add_dataset("open-llm-leaderboard/contents", {"data/train.parquet": buf.getvalue()})
    ref_dir = tmp_path / "ref"
    rc, out, err = run_cli(capsys, "reference", "pull", "--ref", str(ref_dir), "--endpoint", fake_hub.url,
                           "--no-lineage", "--quiet")
    assert rc == 0, err
    assert "imported hub-eval-results" in out and "1 unknown dataset" in out
    ref = Reference(ref_dir)
    scores = {(r.model, r.benchmark): r.score for r in ref.scores().itertuples()}
    # the card's leaderboard rows are the same measurement as the contents columns (the newer import wins)
    assert scores[("org/alpha", "ifeval")] == 61.5 and scores[("org/beta", "ifeval")] == 50.0
    assert scores[("org/alpha", GPQA_D)] == 41.2 and scores[("org/beta", GPQA_D)] == 33.0
    assert ref.benchmarks()["ifeval"].suite == "v2" and ref.benchmarks()[GPQA_D].suite == "eval-results"
    rc, out, _ = run_cli(capsys, "reference", "pull", "--ref", str(tmp_path / "ref2"), "--endpoint", fake_hub.url,
                         "--no-lineage", "--no-eval-results", "--quiet")
    assert rc == 0 and "hub-eval-results" not in out


def test_interval_reasons_name_the_count_or_the_missing_calibration():
    from lrmf_plugin.eval_results import interval_reasons

    suites = {"ifeval": "v2", GPQA_D: "eval-results", HLE: "eval-results"}
    reasons = interval_reasons(suites, {"ifeval", GPQA_D}, {GPQA_D: 40, HLE: 3}, min_cases=10)
    assert list(reasons) == [HLE] and "only 3 reference models" in reasons[HLE]
    uncalibrated = interval_reasons(suites, set(), {GPQA_D: 40, HLE: 3}, min_cases=10)
    assert set(uncalibrated) == {GPQA_D, HLE} and "no calibration pass" in uncalibrated[GPQA_D]


def test_the_fake_hub_serves_a_cards_header_as_card_data_like_the_hub(fake_hub):
    from huggingface_hub import HfApi

    seed_eval_results(fake_hub)
    api = HfApi(endpoint=fake_hub.url)
    card = api.model_info("org/alpha", expand=["cardData"]).card_data
    assert [(r.dataset_type, r.metric_value) for r in card.eval_results] == [
        ("HuggingFaceH4/ifeval", 61.5), ("BBH", 35.0), ("hendrycks/competition_math", 12.0)]
    assert api.model_info("org/beta", expand=["cardData"]).card_data is None  # the broken header
    files = {f.path for f in api.list_repo_tree("org/alpha", path_in_repo=".eval_results")}
    assert files == {".eval_results/gpqa.yaml", ".eval_results/hle.yaml", ".eval_results/broken.yaml",
                     ".eval_results/entries.yaml"}


def test_a_hub_error_is_one_line_and_leaves_no_reference(fake_hub, tmp_path, capsys):
    seed_eval_results(fake_hub)
    # every retry of the card fails (a 400: the client itself retries 5xx for tens of seconds first)
    fake_hub.inject(r"^/org/alpha/resolve/", status=400, times=100)
    ids = tmp_path / "models.txt"
    ids.write_text("org/beta\norg/alpha\n")
    rc, _, err = run_cli(capsys, "reference", "import", "--ref", str(tmp_path / "ref"), "--kind", "hub-eval-results",
                         "--endpoint", fake_hub.url, str(ids))
    assert rc != 0 and len(err.splitlines()) == 1 and "HTTP 400" in err and "org/alpha/README.md" in err
    assert not (tmp_path / "ref").exists()

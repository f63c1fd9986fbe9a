"""``pull_reference`` and the lineage/metadata readers, with the real client against the fake Hub."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from huggingface_hub.hf_api import ModelInfo

from lrmf_plugin.errors import HubError, HubNotFound
from lrmf_plugin.hub import lineage_from_model_info, metadata_from_model_info
from lrmf_plugin.importers.hub_pull import CONTENTS_REPO, details_repo, pull_reference
from lrmf_plugin.reference import Reference
from lrmf_plugin.schema import Edge

TOKEN = "hf_pull_secret_token_123"


def _contents_parquet(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf, index=False)
    return buf.getvalue()


def _row(model: str, base: str, scores: tuple[float, ...], submitted: str = "2024-08-01", **extra) -> dict:
    cols = ("IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO")
    row = {"eval_name": model.replace("/", "__") + "_bfloat16", "fullname": model, "Precision": "bfloat16",
           "Type": "💬 chat models (RLHF, DPO, IFT, ...)", "Architecture": "LlamaForCausalLM",
           "#Params (B)": 7.2, "Chat Template": True, "MoE": False, "Merged": False,
           "Upload To Hub Date": "2024-04-13", "Submission Date": submitted, "Generation": 1,
           "Base Model": base, **{c: s for c, s in zip(cols, scores)}}
    row.update({f"{c} Raw": s / 100 for c, s in zip(cols, scores)})
    row.update(extra)
    return row


def _details_files(model: str, values: list[int]) -> dict[str, bytes]:
    """A details dataset as the leaderboard publishes it: lm-eval results + samples per model folder."""
    folder = model.replace("/", "__")
    date = "2024-06-26T17-40-06.055005"
    task = "leaderboard_musr_team_allocation"
    results = {"results": {task: {"acc_norm,none": sum(values) / len(values)}},
               "config": {"model_args": f"pretrained={model},revision=main,trust_remote_code=False"},
               "n-samples": {task: {"original": len(values), "effective": len(values)}},
               "versions": {task: 1.0}}
    samples = "".join(json.dumps({"doc_id": i, "filter": "none", "metrics": ["acc_norm"], "acc_norm": float(v),
                                  "target": "A"}) + "\n" for i, v in enumerate(values))
    return {f"{folder}/results_{date}.json": json.dumps(results).encode(),
            f"{folder}/samples_{task}_{date}.jsonl": samples.encode(),
            "README.md": b"details"}


@pytest.fixture
def seeded(fake_hub):
    fake_hub.add_user("alice", TOKEN)
    rows = [_row("org/base-7b", "org/base-7b", (40, 30, 10, 8, 9, 25)),
            _row("org/chat-7b", "org/base-7b", (60, 35, 12, 9, 11, 28)),
            _row("org/chat-7b", "org/base-7b", (61, 36, 13, 9.5, 11, 29), submitted="2024-09-01"),
            _row("org/merge-7b", "org/merge-7b (Merge)", (50, 33, 11, 7, 10, 27)),
            _row("gone/model", "Removed", (20, 10, float("nan"), 1, 2, 3))]
    fake_hub.add_dataset(CONTENTS_REPO, {"data/train-00000-of-00001.parquet": _contents_parquet(rows),
                                         "README.md": b"# contents"})
    fake_hub.add_dataset(details_repo("org/chat-7b"), _details_files("org/chat-7b", [1, 0, 1, 1]))
    fake_hub.add_model("org/base-7b", tags=["llama"])
    fake_hub.add_model("org/chat-7b", tags=["base_model:org/base-7b", "base_model:finetune:org/base-7b"],
                       card_data={"base_model": "something/else"})
    fake_hub.add_model("org/merge-7b", card_data={"base_model": ["org/chat-7b", "other/x-7b"]})
    return fake_hub


def test_pull_stores_contents_details_and_card_lineage(seeded, tmp_path):
    ref = Reference.create(tmp_path / "ref")
    reports = pull_reference(ref, endpoint=seeded.url, details_for=["org/chat-7b"], token=TOKEN, progress=False)
    assert [r.source.kind for r in reports] == ["hub-contents", "hub-details", "hub-lineage"]

    scores = ref.scores().set_index(["model", "benchmark"])["score"]
    assert scores[("org/chat-7b", "ifeval")] == 61  # the later submission wins
    assert scores[("org/base-7b", "mmlu_pro")] == 25
    assert ("gone/model", "math") not in scores.index  # NaN score skipped
    assert {b for b, info in ref.benchmarks().items() if info.suite == "v2"} == {
        "ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro"}
    meta = ref.metadata()
    assert meta.loc["org/chat-7b", "params_b"] == pytest.approx(7.2)
    assert meta.loc["org/chat-7b", "model_type"] == "chatmodels"  # spelled as the v2 CSV does
    assert bool(meta.loc["org/chat-7b", "chat_template"]) is True

    edges = set(ref.edges())
    assert Edge("org/base-7b", "org/chat-7b", "family") in edges  # contents root ancestor
    assert Edge("org/base-7b", "org/chat-7b", "finetune") in edges  # tags win over the card
    assert Edge("something/else", "org/chat-7b", "finetune") not in edges
    assert {Edge("org/chat-7b", "org/merge-7b", "merge"), Edge("other/x-7b", "org/merge-7b", "merge")} <= edges
    assert not any(e.child == "org/merge-7b" and e.relation == "family" for e in edges)  # "X (Merge)" root
    assert "other/x-7b" in ref.models()  # ancestor without scores kept as a node

    models, block = ref.item_block("leaderboard_musr_team_allocation")
    row = block.values[models.index("org/chat-7b")]
    assert list(row) == [1, 0, 1, 1]

    # "gone/model" has no Hub repo: skipped with a note, not an error
    assert any("no longer on the Hub" in n for n in reports[-1].source.notes)
    # the client authenticated as alice; parquet and details came from the dataset endpoints
    assert {r.user for r in seeded.requests} == {"alice"}
    assert seeded.requests_to(r"^/datasets/open-llm-leaderboard/contents/resolve/", "GET")
    assert seeded.requests_to(r"^/api/datasets/open-llm-leaderboard/org__chat-7b-details/tree/")
    assert all(TOKEN not in json.dumps(r.headers) for r in seeded.requests)


def test_pull_again_replaces_instead_of_duplicating(seeded, tmp_path):
    ref = Reference.create(tmp_path / "ref")
    pull_reference(ref, endpoint=seeded.url, lineage=False, progress=False)
    first = (len(ref.sources()), len(ref.scores()), len(ref.edges()))
    reports = pull_reference(ref, endpoint=seeded.url, lineage=False, progress=False)
    assert reports[0].replaced
    assert (len(ref.sources()), len(ref.scores()), len(ref.edges())) == first
    assert not seeded.requests_to(r"^/api/models/")  # lineage=False reads no model cards


def test_missing_contents_repo_is_one_line_and_writes_nothing(fake_hub, tmp_path):
    ref = Reference.create(tmp_path / "ref")
    with pytest.raises(HubNotFound) as err:
        pull_reference(ref, endpoint=fake_hub.url, progress=False)
    assert "open-llm-leaderboard/contents" in str(err.value) and "\n" not in str(err.value)
    assert ref.sources() == []


def test_failure_after_contents_leaves_reference_unchanged(seeded, tmp_path):
    ref = Reference.create(tmp_path / "ref")
    # the details dataset of a model nobody published: the whole pull fails before writing
    with pytest.raises(HubNotFound, match="nobody/none"):
        pull_reference(ref, endpoint=seeded.url, details_for=["nobody/none"], progress=False)
    assert ref.sources() == []


def test_pull_waits_out_a_rate_limit_and_retries_server_errors(seeded, tmp_path):
    seeded.rate_limit(r"^/api/models/org/chat-7b$", reset=1)
    seeded.inject(r"^/api/models/org/merge-7b$", status=503)
    ref = Reference.create(tmp_path / "ref")
    pull_reference(ref, endpoint=seeded.url, progress=False)
    assert len(seeded.requests_to(r"^/api/models/org/chat-7b$")) == 2
    assert Edge("org/base-7b", "org/chat-7b", "finetune") in set(ref.edges())
    assert Edge("other/x-7b", "org/merge-7b", "merge") in set(ref.edges())


def test_persistent_server_error_and_bad_parquet_are_hub_errors(seeded, tmp_path):
    ref = Reference.create(tmp_path / "ref")
    seeded.inject(r"^/api/models/org/base-7b$", status=500, times=10)
    with pytest.raises(HubError, match=r"model card of org/base-7b: the Hub answered HTTP 500"):
        pull_reference(ref, endpoint=seeded.url, progress=False, retries=1)
    seeded.add_dataset(CONTENTS_REPO, {"data/train-00000-of-00001.parquet": b"PAR1 not really parquet"})
    with pytest.raises(HubError, match="not a readable parquet table"):
        pull_reference(ref, endpoint=seeded.url, progress=False)
    seeded.add_dataset(CONTENTS_REPO, {"data/train.parquet": _contents_parquet([{"fullname": "a/b", "IFEval": 1}])})
    with pytest.raises(HubError, match="lacks columns BBH"):
        pull_reference(ref, endpoint=seeded.url, progress=False)
    bad = _row("a/b", "a/b", (40, 30, 10, 8, 9, 250))
    seeded.add_dataset(CONTENTS_REPO, {"data/train.parquet": _contents_parquet([bad])})
    with pytest.raises(HubError, match=r"row 1, column 'MMLU-PRO': score 250 is outside"):
        pull_reference(ref, endpoint=seeded.url, progress=False)
    assert ref.sources() == []


def _info(**raw) -> ModelInfo:
    return ModelInfo(id=raw.pop("id", "me/model"), **raw)


def test_lineage_prefers_tags_then_card_and_reads_merges():
    assert lineage_from_model_info(_info(tags=["base_model:a/b", "base_model:quantized:a/b"],
                                         cardData={"base_model": "c/d"})) == [("a/b", "quantized")]
    assert lineage_from_model_info(_info(tags=["base_model:adapter:a/b", "base_model:adapter:e/f"])) == [
        ("a/b", "adapter"), ("e/f", "adapter")]
    assert lineage_from_model_info(_info(cardData={"base_model": "c/d"})) == [("c/d", "finetune")]
    assert lineage_from_model_info(_info(cardData={"base_model": ["c/d", "e/f"]})) == [
        ("c/d", "merge"), ("e/f", "merge")]
    assert lineage_from_model_info(_info(cardData={"base_model": "c/d", "base_model_relation": "quantized"})) == [
        ("c/d", "quantized")]
    # card text is user input: non-ids, self references and unknown relations are dropped
    assert lineage_from_model_info(_info(cardData={"base_model": ["<img src=x onerror=alert(1)>", "me/model"]})) == []
    assert lineage_from_model_info(_info(tags=["base_model:weird:a/b"], cardData={"base_model": "c/d"})) == [
        ("c/d", "finetune")]
    assert lineage_from_model_info(_info()) == []


def test_metadata_from_model_info_reads_what_the_hub_states():
    info = _info(createdAt="2026-03-01T10:00:00.000Z", safetensors={"parameters": {"BF16": 7_000_000_000}, "total": 7_000_000_000},
                 config={"architectures": ["MixtralForCausalLM"], "tokenizer_config": {"chat_template": "{{x}}"}},
                 tags=["mergekit", "license:MIT"], likes=3)
    assert metadata_from_model_info(info) == {"params_b": 7.0, "precision": "bfloat16",
                                              "architecture": "MixtralForCausalLM", "moe": True,
                                              "chat_template": True, "merged": True, "upload_date": "2026-03-01",
                                              "likes": 3.0, "license": "mit"}
    assert metadata_from_model_info(_info()) == {}

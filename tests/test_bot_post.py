"""What the post says, and which predictions are never posted (reported instead)."""
from __future__ import annotations

from datetime import timedelta

from bot_helpers import BOT, NOW, cfg, created, finetune_of, hub, posts, reference, text_of  # noqa: F401

from lrmf_bot import render
from lrmf_bot.cli import main as bot_main
from lrmf_bot.config import OPT_OUT_TAG
from lrmf_bot.poller import run_once
from lrmf_plugin.api import Lrmf
from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.reference import Reference
from lrmf_plugin.schema import ModelQuery, Prediction
from lrmf_plugin.track_record import PredictionLog

SHA = "0123456789abcdef0123456789abcdef01234567"


def _preds(model: str, widths: list[float]) -> list[Prediction]:
    return [Prediction(model, b, 40.04 + i, 40.04 + i - w / 2, 40.04 + i + w / 2)
            for i, (b, w) in enumerate(zip(BENCHMARKS, widths))]


def test_numbers_carry_only_the_digits_their_interval_supports():
    preds = _preds("a/b", [54.3, 4.0, 12.0, 10.0, 6.0, 3.0])
    table = render.table(preds)
    assert "| IFEval | 40 | 13 – 67 |" in table  # 54 points wide: whole points
    assert "| BBH | 41.0 | 39.0 – 43.0 |" in table
    assert "| MATH Lvl 5 | 42 | 36 – 48 |" in table and "| GPQA | 43.0 | 38.0 – 48.0 |" in table
    lo = sum(p.lower for p in preds) / 6
    hi = sum(p.upper for p in preds) / 6
    assert f"| **Average** | {sum(p.predicted for p in preds) / 6:.0f} | {lo:.0f} – {hi:.0f} |" in table
    assert render.number(33.333, 30.0, 36.0) == "33.3" and render.number(33.333, 20.0, 40.0) == "33"


def test_ids_are_code_spans_and_the_text_has_no_backslashes():
    body = render.body("a_b/c*d", SHA, _preds("a_b/c*d", [8.0] * 6),
                       [("x_y/<b>", "finetune"), ("p/q", "merge"), ("r/s", "merge")], [("x_y/<b>", 35.21)],
                       bot_user=BOT, site="https://hub.example", space_url="https://example.org/space")
    assert "\\" not in body
    assert "predictions, not measurements" in body and f"`{BOT}`" in body
    assert "[`x_y/<b>`](https://hub.example/x_y/%3Cb%3E)" in body  # inert inside a code span
    assert "merge of [`p/q`](https://hub.example/p/q) + [`r/s`](https://hub.example/r/s)" in body
    assert "**Evaluated in its lineage:** [`x_y/<b>`](https://hub.example/x_y/%3Cb%3E) (measured average 35.2)" in body
    assert "every repository of `a_b`" in body and f"`@{BOT} stop`" in body and f"`{OPT_OUT_TAG}`" in body
    assert "(https://example.org/space?model=a_b/c%2Ad)" in body  # this model's page in the Space
    assert "**Why this may be wrong:**" in body and "a merge can land outside" in body
    assert "Close this discussion and the bot will never post here again" in body
    m = render.MARKER_RE.search(body)
    assert m and m["model"] == "a_b/c%2Ad" and m["sha"] == SHA
    assert render.marker("a/b", "<script>") == "<!-- lrmf-bot v1 model=a/b sha=unknown -->"
    assert render.code("a`b") == "``a`b``" and render.code("`x") == "`` `x ``"


def test_relatives_are_only_the_models_own_lineage(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=created(60), tags=finetune_of("fam1/ft0"))
    run_once(cfg(reference, hub, tmp_path), now=NOW)
    text = text_of(hub, "alice/chat")
    measured = Reference(reference).scores().query("model == 'fam1/ft0'")["score"].mean()
    assert f"**Evaluated in its lineage:** [`fam1/ft0`](https://hub.example/fam1/ft0) (measured average {measured:.1f})" in text
    assert not any(f"fam1/ft{j}" in text for j in range(1, 5))  # siblings are other people's models
    assert "https://example.org/space?model=alice/chat" in text


def test_a_cross_architecture_merge_is_reported_not_posted(reference, hub, tmp_path, capsys):
    hub.add_model("mix/llama-gemma", created_at=created(60), card_data={"base_model": ["fam3/ft0", "fam6/ft0"]})
    hub.add_model("ext/gemma", created_at=created(500), config={"architectures": ["Gemma2ForCausalLM"]})
    hub.add_model("blend/outside", created_at=created(60), card_data={"base_model": ["fam3/ft1", "ext/gemma"]})
    hub.add_model("ok/llamas", created_at=created(60), card_data={"base_model": ["fam3/ft0", "fam4/ft2"]})
    hub.add_model("fine/unseen", created_at=created(60), card_data={"base_model": ["fam3/ft0", "gone/private"]})
    report = run_once(cfg(reference, hub, tmp_path), now=NOW)
    assert sorted(posts(hub)) == ["fine/unseen", "ok/llamas"] and report.errors == 0
    withheld = {w["model"]: w["reason"] for w in report.withheld}
    assert set(withheld) == {"mix/llama-gemma", "blend/outside"} and report.skipped["withheld"] == 2
    assert "Gemma2ForCausalLM, LlamaForCausalLM" in withheld["blend/outside"]  # read from the Hub's config
    assert bot_main(["status", "--state", str(tmp_path / "bot.sqlite")]) == 0
    assert "not posted: mix/llama-gemma: merge of different architectures" in capsys.readouterr().out


def test_a_model_outside_the_references_support_is_reported_not_posted(reference, hub, tmp_path):
    hub.add_model("big/one", created_at=created(60), tags=finetune_of("fam1/ft0"),
                  safetensors={"parameters": {"BF16": 400_000_000_000}, "total": 400_000_000_000})
    hub.add_model("odd/arch", created_at=created(60), tags=finetune_of("fam1/ft0"),
                  config={"architectures": ["MambaForCausalLM"]})
    hub.add_model("fine/one", created_at=created(60), tags=finetune_of("fam1/ft0"),
                  config={"architectures": ["LlamaForCausalLM"]})
    report = run_once(cfg(reference, hub, tmp_path), now=NOW)
    assert list(posts(hub)) == ["fine/one"]
    reasons = {w["model"]: w["reason"] for w in report.withheld}
    assert "400.0B parameters" in reasons["big/one"] and "MambaForCausalLM" in reasons["odd/arch"]


def test_a_quantised_copy_far_below_its_parent_is_held(reference, hub, tmp_path):
    model, parent = "quant/q8", "fam1/ft0"
    lrmf = Lrmf(reference)
    preds = [p for p in lrmf.predict([ModelQuery(model=model, parents=[(parent, "quantized")])])
             if p.benchmark in BENCHMARKS]
    drop = (Reference(reference).scores().query("model == @parent")["score"].mean()
            - sum(p.predicted for p in preds) / len(preds))
    hub.add_model(model, created_at=created(60), tags=[f"base_model:quantized:{parent}"])
    held = run_once(cfg(reference, hub, tmp_path, quantized_drop=drop - 0.5), now=NOW)
    assert not posts(hub) and [h["model"] for h in held.held] == [model]
    assert "below its parent's measured average" in held.held[0]["reason"]
    # looked at again after the hold, without logging the same prediction twice
    assert run_once(cfg(reference, hub, tmp_path, quantized_drop=drop - 0.5), now=NOW + timedelta(hours=2)).held == []
    again = run_once(cfg(reference, hub, tmp_path, quantized_drop=drop - 0.5), now=NOW + timedelta(hours=25))
    assert again.held and again.predicted == 0
    assert len(PredictionLog(tmp_path / "bot.sqlite").predictions(latest_only=False)) == 1
    posted = run_once(cfg(reference, hub, tmp_path, quantized_drop=drop + 0.5), now=NOW + timedelta(hours=50))
    assert posted.posted == 1 and list(posts(hub)) == [model]


def test_a_follow_up_that_would_be_a_cross_architecture_merge_is_not_posted(reference, hub, tmp_path):
    hub.add_model("turn/coat", created_at=created(60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    conf = cfg(reference, hub, tmp_path)
    assert run_once(conf, now=NOW).posted == 1
    hub.update_model("turn/coat", sha="b" * 40, tags=[], cardData={"base_model": ["fam3/ft0", "fam6/ft0"]})
    report = run_once(conf, now=NOW + timedelta(minutes=10))
    assert report.commented == 0 and [w["model"] for w in report.withheld] == ["turn/coat"]
    assert len(hub.discussions("turn/coat")[0]["events"]) == 1


def test_a_model_outside_the_reference_is_flagged_in_the_post():
    reasons = ("upload date 2026-11-02, after the reference's newest (2025-03-20)", "a_b <x> `y`")
    flagged = [Prediction(p.model, p.benchmark, p.predicted, p.lower, p.upper, flags=reasons)
               for p in _preds("a/b", [8.0] * 6)]
    options = {"bot_user": BOT, "site": "https://hub.example", "space_url": "https://example.org/space"}
    body = render.body("a/b", SHA, flagged, [], [], **options)
    assert "**⚠ Outside the reference:**" in body and "\\" not in body
    assert "`upload date 2026-11-02, after the reference's newest (2025-03-20)`" in body and "`` a_b <x> `y` ``" in body
    assert body.index("Outside the reference") > body.index("| **Average** |")  # right under the numbers
    comment = render.change_comment("a/b", flagged, [], site="https://hub.example", space_url="https://example.org/space")
    assert "**⚠ Outside the reference:**" in comment
    assert "Outside the reference" not in render.body("a/b", SHA, _preds("a/b", [8.0] * 6), [], [], **options)

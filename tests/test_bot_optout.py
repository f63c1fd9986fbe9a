"""Opt-outs against the fake Hub: every write passes them, they survive a lost state file, and only
the namespace's own people can give them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from bot_helpers import BOT, NOW, bot_comments, cfg, created, finetune_of, hub, posts, reference  # noqa: F401

from lrmf_bot.config import OPT_OUT_TAG
from lrmf_bot.optouts import is_stop_request
from lrmf_bot.poller import run_once
from lrmf_bot.state import BotState


@pytest.mark.parametrize("text, stop", [
    (f"@{BOT} stop", True), (f"please @{BOT} STOP, thanks", True), ("stop", True), ("please  stop", True),
    ("Please stop.", True), ("UNSUBSCRIBE", True), ("opt out please", True), ("Stop posting here!", True),
    (f"@{BOT}   stop", True), ("please do not post here, stop", True),
    ("don't stop", False), ("do not stop, this is useful", False), ("thanks, nice numbers", False),
    ("The IFEval estimate seems high; does the bot stop predicting once a model has been evaluated by anyone?",
     False),
    (f"Long thoughts about why the numbers differ from what we measured on our own cluster last week, @{BOT} stop",
     True),
])
def test_what_counts_as_a_stop_request(text, stop):
    assert is_stop_request(text, BOT) is stop


def _post_then(hub, reference, tmp_path, **overrides):
    conf = cfg(reference, hub, tmp_path, **overrides)
    assert run_once(conf, now=NOW).posted == len(posts(hub)) > 0
    return conf


def test_a_stop_in_the_same_change_as_new_lineage_gets_no_follow_up(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=created(60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    conf = _post_then(hub, reference, tmp_path)
    hub.add_comment("alice/chat", 1, author="alice", text=f"@{BOT} stop")
    hub.update_model("alice/chat", sha="b" * 40, tags=finetune_of("fam6/ft2"))
    report = run_once(conf, now=NOW + timedelta(minutes=10))
    assert report.commented == 0 and report.acknowledged == 1
    comments = bot_comments(hub, "alice/chat")
    assert len(comments) == 1 and comments[0].startswith("Understood") and "fam6" not in comments[0]
    assert hub.discussions("alice/chat")[0]["status"] == "closed"
    assert BotState(conf.state).opted_out("alice/other")
    run_once(conf, now=NOW + timedelta(hours=3))  # acknowledged once, not on every sweep
    assert len(bot_comments(hub, "alice/chat")) == 1


def test_the_opt_out_tag_in_the_same_change_as_new_lineage_gets_no_follow_up(reference, hub, tmp_path):
    hub.add_model("bob/chat", created_at=created(60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    conf = _post_then(hub, reference, tmp_path)
    hub.update_model("bob/chat", sha="b" * 40, tags=[*finetune_of("fam6/ft2"), OPT_OUT_TAG])
    report = run_once(conf, now=NOW + timedelta(minutes=10))
    assert report.commented == 0 and report.skipped["follow-up: opt-out tag on the card"] == 1
    assert bot_comments(hub, "bob/chat") == []


def test_a_follow_up_passes_the_deny_list_too(reference, hub, tmp_path):
    hub.add_model("carl/chat", created_at=created(60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    conf = _post_then(hub, reference, tmp_path)
    hub.update_model("carl/chat", sha="b" * 40, tags=finetune_of("fam6/ft2"))
    report = run_once(cfg(reference, hub, tmp_path, deny=("carl",)), now=NOW + timedelta(minutes=10))
    assert report.commented == 0 and bot_comments(hub, "carl/chat") == []
    assert run_once(conf, now=NOW + timedelta(minutes=20)).commented == 1  # once allowed again


def test_a_stop_survives_a_closed_thread_and_a_lost_state_file(reference, hub, tmp_path):
    hub.add_model("quiet/first", created_at=created(60), tags=finetune_of("fam1/ft0"))
    conf = _post_then(hub, reference, tmp_path)
    hub.add_comment("quiet/first", 1, author="quiet", text="please stop")
    hub.close_discussion("quiet/first", 1, by="quiet")
    conf.state.unlink()
    later = NOW + timedelta(hours=25)
    hub.add_model("quiet/second", created_at=later - timedelta(hours=1), tags=finetune_of("fam2/ft0"))
    report = run_once(conf, now=later)
    assert list(posts(hub)) == ["quiet/first"] and report.posted == 0
    assert "quiet asked to stop" in BotState(conf.state).opted_out("quiet/second")
    assert bot_comments(hub, "quiet/first") == []  # the owner closed it: nothing more is said there


def test_a_passer_by_cannot_opt_out_someone_elses_namespace(reference, hub, tmp_path):
    hub.add_model("loud/a", created_at=created(60), tags=finetune_of("fam2/ft0"))
    conf = _post_then(hub, reference, tmp_path)
    hub.add_comment("loud/a", 1, author="mallory", text=f"@{BOT} stop")
    later = NOW + timedelta(days=1, minutes=5)
    hub.add_model("loud/b", created_at=later - timedelta(hours=1), tags=finetune_of("fam2/ft1"))
    report = run_once(conf, now=later)
    assert sorted(posts(hub)) == ["loud/a", "loud/b"]
    assert report.ignored_stops >= 1 and not BotState(conf.state).opted_out("loud/c")
    assert bot_comments(hub, "loud/a") == []  # nothing acknowledged to a passer-by


def test_an_organisation_member_can_opt_the_organisation_out(reference, hub, tmp_path):
    hub.add_org("acme", ["ann", "ben"])
    hub.add_model("acme/a", created_at=created(60), tags=finetune_of("fam2/ft0"))
    conf = _post_then(hub, reference, tmp_path)
    hub.add_comment("acme/a", 1, author="ben", text="Please  STOP")
    later = NOW + timedelta(days=1, minutes=5)
    hub.add_model("acme/b", created_at=later - timedelta(hours=1), tags=finetune_of("fam2/ft1"))
    report = run_once(conf, now=later)
    assert list(posts(hub)) == ["acme/a"] and report.acknowledged == 1
    assert "ben asked to stop" in BotState(conf.state).opted_out("acme/b")
    assert hub.requests_to(r"^/api/organizations/acme/members$")


def test_follow_ups_are_capped_per_thread(reference, hub, tmp_path):
    hub.add_model("dora/chat", created_at=created(60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    conf = _post_then(hub, reference, tmp_path)
    for i, (days, parent) in enumerate([(0.01, "fam6/ft2"), (1, "fam3/ft1"), (31, "fam1/ft0")]):
        hub.update_model("dora/chat", sha=str(i) * 40, tags=finetune_of(parent))
        run_once(conf, now=NOW + timedelta(days=days))
    comments = bot_comments(hub, "dora/chat")
    assert len(comments) == 2  # the change a day after the first follow-up waited for the month to pass
    assert "fam6/ft2" in comments[0] and "fam1/ft0" in comments[1]


def test_a_repo_refusing_its_discussions_does_not_block_its_namespace(reference, hub, tmp_path):
    hub.add_model("mixed/old", created_at=created(300), pipeline_tag="text-generation")
    hub.add_model("mixed/new", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.inject(r"^/api/models/mixed/old/discussions$", method="GET", status=403, times=5)
    report = run_once(cfg(reference, hub, tmp_path), now=NOW)
    assert list(posts(hub)) == ["mixed/new"] and report.errors == 0


def test_a_dry_run_honours_a_stop_without_writing(reference, hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    hub.add_model("eve/old", created_at=created(300), tags=finetune_of("fam1/ft0"))
    hub.add_discussion("eve/old", author=BOT, title="[bot] earlier thread")
    hub.add_comment("eve/old", 1, author="eve", text="stop")
    hub.add_model("eve/new", created_at=created(60), tags=finetune_of("fam1/ft1"))
    conf = cfg(reference, hub, tmp_path, post=False, bot_user=BOT)
    report = run_once(conf, now=NOW)
    assert report.dry_run == 0 and not hub.requests_to(".*", "POST")
    assert "eve asked to stop" in BotState(conf.state).opted_out("eve/new")

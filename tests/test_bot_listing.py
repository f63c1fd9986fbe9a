"""No silent gaps: the scan limit defers instead of dropping, capped models are predicted once, and
follow-ups reach models of any age."""
from __future__ import annotations

from datetime import timedelta

from bot_helpers import NOW, bot_comments, cfg, created, finetune_of, hub, posts, reference  # noqa: F401

from lrmf_bot.cli import main as bot_main
from lrmf_bot.poller import run_once
from lrmf_bot.state import BotState
from lrmf_plugin.track_record import PredictionLog


def test_uploads_beyond_the_scan_limit_are_read_on_the_next_run(reference, hub, tmp_path):
    models = [f"up{i}/m{i}" for i in range(1650)]
    for i, model in enumerate(models):  # one upload every 40 s over the last 18 hours
        hub.add_model(model, created_at=created(60 + i * 40 / 60))
    conf = cfg(reference, hub, tmp_path, scan_limit=1000, allow=("nobody",))
    first = run_once(conf, now=NOW)
    assert first.listed == 1000 and len(first.listing_backlog) == 1
    state = BotState(conf.state)
    assert sum(state.candidate(m) is not None for m in models) == 1000
    # uploads keep arriving between the runs: they neither shift nor hide the unread rest
    fresh = [f"new{i}/m" for i in range(30)]
    for i, model in enumerate(fresh):
        hub.add_model(model, created_at=NOW + timedelta(minutes=1 + i / 10))
    second = run_once(conf, now=NOW + timedelta(minutes=10))
    assert second.listing_backlog == []
    assert all(state.candidate(m) is not None for m in models + fresh)
    assert first.new + second.new == len(models) + len(fresh)


def test_the_backlog_is_reported_with_its_window(reference, hub, tmp_path, capsys):
    for i in range(12):
        hub.add_model(f"w{i}/m", created_at=created(60 + i))
    hub.page_size = 5
    report = run_once(cfg(reference, hub, tmp_path, scan_limit=5, allow=("nobody",)), now=NOW)
    assert report.listed == 5
    [window] = report.listing_backlog
    assert window["to"] == created(64).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the oldest model read
    assert window["from"] < window["to"]
    assert bot_main(["status", "--state", str(tmp_path / "bot.sqlite")]) == 0
    assert f"not read yet: models created {window['from'][:16]} .. {window['to'][:16]}" in capsys.readouterr().out


def test_models_waiting_for_the_post_cap_are_predicted_once(reference, hub, tmp_path):
    for ns in ("a", "b", "c"):
        hub.add_model(f"{ns}/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    conf = cfg(reference, hub, tmp_path, max_posts_per_run=1)
    reports = [run_once(conf, now=NOW + timedelta(minutes=10 * k)) for k in range(3)]
    assert [r.posted for r in reports] == [1, 1, 1] and [r.predicted for r in reports] == [1, 1, 1]
    assert [r.deferred for r in reports] == [2, 1, 0]
    logged = PredictionLog(conf.state).predictions(latest_only=False)
    assert sorted(p.model for p in logged) == ["a/m", "b/m", "c/m"]


def test_follow_ups_reach_models_older_than_the_listing_window(reference, hub, tmp_path):
    hub.add_model("old/chat", created_at=created(3 * 24 * 60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    conf = cfg(reference, hub, tmp_path, first_lookback_hours=4 * 24)
    assert run_once(conf, now=NOW).posted == 1
    hub.add_model("newer/chat", created_at=NOW + timedelta(days=2), tags=finetune_of("fam2/ft0"))
    run_once(conf, now=NOW + timedelta(days=2, hours=1))  # the listing's window moves past old/chat
    hub.update_model("old/chat", sha="b" * 40, tags=finetune_of("fam6/ft2"))
    report = run_once(conf, now=NOW + timedelta(days=2, hours=3))
    assert report.commented == 1 and report.listed == 1  # newer/chat only: old/chat is out of the window
    assert hub.requests_to(r"^/api/models/old/chat$")  # read on its own, not from the listing
    [comment] = bot_comments(hub, "old/chat")
    assert "fam6/ft2" in comment and len(posts(hub)["old/chat"]) == 1


def test_an_unfinished_listing_the_hub_no_longer_accepts_is_read_again_from_the_top(reference, hub, tmp_path):
    models = [f"c{i}/m" for i in range(12)]
    for i, model in enumerate(models):
        hub.add_model(model, created_at=created(60 + i))
    hub.page_size = 5
    conf = cfg(reference, hub, tmp_path, scan_limit=5, allow=("nobody",))
    run_once(conf, now=NOW)
    state = BotState(conf.state)
    [segment] = state.backlog()
    state.set_backlog([{**segment, "next": segment["next"].split("cursor=")[0] + "cursor=not-a-cursor"}])
    refused = run_once(conf, now=NOW + timedelta(minutes=10))
    assert refused.outcome == "unreachable" and "HTTP 400" in refused.stopped
    reports = [run_once(conf, now=NOW + timedelta(minutes=10 * k)) for k in range(2, 6)]
    assert reports[-1].listing_backlog == [] and all(state.candidate(m) for m in models)

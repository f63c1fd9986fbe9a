"""The Hub bot against the loopback fake Hub, with the real client, a real fitted reference and SQLite.

The main flow, opt-out basics, throttles, faults, crash safety and the CLI; time bounds, opt-outs
read from the Hub, gap-free listing and the post's content have their own modules.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from bot_helpers import (BOT, NOW, TOKEN, cfg, created, creates, finetune_of, hub,  # noqa: F401
                         posts, reference, text_of)

from lrmf_bot import render
from lrmf_bot.cli import main as bot_main
from lrmf_bot.cli import make_scheduler
from lrmf_bot.config import OPT_OUT_TAG, BotConfig
from lrmf_bot.poller import run_once
from lrmf_bot.state import BotState
from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.track_record import PredictionLog


# ---------------------------------------------------------------------- the main flow

def test_posts_once_to_each_eligible_model_and_never_elsewhere(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=created(120), tags=finetune_of("fam1/ft0"))
    hub.add_model("bob/card", created_at=created(90), card_data={"base_model": "fam2/ft1"})
    hub.add_model("carol/merge", created_at=created(60), card_data={"base_model": ["fam3/ft0", "fam4/ft2"]})
    hub.add_model("dave/private", created_at=created(60), tags=finetune_of("fam1/ft0"), private=True,
                  collaborators=(BOT,))
    hub.add_model("erin/gated", created_at=created(60), tags=finetune_of("fam1/ft0"), gated="manual")
    hub.add_model("frank/disabled", created_at=created(60), tags=finetune_of("fam1/ft0"), disabled=True)
    hub.add_model("gina/tagged", created_at=created(60), tags=[*finetune_of("fam1/ft0"), OPT_OUT_TAG])
    hub.add_model("hal/vision", created_at=created(60), tags=finetune_of("fam1/ft0"), pipeline_tag="image-to-text")
    hub.add_model("ivy/fresh", created_at=created(5), tags=finetune_of("fam1/ft0"))
    hub.add_model("jon/nolineage", created_at=created(60))
    hub.add_model("denied/model", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.add_model(f"{BOT}/own", created_at=created(60), tags=finetune_of("fam1/ft0"))

    report = run_once(cfg(reference, hub, tmp_path, deny=("denied",)), now=NOW)

    assert sorted(posts(hub)) == ["alice/chat", "bob/card", "carol/merge"]
    assert all(len(v) == 1 for v in posts(hub).values())
    assert report.posted == 3 and report.errors == 0
    assert report.skipped["private"] == 1 and report.skipped["gated"] == 1 and report.skipped["disabled"] == 1
    assert report.skipped["opt-out tag on the card"] == 1 and report.skipped["namespace on the deny list"] == 1
    assert report.skipped["the bot's own model"] == 1
    assert report.waiting["settling"] == 1 and report.waiting["waiting for lineage"] == 1

    thread = hub.discussions("carol/merge")[0]
    assert thread["title"] == render.TITLE
    text = thread["events"][0]["data"]["latest"]["raw"]
    assert "merge of [`fam3/ft0`](https://hub.example/fam3/ft0) + [`fam4/ft2`](https://hub.example/fam4/ft2)" in text
    assert render.MARKER_RE.search(text)["model"] == "carol/merge"
    assert text.count("\n| ") == len(BENCHMARKS) + 2  # header separator excluded: rows + average + header

    # one listing with expand, sorted by creation, text-generation only; the listed data was enough
    listing = hub.requests_to(r"^/api/models$")
    assert listing[0].query["sort"] == ["createdAt"] and "cardData" in listing[0].query["expand"]
    assert listing[0].query["pipeline_tag"] == ["text-generation"]
    assert not hub.requests_to(r"^/api/models/alice/chat$")

    # every prediction is in the log before and after posting, with its discussion
    log = PredictionLog(tmp_path / "bot.sqlite")
    logged = {p.model: p for p in log.predictions()}
    assert logged["alice/chat"].discussion_url == "https://hub.example/alice/chat/discussions/1"
    assert logged["carol/merge"].parents == [("fam3/ft0", "merge"), ("fam4/ft2", "merge")]
    assert {p.benchmark for p in logged["bob/card"].scores} == set(BENCHMARKS)

    # run again: nothing new is posted
    before = len(creates(hub))
    again = run_once(cfg(reference, hub, tmp_path, deny=("denied",)), now=NOW + timedelta(minutes=10))
    assert again.posted == 0 and len(creates(hub)) == before


def test_dry_run_writes_the_outbox_and_nothing_to_the_hub(reference, hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    hub.add_model("alice/chat", created_at=created(120), tags=finetune_of("fam1/ft0"))
    conf = cfg(reference, hub, tmp_path, post=False)
    report = run_once(conf, now=NOW)
    assert report.dry_run == 1 and report.posted == 0
    assert not hub.requests_to(".*", "POST")
    entries = [json.loads(line) for line in conf.outbox_path.read_text().splitlines()]
    assert [e["model_id"] for e in entries] == ["alice/chat"] and entries[0]["title"] == render.TITLE
    assert render.MARKER_RE.search(entries[0]["body"])
    run_once(conf, now=NOW + timedelta(minutes=10))
    assert len(conf.outbox_path.read_text().splitlines()) == 1  # not rendered twice
    # switching to --post later posts what the dry run only rendered
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    run_once(cfg(reference, hub, tmp_path), now=NOW + timedelta(minutes=20))
    assert list(posts(hub)) == ["alice/chat"]


def new_model_listings(hub) -> list:
    """Requests of the new-model listing (not of one namespace's repos)."""
    return [r for r in hub.requests_to(r"^/api/models$") if "author" not in r.query]


def test_listing_pages_and_high_water_mark(reference, hub, tmp_path):
    hub.page_size = 2
    for i in range(7):
        hub.add_model(f"ns{i}/m", created_at=created(40 + 10 * i), tags=finetune_of(f"fam{i}/ft0"))
    report = run_once(cfg(reference, hub, tmp_path, overlap_minutes=15), now=NOW)
    assert report.listed == 7 and report.posted == 7
    assert len(new_model_listings(hub)) == 4  # 2+2+2+1 via Link headers
    assert BotState(tmp_path / "bot.sqlite").high_water == created(40)
    # a later run re-reads only down to the mark minus the overlap: one page, no re-posts
    hub.requests.clear()
    hub.add_model("new/m", created_at=NOW + timedelta(minutes=1), tags=finetune_of("fam0/ft1"))
    later = run_once(cfg(reference, hub, tmp_path, overlap_minutes=15), now=NOW + timedelta(minutes=45))
    assert later.new == 1 and later.posted == 1
    assert len(new_model_listings(hub)) == 2  # stopped at the mark minus 15 minutes
    assert len(creates(hub)) == 1


def test_settling_and_lineage_arriving_later(reference, hub, tmp_path):
    hub.add_model("alice/late", created_at=created(10))
    conf = cfg(reference, hub, tmp_path)
    assert run_once(conf, now=NOW).waiting["settling"] == 1
    assert run_once(conf, now=NOW + timedelta(minutes=25)).waiting["waiting for lineage"] == 1
    hub.update_model("alice/late", tags=finetune_of("fam5/ft3"))
    report = run_once(conf, now=NOW + timedelta(minutes=90))
    assert report.posted == 1
    assert "fine-tune of [`fam5/ft3`]" in text_of(hub, "alice/late")


def test_no_lineage_after_a_day_posts_only_with_narrow_intervals(reference, hub, tmp_path):
    hub.add_model("alice/orphan", created_at=created(25 * 60))
    hub.add_model("bob/orphan", created_at=created(25 * 60))
    narrow = run_once(cfg(reference, hub, tmp_path, max_interval_width=0.1, allow=("alice",), first_lookback_hours=48),
                      now=NOW)
    assert narrow.skipped["no basis (no evaluated relative, wide intervals)"] == 1
    wide = run_once(cfg(reference, hub, tmp_path / "b", max_interval_width=1e6, allow=("bob",), first_lookback_hours=48),
                    now=NOW)
    assert wide.posted == 1 and list(posts(hub)) == ["bob/orphan"]
    text = hub.discussions("bob/orphan")[0]["events"][0]["data"]["latest"]["raw"]
    assert "none stated on the Hub" in text


# ---------------------------------------------------------------------- opt-outs and existing threads

def test_every_opt_out_path(reference, hub, tmp_path):
    hub.add_model("quiet/closed", created_at=created(200), tags=finetune_of("fam1/ft0"))
    hub.add_model("quiet/other", created_at=created(190), tags=finetune_of("fam1/ft1"))
    hub.add_model("nocomm/repo", created_at=created(180), tags=finetune_of("fam1/ft0"), discussions_disabled=True)
    hub.add_model("blocker/repo", created_at=created(170), tags=finetune_of("fam1/ft0"), blocked=(BOT,))
    hub.add_model("loud/a", created_at=created(160), tags=finetune_of("fam2/ft0"))
    hub.add_model("loud/b", created_at=created(150), tags=finetune_of("fam2/ft1"))
    hub.add_model("allow/x", created_at=created(140), tags=finetune_of("fam2/ft1"))
    conf = cfg(reference, hub, tmp_path, overlap_minutes=600, deny=("allow",))

    first = run_once(conf, now=NOW)
    assert sorted(posts(hub)) == ["loud/a", "quiet/closed"]  # one per namespace per day
    assert first.skipped["forbidden (403): treated as opt-out"] == 2
    assert first.skipped["namespace on the deny list"] == 1
    state = BotState(conf.state)
    assert state.opted_out("nocomm/repo") and state.opted_out("blocker/repo")

    # the owner closes one thread and asks the bot to stop in the other namespace
    hub.close_discussion("quiet/closed", 1, by="quiet")
    hub.add_comment("loud/a", 1, author="loud", text=f"please @{BOT} STOP, thanks")
    hub.requests.clear()
    second = run_once(conf, now=NOW + timedelta(days=1, minutes=5))
    assert second.closed_seen == 1
    assert state.opted_out("loud/b") and "loud" in state.opted_out("loud/b")
    # quiet/other is a new repo in a namespace that only closed one thread: still fine to post once
    assert sorted(posts(hub)) == ["loud/a", "quiet/closed", "quiet/other"]
    assert not any("nocomm" in p or "blocker" in p for p in creates(hub))  # a 403 is remembered
    assert hub.discussions("quiet/closed")[0]["status"] == "closed"  # never reopened


def test_existing_bot_thread_on_the_hub_is_adopted_not_duplicated(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=created(120), tags=finetune_of("fam1/ft0"))
    hub.add_discussion("alice/chat", author=BOT, title=render.TITLE, status="closed")
    hub.add_discussion("alice/chat", author="someone", title="unrelated")
    report = run_once(cfg(reference, hub, tmp_path), now=NOW)
    assert report.adopted == 1 and report.posted == 0 and not creates(hub)
    assert hub.requests_to(r"^/api/models/alice/chat/discussions$")[0].query["author"] == [BOT]
    assert BotState(tmp_path / "bot.sqlite").post("alice/chat").status == "closed"


def test_material_change_is_a_comment_on_an_open_thread_only(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=created(60), tags=finetune_of("fam1/ft0"), sha="a" * 40)
    hub.add_model("bob/chat", created_at=created(50), tags=finetune_of("fam1/ft0"), sha="b" * 40)
    conf = cfg(reference, hub, tmp_path)
    assert run_once(conf, now=NOW).posted == 2
    hub.close_discussion("bob/chat", 1)
    hub.update_model("alice/chat", sha="c" * 40, tags=finetune_of("fam6/ft2"))
    hub.update_model("bob/chat", sha="d" * 40, tags=finetune_of("fam6/ft2"))
    report = run_once(conf, now=NOW + timedelta(minutes=10))
    assert report.commented == 1 and report.posted == 0
    alice = hub.discussions("alice/chat")
    assert len(alice) == 1 and len(alice[0]["events"]) == 2
    assert "fam6/ft2" in alice[0]["events"][1]["data"]["latest"]["raw"]
    bob = hub.discussions("bob/chat")
    assert bob[0]["status"] == "closed" and not any(e["type"] == "comment" and e["author"]["name"] == BOT
                                                    for e in bob[0]["events"][1:])


# ---------------------------------------------------------------------- throttles and faults

def test_throttles_per_run_and_between_posts(reference, hub, tmp_path):
    for ns in ("a", "b", "c"):
        hub.add_model(f"{ns}/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    pauses: list[float] = []
    conf = cfg(reference, hub, tmp_path, max_posts_per_run=2, post_interval=60.0)
    report = run_once(conf, now=NOW, sleep=pauses.append)
    assert report.posted == 2 and report.waiting["post cap of this run"] == 1
    assert len(pauses) == 1 and 0.0 < pauses[0] <= 60.0  # measured from the previous create
    assert run_once(conf, now=NOW + timedelta(minutes=10), sleep=pauses.append).posted == 1
    assert len(posts(hub)) == 3


def test_rate_limit_ends_the_run_and_pauses_until_reset(reference, hub, tmp_path):
    hub.add_model("a/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.rate_limit(r"^/api/models/a/m/discussions$", reset=120, method="POST")
    conf = cfg(reference, hub, tmp_path)
    report = run_once(conf, now=NOW)
    assert report.posted == 0 and report.rate_limited_until and "rate limited" in report.stopped
    hub.requests.clear()
    paused = run_once(conf, now=NOW + timedelta(seconds=60))
    assert "paused" in paused.stopped and hub.requests == []
    assert run_once(conf, now=NOW + timedelta(seconds=200)).posted == 1


def test_server_errors_timeouts_and_bad_answers_are_counted_never_fatal(reference, hub, tmp_path):
    hub.add_model("err/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.add_model("slow/m", created_at=created(55), tags=finetune_of("fam1/ft0"))
    hub.add_model("ok/m", created_at=created(50), tags=finetune_of("fam1/ft0"))
    hub.add_model("bare/m", created_at=None, omit=["createdAt", "tags", "cardData", "author", "sha"])
    hub.inject(r"^/api/models/err/m/discussions$", method="GET", status=500)
    hub.inject(r"^/api/models/slow/m/discussions$", method="GET", status=None, delay=2.0)
    conf = cfg(reference, hub, tmp_path, timeout=0.5)
    report = run_once(conf, now=NOW)
    assert report.errors == 2 and sorted(posts(hub)) == ["ok/m"]
    assert report.waiting["settling"] == 1  # no createdAt: settles from first sight
    # next run: the failures are retried and succeed
    later = run_once(conf, now=NOW + timedelta(minutes=70))
    assert sorted(posts(hub)) == ["err/m", "ok/m", "slow/m"] and later.errors == 0
    # a listing that is not JSON ends the run cleanly with nothing posted
    hub.add_model("new/m", created_at=NOW + timedelta(minutes=60), tags=finetune_of("fam1/ft0"))
    hub.inject(r"^/api/models$", status=200, body=b'[{"id": "new/m", ', times=10)
    broken = run_once(conf, now=NOW + timedelta(minutes=140))
    assert broken.errors == 1 and "unreadable" in broken.stopped and broken.posted == 0


# ---------------------------------------------------------------------- crash safety

def test_crash_between_prediction_and_post_then_restart_posts_exactly_once(reference, hub, tmp_path):
    for ns in ("a", "b", "c"):
        hub.add_model(f"{ns}/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    conf = cfg(reference, hub, tmp_path, post_interval=60.0)

    def crash(_seconds: float) -> None:  # the process dies while pausing before the second post
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_once(conf, now=NOW, sleep=crash)
    assert list(posts(hub)) == ["a/m"]
    logged = {p.model for p in PredictionLog(conf.state).predictions()}
    assert "b/m" in logged  # recorded before the post that never happened

    # the state file is lost as well as the process: the Hub check still prevents duplicates
    conf.state.unlink()
    run_once(conf, now=NOW + timedelta(minutes=5), sleep=lambda s: None)
    assert {k: len(v) for k, v in posts(hub).items()} == {"a/m": 1, "b/m": 1, "c/m": 1}


def test_timed_out_create_that_succeeded_is_adopted_next_run(reference, hub, tmp_path):
    hub.add_model("a/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.inject(r"^/api/models/a/m/discussions$", method="POST", status=None, delay=1.5)
    conf = cfg(reference, hub, tmp_path, timeout=0.5)
    assert run_once(conf, now=NOW).errors == 1
    import time
    time.sleep(1.5)  # the server finishes creating the thread after the client gave up
    report = run_once(conf, now=NOW + timedelta(minutes=70))
    assert report.adopted == 1 and len(hub.discussions("a/m")) == 1


# ---------------------------------------------------------------------- CLI, status, scheduler, secrecy

@pytest.mark.slow  # a subprocess that imports the whole stack
def test_cli_once_status_and_the_token_never_leaks(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=datetime.now(timezone.utc) - timedelta(hours=2),
                  tags=finetune_of("fam1/ft0"))
    hub.add_model("bob/chat", created_at=datetime.now(timezone.utc) - timedelta(hours=2),
                  tags=finetune_of("fam1/ft0"))
    state = tmp_path / "bot.sqlite"
    env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    args = ["--log-level", "DEBUG", "run", "--once", "--endpoint", hub.url, "--ref", str(reference),
            "--state", str(state), "--post-interval", "0"]
    dry = subprocess.run([sys.executable, "-m", "lrmf_bot.cli", *args], env=env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout.splitlines()[-1])["dry_run"] == 2 and not creates(hub)
    done = subprocess.run([sys.executable, "-m", "lrmf_bot.cli", *args, "--post"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(posts(hub)) == ["alice/chat", "bob/chat"]
    status = subprocess.run([sys.executable, "-m", "lrmf_bot.cli", "status", "--state", str(state)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "posted: 2" in status.stdout and "/alice/chat/discussions/1" in status.stdout
    outbox = Path(str(state) + ".outbox.jsonl").read_text()
    for text in (dry.stdout, dry.stderr, done.stdout, done.stderr, status.stdout, outbox, state.read_bytes().decode("latin-1")):
        assert TOKEN not in text
    assert all(TOKEN not in json.dumps(r.headers) for r in hub.requests)
    assert {r.user for r in hub.requests_to(".*", "POST")} == {BOT}


def test_cli_errors_are_one_line(reference, hub, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    code = bot_main(["run", "--once", "--post", "--endpoint", hub.url, "--ref", str(reference),
                     "--state", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --post needs a Hub token") and "\n" not in err
    code = bot_main(["run", "--once", "--ref", str(tmp_path / "nothing"), "--state", str(tmp_path / "s.sqlite")])
    assert code == 2 and "no reference there" in capsys.readouterr().err
    code = bot_main(["status", "--state", str(tmp_path / "missing.sqlite")])
    assert code == 2 and "bot state not found" in capsys.readouterr().err
    assert not hub.requests_to(".*", "POST")


def test_scheduler_runs_at_once_then_on_the_interval(tmp_path):
    ran = threading.Event()
    sched = make_scheduler(BotConfig(ref=tmp_path, state=tmp_path / "s", interval_minutes=10, jitter_seconds=30),
                           ran.set, blocking=False)
    sched.start()
    try:
        assert ran.wait(timeout=10)  # first poll at once, not after one interval
        job = sched.get_job("poll-hub")
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 300
        assert job.trigger.interval == timedelta(minutes=10) and job.trigger.jitter == 30
        assert job.next_run_time > datetime.now(timezone.utc) + timedelta(minutes=9)
    finally:
        sched.shutdown(wait=True)


def test_state_file_is_shared_with_the_prediction_log(reference, hub, tmp_path):
    hub.add_model("alice/chat", created_at=created(120), tags=finetune_of("fam1/ft0"))
    run_once(cfg(reference, hub, tmp_path), now=NOW)
    with sqlite3.connect(tmp_path / "bot.sqlite") as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"predictions", "prediction_scores", "bot_models", "bot_posts", "bot_optouts", "bot_meta"} <= tables
    table = PredictionLog(tmp_path / "bot.sqlite").table()
    assert set(table["model"]) == {"alice/chat"} and table["discussion_url"].notna().all()

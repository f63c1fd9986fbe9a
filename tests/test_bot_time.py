"""Time bounds of a bot run against the fake Hub: no hang, no long sleep, a budget, and exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any, Callable

import pytest

from bot_helpers import BOT, NOW, TOKEN, cfg, created, finetune_of, hub, posts, reference  # noqa: F401

from lrmf_bot.cli import EXIT_PAUSED, EXIT_UNREACHABLE
from lrmf_bot.cli import main as bot_main
from lrmf_bot.poller import run_once
from lrmf_bot.state import BotState
from lrmf_plugin.api import Lrmf


def within(seconds: float, fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()``'s result and wall time; fails (instead of hanging the suite) when it takes longer."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    t = time.monotonic()
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"], time.monotonic() - t


def loaded(reference) -> Lrmf:
    """The reference with its predictor already loaded."""
    lrmf = Lrmf(reference)
    _ = lrmf.predictor
    return lrmf


def test_a_listing_that_never_answers_ends_the_run_within_its_budget(reference, hub, tmp_path):
    hub.add_model("a/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.inject(r"^/api/models$", method="GET", status=None, delay=3600)
    conf = cfg(reference, hub, tmp_path, timeout=30.0, max_run_seconds=2.0)
    lrmf = loaded(reference)  # the budget covers the Hub work only, however busy the machine
    report, elapsed = within(30, lambda: run_once(conf, lrmf=lrmf, now=NOW))
    assert elapsed < 6 and report.outcome == "unreachable"
    assert "did not answer in time" in report.stopped and not posts(hub)


def test_a_slow_listing_is_cut_at_the_request_timeout(reference, hub, tmp_path):
    hub.inject(r"^/api/models$", method="GET", status=None, delay=150)
    report, elapsed = within(30, lambda: run_once(cfg(reference, hub, tmp_path, timeout=1.0), now=NOW))
    assert elapsed < 8 and report.outcome == "unreachable"
    assert len(hub.requests_to(r"^/api/models$")) == 1  # no silent retries of a stalled request


def test_a_long_rate_limit_pauses_without_sleeping(reference, hub, tmp_path):
    hub.add_model("a/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.rate_limit(r"^/api/models$", reset=300, method="GET", times=10)
    slept: list[float] = []
    conf = cfg(reference, hub, tmp_path, max_rate_limit_wait=60.0)
    report, elapsed = within(30, lambda: run_once(conf, now=NOW, sleep=slept.append))
    assert slept == [] and elapsed < 20
    assert report.outcome == "paused" and report.rate_limited_until is not None
    assert BotState(conf.state).paused_until == NOW + timedelta(seconds=300)
    hub.requests.clear()
    again = run_once(conf, now=NOW + timedelta(seconds=200), sleep=slept.append)
    assert again.outcome == "paused" and hub.requests == []  # still paused: not one request


def test_a_short_rate_limit_is_slept_out_once(reference, hub, tmp_path):
    hub.add_model("a/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    hub.rate_limit(r"^/api/models$", reset=5, method="GET")
    slept: list[float] = []
    report = run_once(cfg(reference, hub, tmp_path, max_rate_limit_wait=60.0), now=NOW, sleep=slept.append)
    assert slept == [6.0] and report.outcome == "done" and list(posts(hub)) == ["a/m"]


def test_the_run_budget_defers_the_rest_to_the_next_run(reference, hub, tmp_path):
    for ns in "abcdef":
        hub.add_model(f"{ns}/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
        hub.inject(rf"^/api/models/{ns}/m/discussions$", method="GET", status=None, delay=0.6, times=1)
    conf = cfg(reference, hub, tmp_path, max_run_seconds=2.0)
    first = run_once(conf, lrmf=loaded(reference), now=NOW)
    assert first.outcome == "done" and "time budget" in first.stopped
    assert first.deferred > 0 and len(posts(hub)) < 6
    later = run_once(cfg(reference, hub, tmp_path), now=NOW + timedelta(minutes=10))
    assert later.outcome == "done" and len(posts(hub)) == 6


def test_exit_codes_tell_done_paused_and_unreachable_apart(reference, hub, tmp_path, capsys):
    hub.add_model("a/m", created_at=created(60), tags=finetune_of("fam1/ft0"))
    args = ["run", "--once", "--post", "--endpoint", hub.url, "--ref", str(reference), "--post-interval", "0"]
    assert bot_main([*args, "--state", str(tmp_path / "done.sqlite")]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "done"
    hub.rate_limit(r"^/api/models$", reset=3000, method="GET", times=10)
    assert bot_main([*args, "--state", str(tmp_path / "paused.sqlite")]) == EXIT_PAUSED
    assert capsys.readouterr().err.startswith("paused: rate limited")
    hub.faults.clear()
    hub.inject(r"^/api/models$", method="GET", status=503, times=10)
    assert bot_main([*args, "--state", str(tmp_path / "down.sqlite")]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: could not reach the Hub") and "\n" not in err


@pytest.mark.slow  # a subprocess that imports the whole stack
def test_cli_against_a_listing_that_never_answers_ends_with_one_line(reference, hub, tmp_path):
    hub.inject(r"^/api/models$", method="GET", status=None, delay=3600)
    env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "lrmf_bot.cli", "run", "--once", "--post", "--endpoint", hub.url,
                           "--ref", str(reference), "--state", str(tmp_path / "s.sqlite"), "--max-run-seconds", "10"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t < 60  # start-up (imports) plus the 10 s budget, which includes loading the predictor
    assert proc.returncode == EXIT_UNREACHABLE
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: could not reach the Hub"), proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr and BOT not in proc.stderr


def test_a_listing_of_things_that_are_not_models_ends_the_run_cleanly(reference, hub, tmp_path):
    hub.inject(r"^/api/models$", method="GET", status=200, body=[1, {"no": "id"}], times=10)
    report = run_once(cfg(reference, hub, tmp_path), now=NOW)
    assert report.outcome == "unreachable" and "unreadable" in report.stopped


def test_a_budget_that_cannot_be_met_is_a_one_line_error(reference, hub, tmp_path, capsys):
    for flag in ("--max-run-seconds", "--scan-limit", "--max-rate-limit-wait"):
        code = bot_main(["run", "--once", "--endpoint", hub.url, "--ref", str(reference),
                         "--state", str(tmp_path / "s.sqlite"), flag, "-1"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error: --max-run-seconds and --scan-limit must be positive")
    assert not hub.requests

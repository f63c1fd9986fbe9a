"""The ``lrmf-bot`` console script: ``run`` (scheduled), ``run --once`` (cron, tests) and ``status``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from lrmf_plugin.cli import dispatch
from lrmf_plugin.commands import reference_dir
from lrmf_plugin.errors import LrmfError, ReferenceStoreError

from .config import DEFAULT_SPACE_URL, BotConfig
from .state import BotState

log = logging.getLogger("lrmf_bot")

#: ``run --once`` exit codes beside 0 (done) and 2 (bad configuration), as in ``sysexits.h``:
#: a rate limit paused the bot (try again after the reset) / the Hub could not be read
EXIT_PAUSED, EXIT_UNREACHABLE = 75, 69
#: how long past ``--max-run-seconds`` a run may take to end on its own before ``--once`` gives up on it
_GRACE_SECONDS = 5.0


def _namespaces(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrmf-bot", allow_abbrev=False,
                                     description="Post predicted benchmark scores of new Hub models as one "
                                                 "discussion per repo (dry run unless --post).")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    defaults = BotConfig(ref=Path("."), state=Path("."))

    run = sub.add_parser("run", help="poll the Hub every --interval-minutes (first poll at once)")
    run.add_argument("--once", action="store_true", help="poll once and exit (for cron and tests)")
    run.add_argument("--endpoint", default=None, help="Hub URL (default $HF_ENDPOINT or https://huggingface.co)")
    run.add_argument("--ref", type=Path, default=None, metavar="DIR",
                     help="fitted reference directory (default $LRMF_REF or the user cache)")
    run.add_argument("--state", type=Path, required=True, metavar="PATH",
                     help="SQLite file for the bot's state and prediction log (shared with the Space)")
    run.add_argument("--post", action="store_true",
                     help="really open discussions (needs HF_TOKEN); without it rendered posts go to the outbox")
    run.add_argument("--outbox", type=Path, default=None, metavar="PATH",
                     help="dry-run output, JSON lines (default <state>.outbox.jsonl)")
    run.add_argument("--min-age-minutes", type=float, default=defaults.min_age_minutes,
                     help="settling delay before a new model is considered (%(default)s)")
    run.add_argument("--max-posts-per-run", type=int, default=defaults.max_posts_per_run)
    run.add_argument("--post-interval", type=float, default=defaults.post_interval, metavar="SECONDS",
                     help="pause between two new discussions (%(default)s)")
    run.add_argument("--allow", type=_namespaces, action="extend", default=[], metavar="NS[,NS]",
                     help="only post to these namespaces (repeatable)")
    run.add_argument("--deny", type=_namespaces, action="extend", default=[], metavar="NS[,NS]",
                     help="never post to these namespaces (repeatable)")
    run.add_argument("--max-interval-width", type=float, default=defaults.max_interval_width,
                     help="post a model without evaluated relatives only if its mean 90%% interval is "
                          "narrower than this (%(default)s points)")
    run.add_argument("--interval-minutes", type=float, default=defaults.interval_minutes)
    run.add_argument("--space-url", default=DEFAULT_SPACE_URL, help="track-record link in every post")
    run.add_argument("--bot-user", default=None, help="the bot's Hub account (default: whoami)")
    run.add_argument("--scan-limit", type=int, default=defaults.scan_limit,
                     help="most models read from the listing per run; the rest is read next run (%(default)s)")
    run.add_argument("--max-run-seconds", type=float, default=defaults.max_run_seconds,
                     help="wall-clock budget of one run (%(default)s)")
    run.add_argument("--max-rate-limit-wait", type=float, default=defaults.max_rate_limit_wait, metavar="SECONDS",
                     help="sleep out a 429 whose reset is at most this; a longer one pauses the bot (%(default)s)")
    run.set_defaults(func=_run)

    status = sub.add_parser("status", help="what the bot has seen, posted, skipped and why")
    status.add_argument("--state", type=Path, required=True, metavar="PATH")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    return parser


def config_from_args(args: argparse.Namespace) -> BotConfig:
    ref = reference_dir(args.ref)
    if not (ref / "reference.sqlite").is_file():
        raise ReferenceStoreError(f"{ref}: no reference there (pull a fitted one with `lm-eval-predict reference "
                                  "pull --fitted ORG/NAME --ref DIR`)")
    return BotConfig(ref=ref, state=args.state, endpoint=args.endpoint, post=args.post, outbox=args.outbox,
                     bot_user=args.bot_user, space_url=args.space_url, min_age_minutes=args.min_age_minutes,
                     max_posts_per_run=args.max_posts_per_run, post_interval=args.post_interval,
                     allow=tuple(args.allow), deny=tuple(args.deny), max_interval_width=args.max_interval_width,
                     scan_limit=args.scan_limit, interval_minutes=args.interval_minutes,
                     max_run_seconds=args.max_run_seconds, max_rate_limit_wait=args.max_rate_limit_wait)


def make_scheduler(cfg: BotConfig, job: Callable[[], Any], *, blocking: bool = True) -> Any:
    """An APScheduler 3.x scheduler running ``job`` every ``cfg.interval_minutes``, first run at once.

    One instance at a time, missed runs coalesced, a late wake-up (pause, GC) still runs within
    five minutes, and jitter spreads the load on the Hub.
    """
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    cls = BlockingScheduler if blocking else BackgroundScheduler
    sched = cls(timezone=timezone.utc,
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    sched.add_job(job, IntervalTrigger(minutes=cfg.interval_minutes, jitter=cfg.jitter_seconds), id="poll-hub",
                  replace_existing=True, next_run_time=datetime.now(timezone.utc))
    sched.add_listener(lambda event: log.warning("scheduler: %s", event),
                       EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    return sched


def _run(args: argparse.Namespace) -> int:
    from .poller import run_once

    cfg = config_from_args(args)
    if cfg.max_run_seconds <= 0 or cfg.scan_limit <= 0 or cfg.max_rate_limit_wait < 0:
        raise LrmfError("--max-run-seconds and --scan-limit must be positive, --max-rate-limit-wait not negative")
    if args.once:
        return _once(cfg, run_once)

    def job() -> None:
        try:
            report = run_once(cfg)
            log.info("run report %s", json.dumps(report.as_dict(), sort_keys=True))
            if report.stopped:
                log.warning("run stopped early (%s): %s", report.outcome, report.stopped)
        except LrmfError as exc:  # e.g. the reference was replaced mid-flight: try again next time
            log.error("run failed: %s", exc)

    sched = make_scheduler(cfg, job)
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        sched.shutdown(wait=True)
    return 0


def _once(cfg: BotConfig, run_once: Callable[[BotConfig], Any]) -> int:
    """One run under a watchdog: the run's own budget ends it in time; the watchdog covers a call that hangs."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["report"] = run_once(cfg)
        except BaseException as exc:  # handed to the main thread, which reports it
            result["error"] = exc

    # a daemon thread: if the Hub never answers, leaving the process ends it (every step is crash-safe)
    worker = threading.Thread(target=target, name="lrmf-bot-run", daemon=True)
    worker.start()
    worker.join(cfg.max_run_seconds + _GRACE_SECONDS)
    if worker.is_alive():
        print(f"error: could not reach the Hub: the run did not finish within --max-run-seconds "
              f"({cfg.max_run_seconds:g} s)", file=sys.stderr)
        return EXIT_UNREACHABLE
    if "error" in result:
        raise result["error"]
    report = result["report"]
    print(json.dumps(report.as_dict(), sort_keys=True))
    if report.outcome == "paused":
        print(f"paused: {report.stopped}", file=sys.stderr)
        return EXIT_PAUSED
    if report.outcome == "unreachable":
        print(f"error: could not reach the Hub: {report.stopped}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return 0


def _status(args: argparse.Namespace) -> int:
    state = BotState(args.state, create=False)
    last = state.last_run()
    data = {"high_water": state.get_meta("high_water"), "paused_until": state.get_meta("paused_until"),
            "listing_backlog": [{"from": s["stop_at"], "to": s["below"]} for s in state.backlog()],
            "models": state.counts(),
            "posts": [{"model": p.model, "discussion": p.discussion_url, "status": p.status,
                       "posted_at": p.posted_at.isoformat(), "adopted": p.adopted} for p in state.posts()],
            "optouts": [{"scope": s, "name": n, "reason": r, "since": t} for s, n, r, t in state.optouts()],
            "last_run": {"started_at": last[0], **last[1]} if last else None}
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(f"high-water mark: {data['high_water'] or '-'}" + (
        f"   paused until {data['paused_until']}" if data["paused_until"] else ""))
    for window in data["listing_backlog"]:
        print(f"not read yet: models created {window['from'][:16]} .. {window['to'][:16]} (next run)")
    for st in ("pending", "dry-run", "posted", "skipped"):
        reasons = data["models"].get(st, {})
        print(f"{st}: {sum(reasons.values())}")
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            if reason:
                print(f"  {n:>5}  {reason}")
    print(f"discussions: {len(data['posts'])}")
    for p in data["posts"][:20]:
        print(f"  {p['posted_at'][:16]}  {p['status']:<6} {p['discussion']}" + ("  (found on the Hub)" if p["adopted"] else ""))
    print(f"opt-outs: {len(data['optouts'])}")
    for o in data["optouts"]:
        print(f"  {o['scope']:<9} {o['name']}: {o['reason']}")
    if last:
        r = last[1]
        print(f"last run {last[0]} ({r.get('outcome', 'done')}): listed {r['listed']}, new {r['new']}, "
              f"posted {r['posted']}, dry-run {r['dry_run']}, deferred {r.get('deferred', 0)}, errors {r['errors']}"
              + (f"; stopped: {r['stopped']}" if r["stopped"] else ""))
        for entry in r.get("withheld", []) + r.get("held", []):
            print(f"  not posted: {entry['model']}: {entry['reason']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    return dispatch(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

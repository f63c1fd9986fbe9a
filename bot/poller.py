"""One poll of the Hub: discover new models, settle, predict, record, post at most once per repo.

:func:`run_once` is a plain function (the scheduler in :mod:`lrmf_bot.cli` only calls it), so every
rule is tested directly against the fake Hub. Order matters for crash safety: the prediction is
recorded before anything is posted, and before every post the Hub itself is asked whether a bot
thread already exists, so a crash at any point followed by a restart posts exactly once.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from lrmf_plugin.errors import HubError, HubForbidden, HubNotFound, HubRateLimited
from lrmf_plugin.hub import (MODEL_EXPAND, REPO_ID_RE, connect, hub_call, lineage_from_model_info,
                             metadata_from_model_info)
from lrmf_plugin.schema import ModelQuery, Prediction
from lrmf_plugin.track_record import PredictionLog

from . import render
from .config import OPT_OUT_TAG, BotConfig
from .state import BotState, Candidate, iso

log = logging.getLogger("lrmf_bot")


@dataclass
class RunReport:
    """Counters of one run, logged as JSON and kept in the state file."""

    started_at: str
    listed: int = 0
    new: int = 0
    considered: int = 0
    predicted: int = 0
    posted: int = 0
    dry_run: int = 0
    adopted: int = 0
    commented: int = 0
    closed_seen: int = 0
    errors: int = 0
    api_calls: int = 0
    skipped: Counter = field(default_factory=Counter)
    waiting: Counter = field(default_factory=Counter)
    rate_limited_until: str | None = None
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"], d["waiting"] = dict(self.skipped), dict(self.waiting)
        return d


class _StopRun(Exception):
    """End the run cleanly (rate limit, post cap)."""


class Poller:
    """State for one run: the client, the store, the predictor, the clock. Use :func:`run_once`."""

    def __init__(self, cfg: BotConfig, api: Any, lrmf: Any, now: datetime, sleep: Callable[[float], None]):
        self.cfg, self.api, self.lrmf, self.now, self.sleep = cfg, api, lrmf, now, sleep
        self.state = BotState(cfg.state)
        self.log = PredictionLog(cfg.state)
        self.report = RunReport(started_at=iso(now))
        self.site = (cfg.site_url or api.endpoint).rstrip("/")
        self.user = cfg.bot_user or "lrmf-bot"
        self.listed: dict[str, Any] = {}
        self._last_create: float | None = None
        self._evaluated: set[str] | None = None

    # ------------------------------------------------------------------ Hub calls
    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """One Hub call; a 429 ends the run (remembering when to resume), other failures raise HubError."""
        self.report.api_calls += 1
        try:
            with hub_call(what):
                return fn()
        except HubRateLimited as exc:
            wait = exc.reset_in if exc.reset_in is not None else 300.0
            until = self.now + timedelta(seconds=wait)
            self.state.set_meta("paused_until", iso(until))
            self.report.rate_limited_until = iso(until)
            raise _StopRun(f"rate limited ({what}); resuming after {iso(until)}") from None

    # ------------------------------------------------------------------ 1. discover
    def discover(self) -> None:
        """Read the newest text-generation models down to the high-water mark (minus an overlap)."""
        hw = self.state.high_water
        stop_at = (hw - timedelta(minutes=self.cfg.overlap_minutes) if hw
                   else self.now - timedelta(hours=self.cfg.first_lookback_hours))
        rows, newest = [], None

        def listing() -> None:
            nonlocal newest
            for info in self.api.list_models(sort="created_at", pipeline_tag="text-generation",
                                             expand=MODEL_EXPAND, limit=self.cfg.scan_limit):
                created = info.created_at
                if created is not None and created < stop_at:
                    break
                self.listed[info.id] = info
                rows.append((info.id, created, info.sha))
                if created is not None and (newest is None or created > newest):
                    newest = created

        try:
            self.call("listing new models", listing)
        finally:
            # what was read is kept either way; the mark only moves after a complete listing, so a
            # listing that broke off is read again from the same point next time
            self.report.listed = len(rows)
            self.report.new = self.state.add_candidates(rows, self.now)
        if newest is not None:
            self.state.advance_high_water(newest)

    # ------------------------------------------------------------------ 2. sweep open threads
    def sweep(self) -> None:
        """Note closed bot threads and ``@bot stop`` replies (namespace opt-out)."""
        every = timedelta(minutes=self.cfg.sweep_minutes)
        for post in self.state.to_sweep(self.now, every, self.cfg.sweep_limit):
            try:
                details = self.call(f"reading {post.model} discussion #{post.discussion_num}",
                                    lambda p=post: self.api.get_discussion_details(p.model, p.discussion_num))
            except HubNotFound:
                self.state.set_post(post.model, self.now, status="closed")
                continue
            except HubError as exc:
                self._error(post.model, exc)
                continue
            command = f"@{self.user} stop".lower()
            for event in details.events:
                if (getattr(event, "type", None) == "comment" and event.author != self.user
                        and command in (getattr(event, "content", "") or "").lower()):
                    self.state.opt_out("namespace", post.namespace, f"{event.author} asked to stop", self.now)
            if details.status != "open":
                self.report.closed_seen += 1
            self.state.set_post(post.model, self.now, status=details.status)

    # ------------------------------------------------------------------ 3. candidates
    def process(self) -> None:
        states = ("pending", "dry-run") if self.cfg.post else ("pending",)
        for cand in self.state.due(self.now, states):
            self.report.considered += 1
            try:
                self.consider(cand)
            except HubError as exc:
                self._error(cand.model, exc, cand)
        self.follow_up()

    def _skip(self, model: str, reason: str) -> None:
        self.report.skipped[reason] += 1
        self.state.update(model, self.now, state="skipped", reason=reason, checked=True)

    def _wait(self, model: str, reason: str, until: datetime, checked: bool = True) -> None:
        self.report.waiting[reason] += 1
        self.state.update(model, self.now, reason=reason, next_check=until, checked=checked)

    def _error(self, model: str, exc: HubError, cand: Candidate | None = None) -> None:
        self.report.errors += 1
        log.warning("%s: %s", model, exc)
        if cand is None:
            return
        if cand.errors + 1 >= self.cfg.max_errors:
            self._skip(model, "repeated Hub errors")
        else:
            self.state.update(model, self.now, reason=f"Hub error: {exc}", error=True,
                              next_check=self.now + timedelta(minutes=self.cfg.recheck_minutes))

    def _namespace_rule(self, model: str) -> str | None:
        ns = model.split("/")[0]
        if ns in self.cfg.deny:
            return "namespace on the deny list"
        if self.cfg.allow and ns not in self.cfg.allow:
            return "namespace not on the allow list"
        return self.state.opted_out(model)

    def info(self, model: str) -> Any:
        """This run's listing entry when it has one (no extra call), else a fresh ``model_info``."""
        if model in self.listed:
            return self.listed[model]
        return self.call(f"reading {model}", lambda: self.api.model_info(model, expand=MODEL_EXPAND,
                                                                         timeout=self.cfg.timeout))

    def consider(self, cand: Candidate) -> None:
        model = cand.model
        if "/" not in model or not REPO_ID_RE.match(model):
            return self._skip(model, "not a model id")
        rule = self._namespace_rule(model)
        if rule:
            return self._skip(model, rule)
        try:
            info = self.info(model)
        except HubNotFound:
            return self._skip(model, "gone or private")
        except HubForbidden:
            return self._skip(model, "disabled")
        reason = self._repo_rule(info)
        if reason:
            return self._skip(model, reason)
        created = info.created_at or cand.created_at or cand.first_seen
        age = self.now - created
        settle = timedelta(minutes=self.cfg.min_age_minutes)
        if age < settle:
            return self._wait(model, "settling", created + settle, checked=False)
        parents = lineage_from_model_info(info)
        if not parents and age < timedelta(hours=self.cfg.recheck_hours):
            return self._wait(model, "waiting for lineage", self.now + timedelta(minutes=self.cfg.recheck_minutes))
        if model in self.evaluated():
            return self._skip(model, "already evaluated in the reference")

        predictions, relatives, pid = self.predict(model, info, parents)
        width = sum(p.upper - p.lower for p in predictions) / max(len(predictions), 1)
        if not relatives and width > self.cfg.max_interval_width:
            return self._skip(model, "no basis (no evaluated relative, wide intervals)")
        self.publish(model, info, predictions, parents, relatives, pid)

    def _repo_rule(self, info: Any) -> str | None:
        if info.private:
            return "private"
        if info.disabled:
            return "disabled"
        if info.gated:
            return "gated"
        if info.pipeline_tag not in (None, "text-generation"):
            return "not text-generation"
        card_tags = (getattr(info.card_data, "tags", None) if info.card_data is not None else None) or []
        if OPT_OUT_TAG in (info.tags or []) or OPT_OUT_TAG in card_tags:
            return "opt-out tag on the card"
        if (info.author or info.id.split("/")[0]) == self.user:
            return "the bot's own model"
        return None

    # ------------------------------------------------------------------ 4. predict and record
    def evaluated(self) -> set[str]:
        if self._evaluated is None:
            self._evaluated = set(self.lrmf.reference.scores()["model"])
        return self._evaluated

    def relatives(self, parents: list[tuple[str, str]]) -> list[str]:
        """Evaluated models among the parents and their close relatives, closest first."""
        evaluated = self.evaluated()
        graph = self.lrmf.lineage()
        found: dict[str, float] = {}
        for parent, _ in parents:
            if parent in evaluated:
                found[parent] = 1.0
            if parent in graph:
                for other, w in graph.relatives(parent, max_hops=2, among=evaluated).items():
                    found[other] = max(found.get(other, 0.0), 0.5 * w)
        return sorted(found, key=lambda m: (-found[m], m))

    def predict(self, model: str, info: Any, parents: list[tuple[str, str]]) -> tuple[list[Prediction], list[str], int]:
        metadata = metadata_from_model_info(info)
        predictions = self.shown(self.lrmf.predict([ModelQuery(model=model, metadata=metadata, parents=parents)]))
        relatives = self.relatives(parents)
        pid = self.log.record(model, predictions, predictor=self.predictor_name(), parents=parents,
                              revision=info.sha, inputs={"metadata": metadata, "created_at": info.created_at,
                                                         "relatives": relatives[:10], "source": "lrmf-bot"})
        self.report.predicted += 1
        self.state.update(model, self.now, prediction_id=pid, sha=info.sha, reason="predicted")
        return predictions, relatives, pid

    def predictor_name(self) -> str:
        return f"{getattr(self.lrmf.predictor, 'name', type(self.lrmf.predictor).__name__)}@{self.lrmf.reference.fingerprint()}"

    def shown(self, predictions: list[Prediction]) -> list[Prediction]:
        """Score-level benchmarks only (what the leaderboard shows), when the reference has them."""
        scored = {b for b, info in self.lrmf.reference.benchmarks().items() if info.has_scores}
        keep = [p for p in predictions if p.benchmark in scored]
        return keep or predictions

    # ------------------------------------------------------------------ 5. post
    def existing_thread(self, model: str) -> Any:
        """The bot's discussion on ``model`` on the Hub (any status), or None."""
        def first() -> Any:
            return next(iter(self.api.get_repo_discussions(model, author=self.user)), None)
        return self.call(f"checking {model} for an earlier bot thread", first)

    def publish(self, model: str, info: Any, predictions: list[Prediction], parents: list[tuple[str, str]],
                relatives: list[str], pid: int) -> None:
        ns = model.split("/")[0]
        last = self.state.last_post_in(ns)
        spacing = timedelta(days=1) / max(self.cfg.namespace_per_day, 1)
        if last is not None and self.now - last < spacing:
            return self._wait(model, "namespace posted to today", last + spacing, checked=False)
        if self.report.posted + self.report.dry_run >= self.cfg.max_posts_per_run:
            return self._wait(model, "post cap of this run", self.now, checked=False)
        try:
            existing = self.existing_thread(model)
        except HubForbidden:
            self.state.opt_out("repo", model, "the Hub refused to list its discussions (403)", self.now)
            return self._skip(model, "forbidden (403): treated as opt-out")
        if existing is not None:
            self.adopt(model, existing, pid, info.sha)
            return None
        title = render.TITLE
        body = render.body(model, info.sha, predictions, parents, relatives, bot_user=self.user, site=self.site,
                           space_url=self.cfg.space_url)
        if not self.cfg.post:
            with open(self.cfg.outbox_path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"model_id": model, "title": title, "body": body,
                                      "would_post_at": iso(self.now)}) + "\n")
            self.report.dry_run += 1
            self.state.update(model, self.now, state="dry-run", reason="rendered to the outbox (dry run)")
            return None
        if self._last_create is not None:
            pause = self.cfg.post_interval - (time.monotonic() - self._last_create)
            if pause > 0:
                self.sleep(pause)
        self._last_create = time.monotonic()
        try:
            d = self.call(f"opening a discussion on {model}",
                          lambda: self.api.create_discussion(model, title, description=body))
        except HubForbidden:
            self.state.opt_out("repo", model, "the Hub refused the post (403)", self.now)
            return self._skip(model, "forbidden (403): treated as opt-out")
        except HubNotFound:
            return self._skip(model, "gone or private")
        url = f"{self.site}/{model}/discussions/{d.num}"
        self.state.record_post(model, d.num, url, d.status, self.now, self.now, adopted=False, prediction_id=pid,
                               sha=info.sha)
        self.log.set_discussion(pid, url)
        self.report.posted += 1
        log.info("posted %s", url)
        return None

    def adopt(self, model: str, thread: Any, pid: int | None, sha: str | None) -> None:
        """A bot thread already exists on the Hub (earlier crash, lost state): never post a second one."""
        url = f"{self.site}/{model}/discussions/{thread.num}"
        self.state.record_post(model, thread.num, url, thread.status, thread.created_at or self.now, self.now,
                               adopted=True, prediction_id=pid, sha=sha)
        if pid is not None:
            self.log.set_discussion(pid, url)
        self.report.adopted += 1

    # ------------------------------------------------------------------ 6. follow-ups
    def follow_up(self) -> None:
        """A posted model listed again with a new revision: comment once if the prediction moved materially."""
        if not self.cfg.post:
            return
        for model, info in self.listed.items():
            post = self.state.post(model)
            if post is None or post.status != "open" or not info.sha or info.sha == post.sha:
                continue
            if self.report.posted + self.report.commented >= self.cfg.max_posts_per_run:
                return
            try:
                self.comment_if_changed(model, info, post)
            except HubError as exc:
                self._error(model, exc)

    def comment_if_changed(self, model: str, info: Any, post: Any) -> None:
        parents = lineage_from_model_info(info)
        old = self.log.latest(model)
        predictions, _, pid = self.predict(model, info, parents)
        self.state.set_post(model, self.now, sha=info.sha)
        before = {p.benchmark: p.predicted for p in (old.scores if old else [])}
        moved = max((abs(p.predicted - before.get(p.benchmark, p.predicted)) for p in predictions), default=0.0)
        lineage_changed = old is None or sorted(map(tuple, old.parents)) != sorted(parents)
        if moved < self.cfg.material_change and not lineage_changed:
            return
        details = self.call(f"reading {model} discussion #{post.discussion_num}",
                            lambda: self.api.get_discussion_details(model, post.discussion_num))
        if details.status != "open":  # closed means never again, not even a comment
            self.state.set_post(model, self.now, status=details.status)
            return
        self.call(f"commenting on {model}", lambda: self.api.comment_discussion(
            model, post.discussion_num, render.change_comment(predictions, parents, site=self.site)))
        self.state.set_post(model, self.now, prediction_id=pid)
        self.log.set_discussion(pid, post.discussion_url)
        self.report.commented += 1


def run_once(cfg: BotConfig, *, api: Any = None, lrmf: Any = None, now: datetime | None = None,
             sleep: Callable[[float], None] = time.sleep) -> RunReport:
    """One poll. ``api``, ``lrmf``, ``now`` and ``sleep`` default to the real ones (tests pass a clock).

    Raises :class:`LrmfError` only for configuration problems (no reference, ``--post`` without a
    token); Hub trouble is counted in the report and ends the run cleanly.
    """
    from huggingface_hub import get_token

    now = now or datetime.now(timezone.utc)
    if cfg.post and not get_token():
        raise HubError("--post needs a Hub token: set HF_TOKEN or log in with `hf auth login`")
    if lrmf is None:
        from lrmf_plugin.api import Lrmf

        lrmf = Lrmf(cfg.ref)
        _ = lrmf.predictor  # load it now: NotFittedError before any Hub request
    api = api or connect(cfg.endpoint, timeout=cfg.timeout)
    poller = Poller(cfg, api, lrmf, now, sleep)
    report = poller.report
    paused = poller.state.paused_until
    try:
        if paused is not None and now < paused:
            raise _StopRun(f"paused after a rate limit until {iso(paused)}")
        if cfg.bot_user is None and get_token():
            poller.user = poller.call("whoami", lambda: api.whoami()["name"])
        poller.discover()
        poller.sweep()
        poller.process()
    except _StopRun as stop:
        report.stopped = str(stop)
        log.warning("run stopped early: %s", stop)
    except HubError as exc:  # the listing itself failed: nothing to do until the next run
        report.errors += 1
        report.stopped = str(exc)
        log.warning("run stopped early: %s", exc)
    poller.state.record_run(now, report.as_dict())
    log.info("run report %s", json.dumps(report.as_dict(), sort_keys=True))
    return report


__all__ = ["RunReport", "run_once", "Poller"]

"""One poll of the Hub: discover new models, settle, predict, record, post at most once per repo.

:func:`run_once` is a plain function (the scheduler in :mod:`lrmf_bot.cli` only calls it), so every
rule is tested directly against the fake Hub. Order matters for crash safety: the prediction is
recorded before anything is posted, and before every post the Hub itself is asked whether a bot
thread already exists, so a crash at any point followed by a restart posts exactly once. Every
write (new thread, follow-up comment) passes the one eligibility gate, :meth:`Poller.gate`.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from lrmf_plugin.errors import HubError, HubForbidden, HubNotFound
from lrmf_plugin.eval_results import SUITE as EVAL_RESULTS_SUITE
from lrmf_plugin.hub import MODEL_EXPAND, REPO_ID_RE, connect, lineage_from_model_info, metadata_from_model_info
from lrmf_plugin.schema import ModelQuery, Prediction
from lrmf_plugin.track_record import PredictionLog

from . import render
from .checks import HELD, Checks
from .config import BotConfig
from .followups import FollowUps
from .gate import namespace_rule, repo_rule
from .listing import Discovery
from .measured import reread_measured
from .optouts import OptOuts
from .session import HubSession, StopRun
from .state import BotState, Candidate, iso

if TYPE_CHECKING:
    from lrmf_plugin.api import Lrmf

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
    acknowledged: int = 0
    ignored_stops: int = 0
    errors: int = 0
    api_calls: int = 0
    deferred: int = 0                     #: candidates left for a later run (post cap, time budget)
    measured_checked: int = 0             #: predicted models whose evaluation results were read again
    measured: int = 0                     #: measured scores of predicted benchmarks recorded
    skipped: Counter = field(default_factory=Counter)
    waiting: Counter = field(default_factory=Counter)
    withheld: list = field(default_factory=list)   #: predicted but never to be posted, and why
    held: list = field(default_factory=list)       #: predicted, not posted now, looked at again later
    listing_backlog: list = field(default_factory=list)  #: creation-time windows not read yet
    rate_limited_until: str | None = None
    stopped: str | None = None
    outcome: str = "done"                 #: ``done``, ``paused`` (a rate limit) or ``unreachable`` (the Hub)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"], d["waiting"] = dict(self.skipped), dict(self.waiting)
        return d


class Poller(FollowUps):
    """State for one run: the Hub session, the store, the predictor, the clock. Use :func:`run_once`."""

    def __init__(self, cfg: BotConfig, api: Any, lrmf: "Lrmf", now: datetime, sleep: Callable[[float], None],
                 started: float | None = None):
        self.cfg, self.api, self.lrmf, self.now, self.sleep = cfg, api, lrmf, now, sleep
        self.state = BotState(cfg.state)
        self.log = PredictionLog(cfg.state)
        self.report = RunReport(started_at=iso(now))
        self.session = HubSession(cfg, api, self.state, self.report, now, sleep, started)
        self.call = self.session.call
        self.site = (cfg.site_url or api.endpoint).rstrip("/")
        self.user = cfg.bot_user or "lrmf-bot"
        self.listed: dict[str, Any] = {}
        self.checks = Checks(lrmf, self.session)
        self._optouts: OptOuts | None = None
        self._last_create: float | None = None
        self._evaluated: set[str] | None = None

    @property
    def optouts(self) -> OptOuts:
        if self._optouts is None:  # after ``whoami``: the bot's own comments are not stop requests
            self._optouts = OptOuts(self.session, self.user, self.now)
        return self._optouts

    # ------------------------------------------------------------------ 1. discover
    def discover(self) -> None:
        """Read the newest text-generation models (and any unfinished earlier listing) within the scan limit."""
        found = Discovery(self.session, self.now)
        try:
            found.run()
        finally:
            self.listed.update(found.listed)

    # ------------------------------------------------------------------ 2. the one gate for every write
    def gate(self, model: str, info: Any, write: str) -> str | None:
        """Why the bot must not write to ``model`` now (``write`` is ``"thread"`` or ``"comment"``), or None.

        Deny/allow lists, local repo and namespace opt-outs, the repo's own state (private, gated,
        disabled, the opt-out tag, the bot's own model) and, before a new thread, the stop requests
        in the bot's threads of that namespace on the Hub.
        """
        reason = namespace_rule(self.cfg, self.state, model) or repo_rule(info, self.user)
        if reason is None and write == "thread":
            self.optouts.refresh_namespace(model.split("/")[0])
            reason = self.state.opted_out(model)
        return reason

    # ------------------------------------------------------------------ 3. candidates
    def process(self) -> None:
        states = ("pending", "dry-run") if self.cfg.post else ("pending",)
        due = self.state.due(self.now, states)
        for i, cand in enumerate(due):
            self.report.considered += 1
            try:
                self.consider(cand)
            except HubError as exc:
                self._error(cand.model, exc, cand)
            except StopRun:
                self.report.deferred += len(due) - i
                raise

    def _skip(self, model: str, reason: str, counted_as: str | None = None) -> None:
        self.report.skipped[counted_as or reason] += 1
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

    def info(self, model: str) -> Any:
        """This run's listing entry when it has one (no extra call), else a fresh ``model_info``."""
        if model in self.listed:
            return self.listed[model]
        return self.call(f"reading {model}", lambda: self.api.model_info(model, expand=MODEL_EXPAND,
                                                                         timeout=self.session.timeout()))

    def consider(self, cand: Candidate) -> None:
        model = cand.model
        if "/" not in model or not REPO_ID_RE.match(model):
            return self._skip(model, "not a model id")
        rule = namespace_rule(self.cfg, self.state, model)
        if rule:
            return self._skip(model, rule)
        try:
            info = self.info(model)
        except HubNotFound:
            return self._skip(model, "gone or private")
        except HubForbidden:
            return self._skip(model, "disabled")
        reason = repo_rule(info, self.user)
        if reason:
            return self._skip(model, reason)
        created = info.created_at or cand.created_at or cand.first_seen
        settle = timedelta(minutes=self.cfg.min_age_minutes)
        if self.now - created < settle:
            return self._wait(model, "settling", created + settle, checked=False)
        parents = lineage_from_model_info(info)
        if not parents and self.now - created < timedelta(hours=self.cfg.recheck_hours):
            return self._wait(model, "waiting for lineage", self.now + timedelta(minutes=self.cfg.recheck_minutes))
        if model in self.evaluated():
            return self._skip(model, "already evaluated in the reference")
        if self._cap_wait(model):  # before predicting: a model waiting for the cap is predicted once
            return None
        reason = self.gate(model, info, "thread")
        if reason:
            return self._skip(model, reason)
        self.predict_and_publish(model, info, parents)
        return None

    def _cap_wait(self, model: str) -> bool:
        last = self.state.last_post_in(model.split("/")[0])
        spacing = timedelta(days=1) / max(self.cfg.namespace_per_day, 1)
        if last is not None and self.now - last < spacing:
            self._wait(model, "namespace posted to today", last + spacing, checked=False)
        elif self.report.posted + self.report.dry_run >= self.cfg.max_posts_per_run:
            self._wait(model, "post cap of this run", self.now, checked=False)
        else:
            return False
        self.report.deferred += 1
        return True

    def predict_and_publish(self, model: str, info: Any, parents: list[tuple[str, str]]) -> None:
        metadata = metadata_from_model_info(info)
        logged, pid = self.predict(model, info, parents, metadata)
        # benchmarks from evaluation results are logged (the track record compares them), not posted: a
        # full pull brings hundreds, each on its own scale, and some without a calibrated interval
        extra = {b for b, i in self.lrmf.reference.benchmarks().items() if i.suite == EVAL_RESULTS_SUITE}
        predictions = [p for p in logged if p.benchmark not in extra] or logged
        width = sum(p.upper - p.lower for p in predictions) / max(len(predictions), 1)
        if not self.basis(parents) and width > self.cfg.max_interval_width:
            return self._skip(model, "no basis (no evaluated relative, wide intervals)")
        verdict = self.checks.verdict(metadata, parents, predictions, self.cfg.quantized_drop)
        if verdict is not None:
            kind, reason = verdict
            (self.report.held if kind == HELD else self.report.withheld).append({"model": model, "reason": reason})
            log.warning("%s %s: %s", kind, model, reason)
            if kind == HELD:
                self.report.waiting["held"] += 1
                self.state.update(model, self.now, reason=f"held: {reason}", checked=True,
                                  next_check=self.now + timedelta(hours=self.cfg.hold_hours))
                return None
            return self._skip(model, f"withheld: {reason}", counted_as="withheld")
        return self.publish(model, info, predictions, parents, pid)

    # ------------------------------------------------------------------ 4. predict and record
    def evaluated(self) -> set[str]:
        if self._evaluated is None:
            self._evaluated = set(self.lrmf.reference.scores()["model"])
        return self._evaluated

    def basis(self, parents: list[tuple[str, str]]) -> bool:
        """Whether an evaluated model is among the parents or their close relatives."""
        evaluated = self.evaluated()
        graph = self.lrmf.lineage()
        return any(p in evaluated or (p in graph and graph.relatives(p, max_hops=2, among=evaluated))
                   for p, _ in parents)

    def predict(self, model: str, info: Any, parents: list[tuple[str, str]],
                metadata: dict[str, Any]) -> tuple[list[Prediction], int]:
        """The model's prediction, logged once per revision, lineage and predictor (a held model is not re-logged)."""
        name = self.predictor_name()
        old = self.log.latest(model)
        if (old is not None and old.revision == info.sha and old.predictor == name
                and sorted(map(tuple, old.parents)) == sorted(parents)):
            return old.scores, old.id
        predictions = self.shown(self.lrmf.predict([ModelQuery(model=model, metadata=metadata, parents=parents)]))
        pid = self.log.record(model, predictions, predictor=name, parents=parents, revision=info.sha,
                              inputs={"metadata": metadata, "created_at": info.created_at, "source": "lrmf-bot",
                                      "evidence": self.evidence(parents)})
        self.report.predicted += 1
        self.state.update(model, self.now, prediction_id=pid, sha=info.sha, reason="predicted")
        return predictions, pid

    def evidence(self, parents: list[tuple[str, str]]) -> str:
        """What the prediction stood on, for the track record's error by evidence level."""
        if self.basis(parents):
            return "a measured relative"
        return "parents, none measured" if parents else "metadata only"

    def predictor_name(self) -> str:
        return f"{getattr(self.lrmf.predictor, 'name', type(self.lrmf.predictor).__name__)}@{self.lrmf.reference.fingerprint()}"

    def shown(self, predictions: list[Prediction]) -> list[Prediction]:
        """Score-level benchmarks only (what the leaderboard shows), when the reference has them."""
        scored = {b for b, info in self.lrmf.reference.benchmarks().items() if info.has_scores}
        keep = [p for p in predictions if p.benchmark in scored]
        return keep or predictions

    # ------------------------------------------------------------------ 5. post (follow-ups: followups.py)
    def existing_thread(self, model: str) -> Any:
        """The bot's discussion on ``model`` on the Hub (any status), or None."""
        def first() -> Any:
            return next(iter(self.api.get_repo_discussions(model, author=self.user)), None)
        return self.call(f"checking {model} for an earlier bot thread", first)

    def publish(self, model: str, info: Any, predictions: list[Prediction], parents: list[tuple[str, str]],
                pid: int) -> None:
        try:
            existing = self.existing_thread(model)
        except HubForbidden:
            self.state.opt_out("repo", model, "the Hub refused to list its discussions (403)", self.now)
            return self._skip(model, "forbidden (403): treated as opt-out")
        if existing is not None:
            return self.adopt(model, existing, pid, info.sha)
        body = render.body(model, info.sha, predictions, parents, self.checks.lineage_relatives(parents),
                           bot_user=self.user, site=self.site, space_url=self.cfg.space_url)
        if not self.cfg.post:
            with open(self.cfg.outbox_path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"model_id": model, "title": render.TITLE, "body": body,
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
                          lambda: self.api.create_discussion(model, render.TITLE, description=body))
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


def run_once(cfg: BotConfig, *, api: Any = None, lrmf: "Lrmf | None" = None, now: datetime | None = None,
             sleep: Callable[[float], None] = time.sleep) -> RunReport:
    """One poll. ``api``, ``lrmf``, ``now`` and ``sleep`` default to the real ones (tests pass a clock).

    Raises :class:`LrmfError` only for configuration problems (no reference, ``--post`` without a
    token); Hub trouble is counted in the report and ends the run cleanly, with ``outcome`` saying
    whether it was a rate limit (``paused``) or a Hub that could not be read (``unreachable``).
    """
    from huggingface_hub import get_token

    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    if cfg.post and not get_token():
        raise HubError("--post needs a Hub token: set HF_TOKEN or log in with `hf auth login`")
    if lrmf is None:
        from lrmf_plugin.api import Lrmf

        lrmf = Lrmf(cfg.ref)
        _ = lrmf.predictor  # load it now: NotFittedError before any Hub request
    # calls made through the client itself (whoami, discussions) wait no longer than a run may last
    api = api or connect(cfg.endpoint, timeout=min(cfg.timeout, cfg.max_run_seconds))
    poller = Poller(cfg, api, lrmf, now, sleep, started)
    try:
        return _run(poller, cfg, api, now)
    finally:  # also after a crash: the state file is left whole, without a log beside it
        poller.state.close()


def _run(poller: Poller, cfg: BotConfig, api: Any, now: datetime) -> RunReport:
    from huggingface_hub import get_token

    report = poller.report
    paused = poller.state.paused_until
    try:
        if paused is not None and now < paused:
            raise StopRun(f"paused after a rate limit until {iso(paused)}", "paused")
        if cfg.bot_user is None and get_token():
            poller.user = poller.call("whoami", lambda: api.whoami()["name"])
        poller.discover()
        poller.sweep()
        reread_measured(poller)
        poller.process()
    except StopRun as stop:
        report.stopped = str(stop)
        report.outcome = "paused" if stop.outcome == "paused" else "done"
    except HubError as exc:  # the listing itself failed: nothing to do until the next run
        report.errors += 1
        report.stopped = str(exc)
        report.outcome = "unreachable"
    poller.state.record_run(now, report.as_dict())
    log.debug("run report %s", json.dumps(report.as_dict(), sort_keys=True))
    return report


__all__ = ["RunReport", "run_once", "Poller"]

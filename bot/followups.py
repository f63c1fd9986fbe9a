"""The bot's threads after the first post: re-read them, honour stops, and follow up sparingly.

An open thread is re-read hourly, and at once when this run's listing shows its model with a new
revision; models older than the listing's window are read on their own, so follow-ups reach a
model of any age. A follow-up is a write like any other: it passes the one gate, and at most one
is made per thread per ``followup_days`` (counted from the thread itself on the Hub, so a lost
state file does not reset it).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from lrmf_plugin.errors import HubError
from lrmf_plugin.errors import HubNotFound
from lrmf_plugin.hub import lineage_from_model_info, metadata_from_model_info

from . import render
from .checks import HELD
from .state import Post


class FollowUps:
    """Thread care for :class:`lrmf_bot.poller.Poller` (a mixin: it uses the poller's run state)."""

    cfg: Any
    state: Any
    report: Any
    now: Any
    api: Any
    user: str
    site: str
    listed: dict[str, Any]
    log: Any
    checks: Any

    def sweep(self) -> None:
        """Re-read open bot threads (hourly, and at once when a listed model has a new revision)."""
        every = timedelta(minutes=self.cfg.sweep_minutes)
        due = {p.model: p for p in self.state.to_sweep(self.now, every, self.cfg.sweep_limit)}
        for model, info in self.listed.items():
            post = self.state.post(model)
            if post is not None and post.status == "open" and info.sha and info.sha != post.sha:
                due.setdefault(model, post)
        for post in due.values():
            try:
                self.sweep_one(post)
            except HubError as exc:
                self._error(post.model, exc)

    def sweep_one(self, post: Post) -> None:
        try:
            details = self.call(f"reading {post.model} discussion #{post.discussion_num}",
                                lambda: self.api.get_discussion_details(post.model, post.discussion_num))
        except HubNotFound:
            self.state.set_post(post.model, self.now, status="closed")
            return
        if self.optouts.read_thread(post.model, details):  # acknowledged and closed if it was open
            if details.status != "open":
                self.state.set_post(post.model, self.now, status=details.status)
            return
        if details.status != "open":
            self.report.closed_seen += 1
        self.state.set_post(post.model, self.now, status=details.status)
        if details.status == "open" and self.cfg.post:
            self.follow_up(post, details)

    def follow_up(self, post: Post, details: Any) -> None:
        """Comment on an open thread when a new revision moved the prediction, at most once per ``followup_days``."""
        since = self.now - timedelta(days=self.cfg.followup_days)
        recent = [e for e in list(details.events)[1:] if getattr(e, "type", None) == "comment"
                  and e.author == self.user and e.created_at is not None and e.created_at >= since]
        if recent or self.report.posted + self.report.commented >= self.cfg.max_posts_per_run:
            return
        info = self.info(post.model)
        if not info.sha or info.sha == post.sha:
            return
        reason = self.gate(post.model, info, "comment")
        if reason:
            self.report.skipped[f"follow-up: {reason}"] += 1
            return
        parents = lineage_from_model_info(info)
        old = self.log.latest(post.model)
        metadata = metadata_from_model_info(info)
        predictions, pid = self.predict(post.model, info, parents, metadata)
        self.state.set_post(post.model, self.now, sha=info.sha)
        verdict = self.checks.verdict(metadata, parents, predictions, self.cfg.quantized_drop)
        if verdict is not None:  # a follow-up is a post: the same predictions are never posted
            kind, reason = verdict
            (self.report.held if kind == HELD else self.report.withheld).append({"model": post.model, "reason": reason})
            return
        before = {p.benchmark: p.predicted for p in (old.scores if old else [])}
        moved = max((abs(p.predicted - before.get(p.benchmark, p.predicted)) for p in predictions), default=0.0)
        lineage_changed = old is None or sorted(map(tuple, old.parents)) != sorted(parents)
        if moved < self.cfg.material_change and not lineage_changed:
            return
        text = render.change_comment(post.model, predictions, parents, site=self.site, space_url=self.cfg.space_url)
        self.call(f"commenting on {post.model}",
                  lambda: self.api.comment_discussion(post.model, post.discussion_num, text))
        self.state.set_post(post.model, self.now, prediction_id=pid)
        self.log.set_discussion(pid, post.discussion_url)
        self.report.commented += 1


__all__ = ["FollowUps"]

"""Discovery without silent gaps: read new models down to the high-water mark, within the scan limit.

The Hub lists models newest first. A run reads at most ``scan_limit`` of them (whole pages). When
the limit cuts a listing short, the unread rest is not dropped: the next-page address and the
creation time to read down to are kept as a *backlog segment*, and the next run reads the backlog
first (so a busy Hub cannot starve it), then the newest uploads. The high-water mark says how far
the newest listing reached; together with the backlog it describes exactly what has been read.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from lrmf_plugin.errors import HubError
from lrmf_plugin.hub import MODEL_EXPAND, hub_call

from .session import HubSession
from .state import iso, parse_iso

log = logging.getLogger("lrmf_bot")


def _model_info(item: dict[str, Any]) -> Any:
    from huggingface_hub import ModelInfo

    # as ``HfApi.list_models`` does: a listing item has no ``siblings`` unless asked for
    return ModelInfo(**{**item, "siblings": item.get("siblings")})


class Discovery:
    """One run's reading of the Hub's model listing; fills ``listed`` and the candidates table."""

    def __init__(self, session: HubSession, now: datetime):
        self.session, self.now = session, now
        self.cfg, self.state, self.report = session.cfg, session.state, session.report
        self.listed: dict[str, Any] = {}
        self.budget = self.cfg.scan_limit

    def run(self) -> None:
        backlog = self.state.backlog()
        foreign = [seg for seg in backlog if not self.session.on_endpoint(seg["next"])]
        if foreign:  # the token never goes to another host, and that Hub's listing is not this one's
            log.warning("dropping %d unfinished listings of another Hub", len(foreign))
            backlog = [seg for seg in backlog if seg not in foreign]
            self.state.set_backlog(backlog)
        # each step is saved as soon as it is read: a failure later in the run re-reads only its own part
        for i, seg in enumerate(list(backlog)):
            if self.budget <= 0:
                break
            try:
                backlog[i] = self.read(seg["next"], None, parse_iso(seg["stop_at"])) or {}
            except HubError:
                # the Hub may no longer accept an old next-page address: the next run reads that window
                # again from the top (known models cost a read, never a gap)
                backlog[i] = {**seg, "next": self.newest_url()}
                raise
            finally:
                self.state.set_backlog([s for s in backlog if s])
        backlog = [s for s in backlog if s]
        if self.budget > 0:
            self.read_newest(backlog)
        self.report.listing_backlog = [{"from": s["stop_at"], "to": s["below"]} for s in backlog]
        if backlog:
            log.warning("scan limit reached: models created in %s are deferred to the next run",
                        ", ".join(f"{s['stop_at'][:16]}..{s['below'][:16]}" for s in backlog))

    def newest_url(self) -> str:
        """The listing of text-generation models, newest first, in pages of up to the scan limit."""
        params = {"sort": "createdAt", "pipeline_tag": "text-generation", "expand": MODEL_EXPAND,
                  "limit": min(self.cfg.scan_limit, 1000)}
        return f"{self.session.api.endpoint.rstrip('/')}/api/models?{urlencode(params, doseq=True)}"

    def read_newest(self, kept: list[dict[str, str]]) -> None:
        hw = self.state.high_water
        stop_at = (hw - timedelta(minutes=self.cfg.overlap_minutes) if hw
                   else self.now - timedelta(hours=self.cfg.first_lookback_hours))
        newest: list[datetime] = []
        rest = self.read(self.newest_url(), None, stop_at, newest)
        if rest and hw is not None:
            # what is left below the old mark is the overlap, read before: only new ground is owed,
            # or a run whose overlap alone exceeds the scan limit would defer it forever
            rest = None if parse_iso(rest["below"]) <= hw else {**rest, "stop_at": iso(hw)}
        if rest:
            kept.append(rest)
            self.state.set_backlog(kept)
        if newest:
            self.state.advance_high_water(max(newest))

    def read(self, url: str, params: dict[str, Any] | None, stop_at: datetime | None,
             created: list[datetime] | None = None) -> dict[str, str] | None:
        """Read pages from ``url`` down to ``stop_at``; the unread rest as a segment when the budget ran out."""
        below = None
        for items, next_url in self.session.pages(url, params, "listing new models"):
            with hub_call("listing new models"):  # an item that is not a model is an unreadable answer
                infos = [_model_info(item) for item in items]
            rows = []
            done = False
            for info in infos:
                if info.created_at is not None and stop_at is not None and info.created_at < stop_at:
                    done = True
                    break
                self.listed[info.id] = info
                rows.append((info.id, info.created_at, info.sha))
                if info.created_at is not None:
                    below = info.created_at
                    if created is not None:
                        created.append(info.created_at)
            self.budget -= len(rows)
            self.report.listed += len(rows)
            self.report.new += self.state.add_candidates(rows, self.now)
            if done or next_url is None:
                return None
            if self.budget <= 0:
                return {"next": next_url, "stop_at": iso(stop_at or self.now), "below": iso(below or self.now)}
        return None


__all__ = ["Discovery"]

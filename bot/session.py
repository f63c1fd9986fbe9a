"""Every Hub request of one run goes through :class:`HubSession`: bounded in time, polite on 429.

Three bounds keep a run from hanging or sleeping for long: each request gets an explicit timeout
(never longer than what is left of the run's budget), a 429 is slept out only when its reset is
short (``max_rate_limit_wait``) and otherwise pauses the bot until the reset, and no request starts
after the run's wall-clock budget (``max_run_seconds``) is spent.

Paginated listings are read here page by page rather than with ``HfApi.list_models``: the library
passes ``timeout=None`` to every page (no timeout at all), retries 429s with uncapped sleeps, and
hides the next-page address, which the bot keeps to continue an unfinished listing on its next run.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from lrmf_plugin.errors import HubRateLimited
from lrmf_plugin.hub import hub_call

from .config import BotConfig
from .state import BotState, iso

#: assumed reset when a 429 names none (the Hub's rate-limit window is five minutes)
_DEFAULT_RESET = 300.0


class StopRun(Exception):
    """End the run cleanly. ``outcome`` is ``"paused"`` (rate limit) or ``"budget"`` (time is up)."""

    def __init__(self, message: str, outcome: str):
        super().__init__(message)
        self.outcome = outcome


class HubSession:
    """The Hub client of one run, with its time budget and rate-limit handling."""

    def __init__(self, cfg: BotConfig, api: Any, state: BotState, report: Any, now: datetime,
                 sleep: Callable[[float], None], started: float | None = None):
        self.cfg, self.api, self.state, self.report, self.now, self.sleep = cfg, api, state, report, now, sleep
        #: ``started`` is when the run began (``time.monotonic``), so loading the predictor counts too
        self.deadline = (time.monotonic() if started is None else started) + cfg.max_run_seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def timeout(self) -> float:
        """This request's timeout: the configured one, cut to what is left of the run."""
        return max(0.1, min(self.cfg.timeout, self.remaining()))

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` as one Hub call; client failures raise :class:`HubError`, a long 429 :class:`StopRun`."""
        slept = False
        while True:
            if self.remaining() <= 0:
                raise StopRun(f"the run's time budget ({self.cfg.max_run_seconds:.0f} s) is spent "
                              f"(before {what})", "budget")
            self.report.api_calls += 1
            try:
                with hub_call(what):
                    return fn()
            except HubRateLimited as exc:
                wait = exc.reset_in if exc.reset_in is not None else _DEFAULT_RESET
                # one short wait is cheaper than a lost run; a long one would hold the scheduler
                if not slept and wait <= self.cfg.max_rate_limit_wait and wait + 1 < self.remaining():
                    self.sleep(wait + 1)
                    slept = True
                    continue
                self.pause(what, wait)

    def pause(self, what: str, wait: float) -> None:
        until = self.now + timedelta(seconds=wait)
        self.state.set_meta("paused_until", iso(until))
        self.report.rate_limited_until = iso(until)
        raise StopRun(f"rate limited ({what}); resuming after {iso(until)}", "paused")

    def pages(self, url: str, params: dict[str, Any] | None, what: str) -> Iterator[tuple[list[Any], str | None]]:
        """``(items, next page address)`` per page of a Hub listing, following its ``Link`` headers."""
        from huggingface_hub.utils import build_hf_headers

        headers = build_hf_headers(token=self.api.token, library_name="lrmf-bot")
        next_url: str | None = url
        while next_url is not None:
            items, next_url = self.call(what, lambda u=next_url, p=params: self._page(u, p, headers))
            params = None  # the next-page address carries the query
            yield items, next_url

    def on_endpoint(self, url: str) -> bool:
        """Whether ``url`` is on this run's Hub (a stored or linked address never gets the token elsewhere)."""
        return url.startswith(self.api.endpoint.rstrip("/") + "/")

    def _page(self, url: str, params: dict[str, Any] | None, headers: dict[str, str]) -> tuple[list[Any], str | None]:
        from huggingface_hub.utils import get_session, hf_raise_for_status

        if not self.on_endpoint(url):
            raise ValueError(f"listing address outside {self.api.endpoint}")
        r = get_session().get(url, params=params, headers=headers, timeout=self.timeout())
        hf_raise_for_status(r)
        items = r.json()
        next_url = r.links.get("next", {}).get("url")
        if not isinstance(items, list) or (next_url is not None and not self.on_endpoint(next_url)):
            raise ValueError("not a listing")
        return items, next_url


__all__ = ["HubSession", "StopRun"]

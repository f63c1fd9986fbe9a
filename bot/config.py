"""Everything an operator can set, with the polite defaults from ``../shared/notes/hub-and-space.md``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: a card tag (``tags:`` in the model card) that keeps the bot away from that repository
OPT_OUT_TAG = "lrmf-bot-opt-out"
DEFAULT_SPACE_URL = "https://huggingface.co/spaces/lrmf-plugin/benchmark-predictions"


@dataclass
class BotConfig:
    """One bot deployment. ``post=False`` is a dry run: rendered posts go to ``outbox`` only."""

    ref: Path
    state: Path
    endpoint: str | None = None
    post: bool = False
    outbox: Path | None = None            #: default: ``<state>.outbox.jsonl``
    bot_user: str | None = None           #: default: ``whoami`` with a token, else ``lrmf-bot``
    site_url: str | None = None           #: where links point; default the endpoint
    space_url: str = DEFAULT_SPACE_URL    #: the Space with the predicted-vs-measured track record
    min_age_minutes: float = 45.0         #: settling: lineage often arrives after the repo
    max_posts_per_run: int = 10
    post_interval: float = 60.0           #: seconds between two new discussions
    namespace_per_day: int = 1            #: new discussions per namespace per 24 h
    allow: tuple[str, ...] = ()           #: namespaces to post to (empty: all but ``deny``)
    deny: tuple[str, ...] = ()
    max_interval_width: float = 15.0      #: post without relatives only if the mean 90% width is below
    scan_limit: int = 1000                #: most models read from one listing
    overlap_minutes: float = 120.0        #: re-read this far behind the high-water mark
    first_lookback_hours: float = 24.0    #: how far back the very first run looks
    recheck_minutes: float = 60.0         #: wait between looks at a model without lineage
    recheck_hours: float = 24.0           #: give up waiting for lineage after this
    max_errors: int = 5                   #: per-repo errors before the bot gives up on it
    sweep_minutes: float = 60.0           #: how often an open bot thread is looked at again
    sweep_limit: int = 20                 #: most threads looked at per run
    measured_limit: int = 20              #: most predicted models whose evaluation results are re-read per run
    material_change: float = 3.0          #: score change (points) worth a follow-up comment
    followup_days: float = 30.0           #: at most one follow-up comment per thread in this many days
    namespace_recheck_days: float = 7.0   #: re-read a namespace's bot threads on the Hub this often
    namespace_scan_limit: int = 50        #: newest repos of a namespace searched for bot threads (a call each)
    quantized_drop: float = 3.0           #: hold a quantised copy predicted this far below its parent
    hold_hours: float = 24.0              #: look at a held model again after this
    timeout: float = 30.0                 #: seconds per Hub request
    max_rate_limit_wait: float = 60.0     #: longest sleep on a 429; a longer reset pauses the bot instead
    max_run_seconds: float = 540.0        #: wall-clock budget of one run (under the polling interval)
    interval_minutes: float = 10.0        #: ``run`` polls this often
    jitter_seconds: float = 60.0

    @property
    def outbox_path(self) -> Path:
        return self.outbox or self.state.with_name(self.state.name + ".outbox.jsonl")

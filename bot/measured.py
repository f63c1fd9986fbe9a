"""The measured side of the track record: re-read the evaluation results of models the bot predicted.

Bounded: each predicted model daily for 90 days after its latest prediction, then weekly
(:meth:`~lrmf_plugin.track_record.PredictionLog.due_for_reread`), at most ``measured_limit`` models a
run, every request through the run's session (its time budget and rate-limit manners). A score is
recorded only for a benchmark the prediction covered, with the result's date (else the time it was
read) and its source, so the Space's Track record can set it against the prediction.
"""
from __future__ import annotations

import logging
from typing import Any

from lrmf_plugin.errors import HubError
from lrmf_plugin.eval_results import latest_per_benchmark
from lrmf_plugin.importers.hub_eval_results import read_models

from .state import iso

log = logging.getLogger("lrmf_bot")


def reread_measured(poller: Any) -> None:
    """Read the due models' ``.eval_results`` and card ``model-index``; record what measures a prediction."""
    for model in poller.log.due_for_reread(poller.now, poller.cfg.measured_limit):
        try:
            found = read_models(poller.api, [model], call=poller.call, check_datasets=False)
        except HubError as exc:  # one model's trouble is no reason to stop reading the others
            poller.report.errors += 1
            log.warning("reading the evaluation results of %s: %s", model, exc)
            continue
        poller.log.mark_checked(model, poller.now)
        poller.report.measured_checked += 1
        scores, _ = latest_per_benchmark(found.scores)
        by_origin: dict[tuple[str, str], dict[str, float]] = {}
        for s in scores:
            by_origin.setdefault((s.date or iso(poller.now), s.source), {})[s.benchmark] = s.score
        for (when, source), values in sorted(by_origin.items()):
            poller.report.measured += poller.log.record_predicted_measured({model: values}, source, when)

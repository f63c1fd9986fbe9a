"""``Lrmf``: the one facade every face uses (CLI, lm-eval runner, bot, Space).

It ties a :class:`~lrmf_plugin.reference.Reference` to its stored predictor, so callers say *what*
they want (fit, predict, plan) and never handle artifacts, graphs or feature matrices.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence


from .errors import NotFittedError
from .lineage import LineageGraph
from .models.lrmf import LRMFPredictor
from .models.lrmf.persistence import ARTIFACT_KIND, ARTIFACT_VERSION, verify
from .models.scores import full_scores
from .prediction import ModelReport, PredictionPath
from .reference import Reference
from .resolution import Lookup, ModelRequest, ModelResolver
from .schema import ModelQuery, Prediction

PREDICTOR_STEM = "lrmf"
#: Beside the predictor: when it was fitted, how long it took, on which reference state (informational).
FIT_RECORD = "fit.json"


@dataclass(frozen=True)
class PredictorStatus:
    """Whether a reference's stored predictor can be used, and why not."""

    fitted: bool
    stale: bool
    reason: str
    version: int | None = None
    fitted_at: str | None = None
    fit_seconds: float | None = None

    def format(self) -> str:
        if not self.fitted:
            return f"predictor: not fitted ({self.reason})"
        when = f"fitted {self.fitted_at}" if self.fitted_at else "fitted"
        took = f" in {self.fit_seconds:.0f} s" if self.fit_seconds is not None else ""
        if self.stale:
            return f"predictor: {self.reason} (lrmf artifact version {self.version}, {when}{took})"
        return f"predictor: fitted on this state of the reference (lrmf artifact version {self.version}, {when}{took})"


class Lrmf:
    """A reference and its fitted predictor.

    >>> api = Lrmf("~/.cache/lrmf-plugin/reference")
    >>> api.predict([api.query("my-org/my-merge", parents=[("a/base", "merge"), ("b/base", "merge")])])
    """

    def __init__(self, ref: str | Path | Reference, lookup: Lookup | None = None):
        self.reference = ref if isinstance(ref, Reference) else Reference(Path(ref).expanduser())
        self.lookup = lookup
        self._predictor: LRMFPredictor | None = None
        self._lineage: LineageGraph | None = None
        self._path: PredictionPath | None = None
        self._resolver: ModelResolver | None = None

    @property
    def predictor_stem(self) -> Path:
        return self.reference.predictor_dir / PREDICTOR_STEM

    @property
    def predictor(self) -> LRMFPredictor:
        """The stored fitted predictor (loaded once); NotFittedError if `fit` never ran."""
        if self._predictor is None:
            stem = self.predictor_stem
            if not stem.with_suffix(".json").exists():
                raise NotFittedError(f"{self.reference.path}: no fitted predictor yet; run "
                                     f"`lm-eval-predict fit --ref {self.reference.path}`")
            self._predictor = LRMFPredictor.load(stem, self.lineage(), self.reference.fingerprint())
        return self._predictor

    def fit(self, progress: bool = True, **params: Any) -> LRMFPredictor:
        """Fit on the whole reference and store the predictor in it (replacing an older one).

        The stored fingerprint is the one the data was read under: if an import lands while fitting,
        the reference's fingerprint moves on and the stored predictor is refused as stale.
        """
        start = time.perf_counter()
        fingerprint, data = self.reference.load_data_fingerprinted()
        predictor = LRMFPredictor(progress=progress, **params).fit(data)
        predictor.save(self.predictor_stem, fingerprint)
        record = {"fitted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "fit_seconds": round(time.perf_counter() - start, 1), "reference": fingerprint}
        (self.reference.predictor_dir / FIT_RECORD).write_text(json.dumps(record, indent=1) + "\n")
        self._predictor, self._path = predictor, None
        return predictor

    def status(self) -> PredictorStatus:
        """Fitted or not, current or stale and why (reads headers only; nothing is loaded)."""
        from .artifact import read_header

        header = read_header(self.predictor_stem)
        if header is None:
            return PredictorStatus(False, False, f"run `lm-eval-predict fit --ref {self.reference.path}`")
        try:
            record = json.loads((self.reference.predictor_dir / FIT_RECORD).read_text())
        except (OSError, ValueError):
            record = {}
        version = header.get("version")
        common = {"version": version, "fitted_at": record.get("fitted_at"), "fit_seconds": record.get("fit_seconds")}
        if header.get("format") != ARTIFACT_KIND or version != ARTIFACT_VERSION:
            return PredictorStatus(True, True, f"stale: written by another version (this tool reads version "
                                               f"{ARTIFACT_VERSION}); refit", **common)
        verify(self.predictor_stem)  # an edited or corrupted predictor is an error, not a status
        if header.get("reference") != self.reference.fingerprint():
            later = [s for s in self.reference.sources() if s.imported_at > (record.get("fitted_at") or "")]
            what = f"; imported since: {', '.join(s.kind for s in later)}" if later and record else ""
            return PredictorStatus(True, True, f"stale: the reference changed after the fit{what}; refit", **common)
        return PredictorStatus(True, False, "", **common)

    def lineage(self) -> LineageGraph:
        if self._lineage is None:
            self._lineage = self.reference.lineage()
        return self._lineage

    @property
    def resolver(self) -> ModelResolver:
        """Resolves a model id (and what the user adds) against this reference (see :mod:`lrmf_plugin.resolution`)."""
        if self._resolver is None:
            measured = full_scores(self.reference.load_data())  # complete item sets count as measured too
            self._resolver = ModelResolver(self.reference.metadata(), measured, self.lineage(), lookup=self.lookup)
        return self._resolver

    @property
    def path(self) -> PredictionPath:
        """The one prediction path (resolver + predictor + what relations mean)."""
        if self._path is None:
            self._path = PredictionPath(self.predictor, self.resolver, self.interval_notes())
        return self._path

    def interval_notes(self) -> dict[str, str]:
        """Benchmarks predicted without an interval, and why (those known only from evaluation results
        that had too few models to calibrate one)."""
        from .eval_results import interval_reasons
        from .models.lrmf.defaults import MIN_CALIBRATION_CASES

        scored = self.resolver.scores.notna().sum()
        return interval_reasons({b: i.suite for b, i in self.reference.benchmarks().items()},
                                {b for b, _ in self.predictor.calibration_}, scored.astype(int).to_dict(),
                                MIN_CALIBRATION_CASES)

    def query(self, model: str, *, metadata: dict[str, Any] | None = None,
              parents: Sequence[tuple[str, str | None]] = (), items: dict[str, dict[str, float]] | None = None,
              scores: dict[str, float] | None = None) -> ModelQuery:
        """A query for ``model``: the reference's metadata and lineage, then the given ones, then what
        lineage passes on (warnings of the resolution are dropped here; :meth:`report` keeps them)."""
        q = self.resolver.resolve(ModelRequest(model, dict(metadata or {}), tuple(parents))).query
        q.items, q.scores = dict(items or {}), dict(scores or {})
        return q

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        """Every benchmark of the reference for each query, with 90% intervals."""
        return self.path.predict(list(queries))

    def report(self, requests: Sequence[ModelRequest], as_if_new: bool = False) -> list[ModelReport]:
        """Resolved predictions per model, measured scores shown as measured (see :class:`PredictionPath`)."""
        return self.path.report(requests, as_if_new=as_if_new)

    def plan(self, query: ModelQuery, budget: float, selection: str = "adaptive", seed: int = 0,
             benchmarks: Sequence[str] | None = None, random_share: float = 0.0) -> dict[str, list[str]]:
        """Items to evaluate next for ``query``: benchmark -> item ids, ``random_share`` of each budget
        uniformly random (see :mod:`lrmf_plugin.planning`)."""
        from .planning import plan_items
        return plan_items(self.predictor, query, budget, selection=selection, seed=seed, benchmarks=benchmarks,
                          random_share=random_share)

    def random_items(self, benchmark: str, evaluated: Sequence[str], share: float, seed: int) -> list[str]:
        """Which of a benchmark's ``evaluated`` items a plan with ``random_share=share`` and ``seed``
        drew uniformly at random (the run evaluated its whole budget); InputError when they are not all there."""
        from .errors import InputError
        from .planning import random_reserve, reserve_count
        ids = list(self.predictor.posterior_.item_col.get(benchmark, {}))
        drawn = random_reserve(benchmark, ids, reserve_count(len(evaluated), share), seed)
        missing = set(drawn) - {str(e) for e in evaluated}
        if missing:
            raise InputError(f"{benchmark}: {len(missing)} of the {len(drawn)} random items that --random-share "
                             f"{share:g} with seed {seed} draws were not evaluated; give the share and seed the "
                             "plan used")
        return drawn

    def random_samples(self, samples: Mapping[str, Sequence[int]], share: float, seed: int) -> dict[str, list[int]]:
        """The documents of an lm-eval ``samples`` map (task -> doc ids evaluated) that a plan with
        ``random_share=share`` and ``seed`` drew uniformly at random, per task the reference has items of
        (see :meth:`random_items`)."""
        known = {t for t, info in self.reference.benchmarks().items() if info.n_items}
        return {t: [int(i) for i in self.random_items(t, [str(d) for d in ids], share, seed)]
                for t, ids in samples.items() if t in known}

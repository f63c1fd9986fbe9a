"""``Lrmf``: the one facade every face uses (CLI, lm-eval runner, bot, Space).

It ties a :class:`~lrmf_plugin.reference.Reference` to its stored predictor, so callers say *what*
they want (fit, predict, plan) and never handle artifacts, graphs or feature matrices.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .errors import NotFittedError
from .lineage import LineageGraph
from .models.lrmf import LRMFPredictor
from .reference import Reference
from .schema import ModelQuery, Prediction

PREDICTOR_STEM = "lrmf"


class Lrmf:
    """A reference and its fitted predictor.

    >>> api = Lrmf("~/.cache/lrmf-plugin/reference")
    >>> api.predict([api.query("my-org/my-merge", parents=[("a/base", "merge"), ("b/base", "merge")])])
    """

    def __init__(self, ref: str | Path | Reference):
        self.reference = ref if isinstance(ref, Reference) else Reference(Path(ref).expanduser())
        self._predictor: LRMFPredictor | None = None
        self._lineage: LineageGraph | None = None
        self._metadata: pd.DataFrame | None = None

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
        fingerprint, data = self.reference.load_data_fingerprinted()
        predictor = LRMFPredictor(progress=progress, **params).fit(data)
        predictor.save(self.predictor_stem, fingerprint)
        self._predictor = predictor
        return predictor

    def lineage(self) -> LineageGraph:
        if self._lineage is None:
            self._lineage = self.reference.lineage()
        return self._lineage

    def query(self, model: str, *, metadata: dict[str, Any] | None = None,
              parents: Sequence[tuple[str, str]] = (), items: dict[str, dict[str, float]] | None = None,
              scores: dict[str, float] | None = None) -> ModelQuery:
        """A query for ``model``; metadata the reference already holds for it is filled in first."""
        if self._metadata is None:
            self._metadata = self.reference.metadata()
        known = self._metadata
        meta: dict[str, Any] = {}
        if model in known.index:
            meta = {k: v for k, v in known.loc[model].items() if v is not None and v == v}
        meta.update(metadata or {})
        return ModelQuery(model=model, metadata=meta, parents=list(parents), items=dict(items or {}),
                          scores=dict(scores or {}))

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        """Every benchmark of the reference for each query, with 90% intervals."""
        return self.predictor.predict(list(queries))

    def plan(self, query: ModelQuery, budget: float, selection: str = "adaptive", seed: int = 0,
             benchmarks: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Items to evaluate next for ``query``: benchmark -> item ids (see :mod:`lrmf_plugin.planning`)."""
        from .planning import plan_items
        return plan_items(self.predictor, query, budget, selection=selection, seed=seed, benchmarks=benchmarks)

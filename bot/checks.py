"""What the bot must not post even when it can predict: predictions that would mislead an owner.

Each rule names a reason that goes into the run report instead of a post:

- a merge of parents with different architectures (a Qwen + Gemma "merge" is not a blend the
  reference has ever seen, so the prediction is a guess dressed as a number);
- a model outside the reference's support (an architecture or a size no evaluated model has);
- a quantised copy predicted far below its evaluated parent: a faithful copy scores like its
  parent, so a large drop is the predictor's error, not news for the owner. Such a model is held
  and looked at again later (a refitted reference may predict it right).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from lrmf_plugin.errors import HubForbidden, HubNotFound
from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.schema import Prediction

from .session import HubSession

if TYPE_CHECKING:
    from lrmf_plugin.api import Lrmf

#: withheld for good (reported) versus held for a later look
WITHHELD, HELD = "withheld", "held"


def average(predictions: Sequence[Prediction]) -> tuple[float, float, float] | None:
    """The leaderboard average with its interval, when all six benchmarks are predicted.

    The interval of the average is the average of the bounds, as the Space shows it: exact when the
    benchmark errors move together, wider than needed when they do not, so it never overstates
    confidence.
    """
    by_name = {p.benchmark: p for p in predictions}
    if not all(b in by_name for b in BENCHMARKS):
        return None
    n = len(BENCHMARKS)
    return (sum(by_name[b].predicted for b in BENCHMARKS) / n,
            sum(max(by_name[b].lower, 0.0) for b in BENCHMARKS) / n,
            sum(min(by_name[b].upper, 100.0) for b in BENCHMARKS) / n)


class Checks:
    """The reference facts the rules need (read once per run) and the rules themselves."""

    def __init__(self, lrmf: "Lrmf", session: HubSession):
        self.lrmf, self.session = lrmf, session
        self._meta: pd.DataFrame | None = None
        self._averages: dict[str, float] | None = None
        self._hub_arch: dict[str, str | None] = {}

    def metadata(self) -> pd.DataFrame:
        if self._meta is None:
            self._meta = self.lrmf.reference.metadata()
        return self._meta

    def measured_average(self, model: str) -> float | None:
        """The model's measured leaderboard average in the reference (all six scores), or None."""
        if self._averages is None:
            scores = self.lrmf.reference.scores()
            wide = scores[scores["benchmark"].isin(BENCHMARKS)].pivot_table(
                index="model", columns="benchmark", values="score", aggfunc="mean")
            full = wide.dropna() if set(BENCHMARKS) <= set(wide.columns) else wide.iloc[0:0]
            self._averages = full[list(BENCHMARKS)].mean(axis=1).to_dict() if len(full) else {}
        return self._averages.get(model)

    def lineage_relatives(self, parents: Sequence[tuple[str, str]], limit: int = 3) -> list[tuple[str, float]]:
        """Evaluated models of the model's own lineage (its parents, then their ancestors), closest first."""
        graph = self.lrmf.lineage()
        hops: dict[str, int] = {}
        for parent, _ in parents:
            hops[parent] = 0
            if parent in graph:
                for other, h in graph.ancestors(parent).items():
                    hops[other] = min(hops.get(other, h), h)
        found = [(m, self.measured_average(m)) for m in sorted(hops, key=lambda m: (hops[m], m))]
        return [(m, avg) for m, avg in found if avg is not None][:limit]

    def architecture(self, model: str) -> str | None:
        """A model's architecture: the reference's metadata, else its config on the Hub."""
        meta = self.metadata()
        if model in meta.index and "architecture" in meta.columns:
            value = meta.loc[model, "architecture"]
            if isinstance(value, str) and value:
                return value
        if model not in self._hub_arch:
            try:
                info = self.session.call(f"reading the config of {model}", lambda: self.session.api.model_info(
                    model, expand=["config"], timeout=self.session.timeout()))
            except (HubNotFound, HubForbidden):  # a parent we cannot see has no architecture we know
                info = None
            config = getattr(info, "config", None)
            archs = (config.get("architectures") if isinstance(config, dict) else None) or []
            self._hub_arch[model] = archs[0] if archs and isinstance(archs[0], str) else None
        return self._hub_arch[model]

    def cross_architecture(self, parents: Sequence[tuple[str, str]]) -> str | None:
        merged = [p for p, relation in parents if relation == "merge"]
        archs = {a for a in (self.architecture(p) for p in merged) if a}
        if len(archs) > 1:
            return f"merge of different architectures ({', '.join(sorted(archs))})"
        return None

    def out_of_support(self, metadata: dict[str, Any]) -> str | None:
        """A model no evaluated model resembles: an unseen architecture or a size outside the reference's."""
        meta = self.metadata()
        arch = metadata.get("architecture")
        if arch and "architecture" in meta.columns and arch not in set(meta["architecture"].dropna()):
            return f"out of the reference's support (architecture {arch} was never evaluated)"
        size = metadata.get("params_b")
        sizes = pd.to_numeric(meta["params_b"], errors="coerce").dropna() if "params_b" in meta.columns else ()
        if size and len(sizes):
            lo, hi = float(sizes.min()), float(sizes.max())
            if not lo / 2 <= float(size) <= hi * 2:
                return f"out of the reference's support ({float(size):.1f}B parameters; evaluated models span {lo:g}-{hi:g}B)"
        return None

    def quantized_drop(self, parents: Sequence[tuple[str, str]], predictions: Sequence[Prediction],
                       tolerance: float) -> str | None:
        avg = average(predictions)
        for parent, relation in parents:
            measured = self.measured_average(parent)
            if relation == "quantized" and avg is not None and measured is not None and avg[0] < measured - tolerance:
                return (f"quantised copy predicted {measured - avg[0]:.1f} points below its parent's measured "
                        f"average ({avg[0]:.1f} vs {measured:.1f})")
        return None

    def verdict(self, metadata: dict[str, Any], parents: Sequence[tuple[str, str]],
                predictions: Sequence[Prediction], tolerance: float) -> tuple[str, str] | None:
        """``(WITHHELD or HELD, reason)`` when the prediction must not be posted, else None."""
        for reason in (self.cross_architecture(parents), self.out_of_support(metadata)):
            if reason:
                return WITHHELD, reason
        reason = self.quantized_drop(parents, predictions, tolerance)
        return (HELD, reason) if reason else None


__all__ = ["Checks", "average", "WITHHELD", "HELD"]

"""The small typed records that flow between the reference, the predictors and the faces.

Every face (CLI, lm-eval runner, bot, Space) speaks in these types, so a change of storage or of
algorithm never leaks into them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import InputError

#: Lineage relations, in the reference's vocabulary. ``family`` links a model to the leaderboard's
#: root ancestor when the direct parent is unknown.
RELATIONS: tuple[str, ...] = ("finetune", "merge", "adapter", "quantized", "family")

_RELATION_ALIASES = {
    "finetune": "finetune", "finetuned": "finetune", "fine-tune": "finetune", "fine-tuned": "finetune",
    "merge": "merge", "merged": "merge",
    "adapter": "adapter", "adapters": "adapter", "lora": "adapter",
    "quantized": "quantized", "quantised": "quantized", "quantization": "quantized",
    "family": "family",
}


def normalise_relation(value: str) -> str:
    """Map the Hub's and the CSVs' spellings (``finetuned``, ``merged`` ...) to :data:`RELATIONS`."""
    key = str(value).strip().lower()
    try:
        return _RELATION_ALIASES[key]
    except KeyError:
        raise InputError(f"unknown lineage relation {value!r} (expected one of {', '.join(RELATIONS)})") from None


@dataclass(frozen=True)
class Edge:
    """A directed lineage edge: ``child`` was derived from ``parent`` by ``relation``."""

    parent: str
    child: str
    relation: str


@dataclass(frozen=True)
class BenchmarkInfo:
    """What the reference knows about one benchmark.

    ``suite`` groups benchmarks that are reported together (``v2``, ``v1``, or an lm-eval group).
    ``items_complete`` says the stored items are the whole benchmark, so its full score is the mean
    of the item values (x100) and can be predicted item by item; otherwise the items are a subset and
    the score column is the truth.
    """

    name: str
    suite: str = ""
    has_scores: bool = False
    n_items: int = 0
    items_complete: bool = False


@dataclass
class ModelQuery:
    """Everything known about a model we are asked to predict (it may or may not be in the reference).

    ``parents`` adds lineage on top of what the reference's graph already says about ``model``.
    ``items`` maps benchmark -> {item id -> value in [0, 1]}; ``scores`` maps benchmark -> known
    score on the reference's scale; ``score_sd`` gives the standard error of a score that was
    *estimated* (e.g. from a random subset of a benchmark's instances) rather than fully measured.
    """

    model: str
    metadata: dict[str, Any] = field(default_factory=dict)
    parents: list[tuple[str, str]] = field(default_factory=list)
    items: dict[str, dict[str, float]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    score_sd: dict[str, float] = field(default_factory=dict)
    #: metadata the query is unsure of: (probability, fields) alternatives, each added to ``metadata``;
    #: the prediction is their mixture (see :class:`~lrmf_plugin.prediction.PredictionPath`)
    metadata_options: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    #: benchmark -> ids of the answered ``items`` drawn uniformly at random (a plan's random share):
    #: their residuals correct the prediction (AIPW, :mod:`lrmf_plugin.models.lrmf.aipw`)
    random_items: dict[str, list[str]] = field(default_factory=dict)

    def n_items(self) -> int:
        return sum(len(v) for v in self.items.values())

    def knows_exactly(self, benchmark: str) -> bool:
        """The query gives ``benchmark``'s score as measured, not estimated (no standard error)."""
        return benchmark in self.scores and not self.score_sd.get(benchmark)


@dataclass(frozen=True)
class Prediction:
    """A predicted benchmark score with its 90% interval, on the reference's scale.

    ``flags`` says why the prediction extrapolates (the query lies outside the reference's support,
    see :mod:`lrmf_plugin.models.lrmf.support`); empty for a query like the reference's models.
    """

    model: str
    benchmark: str
    predicted: float
    lower: float
    upper: float
    observed: bool = False  #: the score was given, not predicted
    flags: tuple[str, ...] = ()

    def as_row(self) -> dict[str, Any]:
        return {"model": self.model, "benchmark": self.benchmark, "predicted": self.predicted,
                "lower": self.lower, "upper": self.upper}


def flag_reasons(predictions: Iterable[Prediction]) -> list[str]:
    """Why any of ``predictions`` extrapolates: each reason once, in the order first given."""
    return list(dict.fromkeys(f for p in predictions for f in p.flags))


#: The one statement of the value ranges every input is checked against: benchmark scores on the
#: reference's scale (the leaderboards' 0-100 points) and item results (a fraction correct).
SCORE_RANGE: tuple[float, float] = (0.0, 100.0)
UNIT_RANGE: tuple[float, float] = (0.0, 1.0)


def check_in_range(value: Any, where: str, what: str, bounds: tuple[float, float]) -> float:
    """``value`` as a float within ``bounds`` (NaN and infinities are outside); the message states the bounds checked."""
    low, high = bounds
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {what} {value!r} is not a number") from None
    if not low <= v <= high:
        raise InputError(f"{where}: {what} {value!r} is outside [{low:g}, {high:g}]")
    return v


def check_score(value: Any, where: str) -> float:
    """Validate one benchmark score: a number in :data:`SCORE_RANGE` (``true`` is no score)."""
    if isinstance(value, bool):
        raise InputError(f"{where}: score {value!r} is not a number")
    return check_in_range(value, where, "score", SCORE_RANGE)


def check_unit_value(value: Any, where: str) -> float:
    """Validate one item observation: a number in :data:`UNIT_RANGE` (lm-eval logs booleans: true is 1)."""
    return check_in_range(value, where, "value", UNIT_RANGE)

"""The stored predictor: each component writes its own arrays and header fields.

Arrays go to a versioned, checksummed ``.npz`` and everything else to the JSON beside it (see
:mod:`lrmf_plugin.artifact`); nothing is pickled. The format's history is in
``docs/experiments.md``; an artifact of another version is refused with a message to refit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ...artifact import load_artifact, save_artifact
from .artifact_checks import check_predictor
from ...errors import ArtifactError
from ...lineage import LineageGraph
from ..item_map import ItemScoreMap
from .posterior import Posterior
from .support import Support

ARTIFACT_KIND = "lrmf-predictor"
ARTIFACT_VERSION = 10


class Fitted(Protocol):
    """A fitted LRMF predictor's learned state: what is stored, and what the shift pass reads and
    writes on its refit."""

    posterior_: Posterior
    item_map_: ItemScoreMap | None
    map_levels_: tuple[str, ...]
    calibration_: dict[tuple[str, str], float]
    support_: Support


class Stored(Fitted, Protocol):
    """The estimator as persistence sees it: hyperparameters and learned state."""

    def get_params(self) -> dict[str, Any]: ...

    def multipliers(self) -> dict[str, float]: ...


def save(estimator: Stored, stem: str | Path, reference_fingerprint: str) -> None:
    """Store a fitted estimator at ``stem`` (.npz + .json), tied to a reference fingerprint."""
    arrays = estimator.posterior_.to_arrays()
    if estimator.item_map_ is not None:
        arrays.update(estimator.item_map_.to_arrays("map_"))
    meta = {"params": estimator.get_params(), "reference": reference_fingerprint, **estimator.posterior_.state(),
            "calibration": [[b, lvl, k] for (b, lvl), k in estimator.calibration_.items()],
            "item_map": estimator.item_map_ is not None, "map_levels": list(estimator.map_levels_),
            "support": estimator.support_.state()}
    save_artifact(stem, arrays, meta, kind=ARTIFACT_KIND, version=ARTIFACT_VERSION)


def load(cls: type, stem: str | Path, graph: LineageGraph, reference_fingerprint: str) -> Any:
    """An estimator of class ``cls`` restored from ``stem``; refuses one fitted on another reference
    (or another state of it), and incomplete or foreign artifacts."""
    arrays, meta = load_artifact(stem, kind=ARTIFACT_KIND, version=ARTIFACT_VERSION, check=check_predictor)
    if meta.get("reference") != reference_fingerprint:
        raise ArtifactError(f"{stem}: the stored predictor was fitted on another reference (or before the "
                            "latest import); run `lm-eval-predict fit` again")
    try:
        estimator = cls(**meta["params"])
        estimator.posterior_ = Posterior.from_arrays(arrays, meta, graph, meta["params"], estimator.multipliers())
        estimator.item_map_ = ItemScoreMap.from_arrays(arrays, "map_") if meta["item_map"] else None
        estimator.calibration_ = {(b, lvl): float(k) for b, lvl, k in meta["calibration"]}
        estimator.map_levels_ = tuple(str(lvl) for lvl in meta["map_levels"])
        estimator.support_ = Support.from_state(meta["support"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{stem}: incomplete or foreign predictor artifact ({exc})") from None
    return estimator


def verify(stem: str | Path) -> None:
    """Check a stored predictor's checksums and array shapes without building it (ArtifactError if edited)."""
    load_artifact(stem, kind=ARTIFACT_KIND, version=ARTIFACT_VERSION, check=check_predictor)

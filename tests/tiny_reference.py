"""A tiny synthetic reference written to disk and fitted, for tests that run the commands on it."""
from __future__ import annotations

from pathlib import Path

from synthetic_lowrank import make_reference

from lrmf_plugin.api import Lrmf
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import ItemObservations, SourceData


def write_tiny_reference(path: Path, *, items: bool = True, fit: bool = True) -> dict:
    """Six families of four models; ``items=False`` keeps only the scores. Fitted unless ``fit=False``."""
    data, _ = make_reference(n_families=6, family_size=4, n_items=12, n_complete=10, seed=3)
    scores = data.scores.stack().dropna().rename("score").reset_index()
    scores.columns = ["model", "benchmark", "score"]
    blocks = [ItemObservations(b, list(data.models), list(block.items), block.values,
                               complete=data.benchmarks[b].items_complete)
              for b, block in data.items.items()] if items else []
    benchmarks = {b: i for b, i in data.benchmarks.items() if items or i.has_scores}
    meta = data.metadata.reset_index().rename(columns={"index": "model"})
    Reference.create(path).write_source(SourceData(key="tiny", kind="synthetic", location="test", scores=scores,
                                                   metadata=meta, edges=list(data.edges), items=blocks,
                                                   benchmarks=benchmarks))
    if fit:
        Lrmf(path).fit(progress=False, n_sweeps=2, calibrate=False)
    return {"path": path, "data": data}

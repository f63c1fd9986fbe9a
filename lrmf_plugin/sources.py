"""What one source brings to a reference, as an importer returns it, and the checks it must pass.

Importers build a :class:`SourceData`; :meth:`lrmf_plugin.reference.Reference.write_source` stores
it after :func:`validated` has checked every id, score and item value, so nothing half-valid is stored.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .metadata import METADATA_FIELDS
from .schema import RELATIONS, SCORE_RANGE, BenchmarkInfo, Edge


@dataclass
class ItemObservations:
    """Per-item values of one benchmark from one source: ``values[model, item]`` in [0, 1], NaN = missing.

    ``complete`` says ``items`` is the whole benchmark (a full lm-eval run), not a subset.
    """

    benchmark: str
    models: list[str]
    items: list[str]
    values: np.ndarray
    complete: bool = False


@dataclass
class SourceData:
    """Everything one source brings, as an importer returns it and :meth:`Reference.write_source` stores it.

    ``key`` identifies the source: importing a source with the same key replaces the previous one.
    ``scores`` is long (model, benchmark, score); ``metadata`` has a ``model`` column plus canonical
    :data:`~lrmf_plugin.metadata.METADATA_FIELDS` columns; ``nodes`` lists models known only by
    name (e.g. ancestors from a lineage file). ``notes`` are one-line remarks for the import report.
    """

    key: str
    kind: str
    location: str
    scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["model", "benchmark", "score"]))
    metadata: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["model"]))
    edges: list[Edge] = field(default_factory=list)
    items: list[ItemObservations] = field(default_factory=list)
    benchmarks: dict[str, BenchmarkInfo] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: SHA-256 of what was read (file bytes, importer and options); re-importing the same bytes is a no-op
    checksum: str | None = None


@dataclass(frozen=True)
class SourceInfo:
    """One stored source, as listed by :meth:`Reference.sources`."""

    id: int
    key: str
    kind: str
    location: str
    imported_at: str
    n_models: int
    n_scores: int
    n_edges: int
    n_observations: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportReport:
    """What :meth:`Reference.write_source` stored."""

    source: SourceInfo
    benchmarks: tuple[str, ...]
    replaced: bool
    unchanged: bool = False

    def __str__(self) -> str:
        s = self.source
        if self.unchanged:
            return (f"unchanged: {s.kind} from {s.location} is byte-identical to the stored import of "
                    f"{s.imported_at}; kept it (a fitted predictor stays valid)")
        text = (f"imported {s.kind} from {s.location}: {s.n_models} models, {s.n_scores} scores, "
                f"{s.n_observations} item observations, {s.n_edges} lineage edges")
        if self.benchmarks:
            text += f"; benchmarks: {', '.join(self.benchmarks)}"
        if self.replaced:
            text += " (replaced the previous import of this source)"
        return "\n".join([text, *s.notes])


def content_checksum(kind: str, path: str | Path, options: dict[str, Any]) -> str | None:
    """SHA-256 of what an import reads: the importer, its options and the bytes of the file (or of
    every file under a directory, with their relative paths); None when they cannot be read (the
    importer then says why)."""
    path = Path(path)
    h = hashlib.sha256(json.dumps([kind, sorted(options.items())], default=str).encode())
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode() + b"\0")
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def plain_value(value: Any) -> Any:
    """numpy scalars -> Python scalars, so they serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value


def source_models(src: SourceData) -> list[str]:
    """Every model id a source mentions."""
    models = set(src.scores["model"]) | set(src.metadata["model"]) | set(src.nodes)
    for e in src.edges:
        models.update((e.parent, e.child))
    for o in src.items:
        models.update(o.models)
    return sorted(models)


def check_ids(values: Any, what: str, where: str) -> None:
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"{where}: {what} #{i + 1} is empty or not text ({v!r})")
        if "\n" in v or "\r" in v:
            raise InputError(f"{where}: {what} {v!r} contains a line break")


def check_score_values(scores: pd.DataFrame, where: str) -> None:
    """Every score finite and on the reference's scale, whichever importer or pull produced it."""
    values = pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        r = scores.iloc[bad[0]]
        raise InputError(f"{where}: score of {r['model']!r} on {r['benchmark']!r} is not a finite number ({plain_value(r['score'])!r})")
    low, high = SCORE_RANGE
    bad = np.flatnonzero((values < low) | (values > high))
    if len(bad):
        r = scores.iloc[bad[0]]
        raise InputError(f"{where}: score {plain_value(r['score'])!r} of {r['model']!r} on {r['benchmark']!r} "
                         f"is outside [{low:g}, {high:g}]")


def validated(src: SourceData) -> SourceData:
    """Check a source before anything is written; fills in missing :class:`BenchmarkInfo` entries."""
    where = f"source {src.key!r}"
    if not src.key or not src.kind:
        raise InputError(f"{where}: a source needs a key and a kind")
    missing = {"model", "benchmark", "score"} - set(src.scores.columns)
    if missing:
        raise InputError(f"{where}: scores lack columns {', '.join(sorted(missing))}")
    check_ids(src.scores["model"], "score model id", where)
    check_ids(src.scores["benchmark"], "score benchmark name", where)
    check_score_values(src.scores, where)
    dup = src.scores.duplicated(["model", "benchmark"])
    if dup.any():
        r = src.scores[dup].iloc[0]
        raise InputError(f"{where}: two scores for {r['model']!r} on {r['benchmark']!r}")
    if "model" not in src.metadata.columns:
        raise InputError(f"{where}: metadata lacks the 'model' column")
    unknown = set(src.metadata.columns) - set(METADATA_FIELDS) - {"model"}
    if unknown:
        raise InputError(f"{where}: unknown metadata fields {', '.join(sorted(unknown))}")
    check_ids(src.metadata["model"], "metadata model id", where)
    if src.metadata["model"].duplicated().any():
        raise InputError(f"{where}: metadata lists {src.metadata['model'][src.metadata['model'].duplicated()].iloc[0]!r} twice")
    for e in src.edges:
        check_ids((e.parent, e.child), "lineage model id", where)
        if e.relation not in RELATIONS:
            raise InputError(f"{where}: edge {e.parent} -> {e.child} has unknown relation {e.relation!r}")
    check_ids(src.nodes, "node id", where)
    seen_blocks: set[str] = set()
    for o in src.items:
        bw = f"{where}, items of {o.benchmark!r}"
        check_ids([o.benchmark], "benchmark name", where)
        if o.benchmark in seen_blocks:
            raise InputError(f"{bw}: benchmark given twice (merge the observations into one block)")
        seen_blocks.add(o.benchmark)
        check_ids(o.models, "model id", bw)
        check_ids(o.items, "item id", bw)
        if len(set(o.models)) != len(o.models):
            raise InputError(f"{bw}: a model appears twice")
        if len(set(o.items)) != len(o.items):
            raise InputError(f"{bw}: an item id appears twice")
        v = np.asarray(o.values, dtype=np.float32)
        if v.shape != (len(o.models), len(o.items)):
            raise InputError(f"{bw}: values have shape {v.shape}, expected {(len(o.models), len(o.items))}")
        bad_cells = np.argwhere(~np.isnan(v) & ((v < 0) | (v > 1)))
        if len(bad_cells):
            i, j = bad_cells[0]
            raise InputError(f"{bw}: value {float(v[i, j])!r} for model {o.models[i]!r}, item {o.items[j]!r} is outside [0, 1]")
        o.values = v
    benchmarks = dict(src.benchmarks)
    scored = set(src.scores["benchmark"])
    for name in scored | seen_blocks:
        info = benchmarks.get(name) or BenchmarkInfo(name=name)
        block = next((o for o in src.items if o.benchmark == name), None)
        benchmarks[name] = BenchmarkInfo(name=name, suite=info.suite, has_scores=name in scored or info.has_scores,
                                         n_items=len(block.items) if block else 0,
                                         items_complete=bool(block and block.complete))
    src.benchmarks = benchmarks
    return src

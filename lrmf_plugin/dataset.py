"""The in-memory view of a reference that predictors fit on.

:class:`ReferenceData` is produced by :meth:`lrmf_plugin.reference.Reference.load_data` and by tests
directly (synthetic data), and consumed by every predictor, so the algorithms never touch storage.
Rows of every matrix follow ``models``; ancestors that only appear in lineage are rows too (all NaN).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .schema import BenchmarkInfo, Edge, ModelQuery


@dataclass
class ItemBlock:
    """Item observations of one benchmark: ``values[model_row, item_col]`` in [0, 1], NaN = unobserved."""

    items: list[str]
    values: np.ndarray  # float32, shape (n_models, n_items)

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.items):
            raise ValueError("ItemBlock values must be (n_models, len(items))")
        # item id -> column, built once: queries ask for a few items of a block of thousands
        self.position = {it: j for j, it in enumerate(self.items)}


@dataclass
class ReferenceData:
    """Models x (benchmark scores, item observations), plus lineage edges and metadata.

    ``scores`` is a DataFrame indexed by ``models`` with one column per benchmark that has scores
    (NaN = unknown); ``items`` maps benchmark -> :class:`ItemBlock`; ``metadata`` is indexed by
    ``models`` with the canonical :data:`lrmf_plugin.metadata.METADATA_FIELDS` columns.
    """

    models: list[str]
    scores: pd.DataFrame
    items: dict[str, ItemBlock]
    metadata: pd.DataFrame
    edges: list[Edge]
    benchmarks: dict[str, BenchmarkInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.models)
        if len(set(self.models)) != n:
            raise ValueError("ReferenceData.models has duplicates")
        self.scores = self.scores.reindex(self.models)
        self.metadata = self.metadata.reindex(self.models)
        for name, block in self.items.items():
            if block.values.shape[0] != n:
                raise ValueError(f"item block {name!r} has {block.values.shape[0]} rows for {n} models")
        for name in list(self.scores.columns) + list(self.items):
            if name not in self.benchmarks:
                self.benchmarks[name] = BenchmarkInfo(
                    name=name, has_scores=name in self.scores.columns,
                    n_items=len(self.items[name].items) if name in self.items else 0)

    @cached_property
    def index(self) -> dict[str, int]:
        """Model id -> row (built once: backtests look rows up many times per model)."""
        return {m: i for i, m in enumerate(self.models)}

    def benchmark_names(self) -> list[str]:
        """Every benchmark a prediction is made for, in a stable order."""
        return sorted(self.benchmarks)

    def has_data(self) -> np.ndarray:
        """Boolean per model row: any score or item observed (False for lineage-only ancestors)."""
        mask = self.scores.notna().any(axis=1).to_numpy().copy()
        for block in self.items.values():
            mask |= ~np.isnan(block.values).all(axis=1)
        return mask

    def fingerprint(self) -> str:
        """A short hash of the shape and content, so a stored predictor can refuse another reference."""
        h = hashlib.sha256()
        h.update("\n".join(self.models).encode())
        h.update(np.ascontiguousarray(self.scores.to_numpy(dtype=np.float64)).tobytes())
        for name in sorted(self.items):
            h.update(name.encode())
            h.update("\n".join(self.items[name].items).encode())
            h.update(np.ascontiguousarray(self.items[name].values).tobytes())
        h.update("\n".join(f"{e.parent}\t{e.child}\t{e.relation}" for e in sorted(self.edges, key=lambda e: (e.parent, e.child, e.relation))).encode())
        return h.hexdigest()[:16]

    def subset(self, keep: np.ndarray) -> "ReferenceData":
        """Rows where ``keep`` is True; the other models stay as data-less lineage nodes (for backtests)."""
        keep = np.asarray(keep, dtype=bool)
        scores = self.scores.copy()
        scores.iloc[~keep, :] = np.nan
        items = {}
        for name, block in self.items.items():
            values = block.values.copy()
            values[~keep, :] = np.nan
            items[name] = ItemBlock(block.items, values)
        return ReferenceData(list(self.models), scores, items, self.metadata.copy(), list(self.edges),
                             dict(self.benchmarks))

    def random_items(self, row: int, k: int, rng: np.random.Generator) -> dict[str, list[str]]:
        """Up to ``k`` items per benchmark, uniformly among the items row ``row`` has values for: the
        random plans of the backtest and of the calibration pass (ids in each block's order)."""
        plan = {}
        for b in sorted(self.items):
            block = self.items[b]
            have = np.flatnonzero(~np.isnan(block.values[row]))
            if len(have):
                pick = rng.choice(have, size=min(k, len(have)), replace=False)
                plan[b] = [block.items[j] for j in sorted(pick)]
        return plan

    def query(self, model: str, *, benchmarks_known: tuple[str, ...] = (), items: dict[str, list[str]] | None = None,
              with_lineage: bool = False) -> ModelQuery:
        """A :class:`ModelQuery` revealing chosen parts of a model's own data (backtests, tests).

        Metadata is always revealed; lineage comes from the edges the reference already has unless
        ``with_lineage`` copies them into ``parents`` explicitly.
        """
        row = self.index[model]
        meta = {k: v for k, v in self.metadata.iloc[row].items() if not (isinstance(v, float) and np.isnan(v)) and v is not None}
        q = ModelQuery(model=model, metadata=meta)
        for b in benchmarks_known:
            v = self.scores.iloc[row].get(b)
            if v is not None and not np.isnan(v):
                q.scores[b] = float(v)
        for b, ids in (items or {}).items():
            block = self.items[b]
            values = block.values[row, [block.position[it] for it in ids]]
            q.items[b] = {it: float(v) for it, v in zip(ids, values) if not np.isnan(v)}
        if with_lineage:
            q.parents = [(e.parent, e.relation) for e in self.edges if e.child == model]
        return q

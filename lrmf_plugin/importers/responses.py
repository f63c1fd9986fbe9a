"""Wide per-item correctness CSVs: a ``model`` column, then one 0/1 column per item id.

These are subsets of a benchmark's questions (e.g. the metabench selections), so they are stored
as incomplete: the benchmark's full score comes from a leaderboard source, not from their mean.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..schema import BenchmarkInfo
from . import reject_options, source_key
from .csv_table import cell_where, read_table

_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "": np.nan}


def read(path: Path, benchmark: str | None = None, **options: Any):
    """Rows are models, columns item ids, cells 0, 1 or empty (not evaluated)."""
    from ..sources import ItemObservations, SourceData

    reject_options("responses", options)
    if not benchmark or not str(benchmark).strip():
        raise InputError(f"{path}: --benchmark NAME is required for responses (which benchmark the items belong to)")
    benchmark = str(benchmark).strip()
    df = read_table(path, required=("model",))
    items = [c for c in df.columns if c != "model"]
    if not items:
        raise InputError(f"{path}: no item columns besides 'model'")
    models = df["model"]
    empty = np.flatnonzero((models == "").to_numpy())
    if len(empty):
        raise InputError(f"{cell_where(path, df.index[empty[0]], 'model')}: empty model id")
    dup = np.flatnonzero(models.duplicated().to_numpy())
    if len(dup):
        raise InputError(f"{cell_where(path, df.index[dup[0]], 'model')}: model {models.iloc[dup[0]]!r} appears twice")
    cells = df[items].to_numpy(dtype=str)
    bad = np.argwhere(~np.isin(cells, list(_VALUES)))
    if len(bad):
        r, c = bad[0]
        raise InputError(f"{cell_where(path, df.index[r], items[c])}: {str(cells[r, c])!r} is not 0, 1 or empty")
    values = np.full(cells.shape, np.nan, dtype=np.float32)
    values[np.isin(cells, ["1", "1.0"])] = 1.0
    values[np.isin(cells, ["0", "0.0"])] = 0.0
    return SourceData(
        key=source_key("responses", path, benchmark), kind="responses", location=str(Path(path).resolve()),
        items=[ItemObservations(benchmark, models.tolist(), items, values, complete=False)],
        benchmarks={benchmark: BenchmarkInfo(name=benchmark, n_items=len(items))})

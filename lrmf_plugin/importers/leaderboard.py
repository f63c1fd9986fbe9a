"""The Open LLM Leaderboard CSV exports (v2 flat CSV and v1 CSV): scores, metadata, root lineage.

Scores are the leaderboard's own 0-100 numbers (v2: normalised, random baseline removed), so they
compare directly with what the Hub ``contents`` dataset gives for new models.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..metadata import COLUMN_ALIASES, METADATA_FIELDS, normalise_metadata
from ..schema import BenchmarkInfo, Edge
from . import reject_options, source_key
from .csv_table import cell_where, parse_score, read_table

#: v2 benchmark -> its score column in the flat CSV
V2_SCORE_COLUMNS: dict[str, str] = {
    b: f"evaluations_{b}_normalized_score" for b in ("ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro")}
V1_BENCHMARKS: tuple[str, ...] = ("arc", "hellaswag", "mmlu", "truthfulqa", "winogrande", "gsm8k")


def read_v2(path: Path, **options: Any):
    """Leaderboard v2 flat CSV: one row per evaluation, keyed by ``model_name``.

    A model evaluated several times (another precision or revision) keeps its latest
    ``metadata_submission_date``. ``metadata_base_model`` is the leaderboard's *root* ancestor, so
    it becomes a ``family`` edge (root -> model) unless it names the model itself, is ``Removed``
    (unknown) or ``X (Merge)`` (the leaderboard stops at merges and mostly names the model itself).
    """
    reject_options("leaderboard-v2", options)
    df = read_table(path, required=("model_name", *V2_SCORE_COLUMNS.values()))
    df, notes = _deduplicate(path, df, "model_name", date_column="metadata_submission_date")
    src = _leaderboard_source("leaderboard-v2", path, df, "model_name", V2_SCORE_COLUMNS, "v2", notes)
    if "metadata_base_model" in df.columns:
        for model, root in zip(df["model_name"], df["metadata_base_model"]):
            if root and root != model and root != "Removed" and not root.endswith("(Merge)"):
                src.edges.append(Edge(root, model, "family"))
    return src


def read_v1(path: Path, **options: Any):
    """Leaderboard v1 CSV (``name`` + six 0-100 scores; empty/NaN where a run is missing)."""
    reject_options("leaderboard-v1", options)
    df = read_table(path, required=("name", *V1_BENCHMARKS))
    df, notes = _deduplicate(path, df, "name", date_column=None)
    return _leaderboard_source("leaderboard-v1", path, df, "name", {b: b for b in V1_BENCHMARKS}, "v1", notes)


def _deduplicate(path: Path, df: pd.DataFrame, id_column: str, date_column: str | None):
    """Keep one row per model: the latest by ``date_column`` (ties and no date: the last row)."""
    empty = df.index[df[id_column] == ""]
    if len(empty):
        raise InputError(f"{cell_where(path, empty[0], id_column)}: empty model id")
    if date_column in df.columns:
        df = df.sort_values(date_column, kind="stable")
    n = len(df)
    df = df.drop_duplicates(id_column, keep="last").sort_index()
    notes = [f"{n - len(df)} repeated rows dropped (kept the latest evaluation of each model)"] if len(df) < n else []
    return df, notes


def _leaderboard_source(kind: str, path: Path, df: pd.DataFrame, id_column: str,
                        score_columns: dict[str, str], suite: str, notes: list[str]):
    from ..sources import SourceData

    rows = []
    skipped = 0
    for benchmark, column in score_columns.items():
        for i, model, text in zip(df.index, df[id_column], df[column]):
            value = parse_score(path, i, column, text)
            if value is None:
                skipped += 1
            else:
                rows.append((model, benchmark, value))
    if skipped:
        notes.append(f"{skipped} missing scores skipped")
    meta_columns = [c for c in df.columns if c in COLUMN_ALIASES]
    records = []
    for i, row in zip(df.index, df[meta_columns].to_dict("records")):
        meta = normalise_metadata(row, where=f"{path}: line {i}")
        records.append({"model": df.at[i, id_column], **meta})
    metadata = pd.DataFrame.from_records(records, columns=["model", *METADATA_FIELDS]).dropna(axis=1, how="all")
    return SourceData(
        key=source_key(kind, path), kind=kind, location=str(Path(path).resolve()),
        scores=pd.DataFrame(rows, columns=["model", "benchmark", "score"]), metadata=metadata,
        benchmarks={b: BenchmarkInfo(name=b, suite=suite, has_scores=True) for b in score_columns},
        notes=notes)

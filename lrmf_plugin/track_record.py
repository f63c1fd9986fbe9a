"""The prediction log: every prediction published about a model, and what was measured later.

The bot writes it (one SQLite file, ``--state``), the Space reads it (``LRMF_BOT_STATE``) to show a
leaderboard of predictions and a predicted-vs-measured track record. Both go through this module, so
neither face imports the other. Other tables may live in the same file (the bot's own poll state).
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import ReferenceStoreError
from .schema import Prediction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    revision TEXT,
    created_at TEXT NOT NULL,
    predictor TEXT NOT NULL,
    parents TEXT NOT NULL,        -- JSON list of [parent, relation]
    inputs TEXT NOT NULL,         -- JSON: metadata and anything else the prediction used
    discussion_url TEXT           -- set once the prediction is posted
);
CREATE INDEX IF NOT EXISTS predictions_model ON predictions(model);
CREATE TABLE IF NOT EXISTS prediction_scores (
    prediction_id INTEGER NOT NULL REFERENCES predictions(id) ON DELETE CASCADE,
    benchmark TEXT NOT NULL,
    predicted REAL NOT NULL,
    lower REAL,
    upper REAL,
    PRIMARY KEY (prediction_id, benchmark)
);
CREATE TABLE IF NOT EXISTS measured_scores (
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    score REAL NOT NULL,
    measured_at TEXT NOT NULL,
    PRIMARY KEY (model, benchmark)
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class LoggedPrediction:
    """One logged prediction with its per-benchmark scores."""

    id: int
    model: str
    revision: str | None
    created_at: str
    predictor: str
    parents: list[tuple[str, str]]
    inputs: dict[str, Any]
    discussion_url: str | None
    scores: list[Prediction] = field(default_factory=list)


class PredictionLog:
    """A SQLite prediction log at ``path`` (created on first write; read-only use never creates it)."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise ReferenceStoreError(f"{self.path}: prediction log not found")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as con, con:
                con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA foreign_keys = ON")
        return con

    def record(self, model: str, predictions: Iterable[Prediction], *, predictor: str,
               parents: Iterable[tuple[str, str]] = (), inputs: dict[str, Any] | None = None,
               revision: str | None = None, created_at: str | None = None) -> int:
        """Store one prediction (all benchmarks) in a single transaction; returns its id."""
        preds = list(predictions)
        with closing(self._connect()) as con, con:
            cur = con.execute(
                "INSERT INTO predictions(model, revision, created_at, predictor, parents, inputs) VALUES (?,?,?,?,?,?)",
                (model, revision, created_at or _now(), predictor,
                 json.dumps([list(p) for p in parents]), json.dumps(inputs or {}, default=str, sort_keys=True)))
            pid = int(cur.lastrowid)
            con.executemany(
                "INSERT INTO prediction_scores VALUES (?,?,?,?,?)",
                [(pid, p.benchmark, float(p.predicted), _opt(p.lower), _opt(p.upper)) for p in preds])
        return pid

    def set_discussion(self, prediction_id: int, url: str) -> None:
        """Remember where a prediction was posted."""
        with closing(self._connect()) as con, con:
            con.execute("UPDATE predictions SET discussion_url = ? WHERE id = ?", (url, prediction_id))

    def record_measured(self, model: str, scores: dict[str, float], measured_at: str | None = None) -> None:
        """Store measured scores (e.g. once the leaderboard evaluates a predicted model)."""
        with closing(self._connect()) as con, con:
            con.executemany("INSERT OR REPLACE INTO measured_scores VALUES (?,?,?,?)",
                            [(model, b, float(s), measured_at or _now()) for b, s in scores.items()])

    def latest(self, model: str) -> LoggedPrediction | None:
        """The newest prediction for ``model``, or None."""
        found = self.predictions(model=model, latest_only=True)
        return found[0] if found else None

    def predictions(self, *, model: str | None = None, latest_only: bool = True) -> list[LoggedPrediction]:
        """Logged predictions, newest first; with ``latest_only`` one per model."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as con:
            con.row_factory = sqlite3.Row
            sql = "SELECT * FROM predictions" + (" WHERE model = ?" if model else "") + " ORDER BY created_at DESC, id DESC"
            rows = con.execute(sql, (model,) if model else ()).fetchall()
            seen: set[str] = set()
            out = []
            for r in rows:
                if latest_only and r["model"] in seen:
                    continue
                seen.add(r["model"])
                scores = [Prediction(r["model"], s["benchmark"], s["predicted"], _nan(s["lower"]), _nan(s["upper"]))
                          for s in con.execute("SELECT * FROM prediction_scores WHERE prediction_id = ? ORDER BY benchmark", (r["id"],))]
                out.append(LoggedPrediction(r["id"], r["model"], r["revision"], r["created_at"], r["predictor"],
                                            [tuple(p) for p in json.loads(r["parents"])], json.loads(r["inputs"]),
                                            r["discussion_url"], scores))
        return out

    def table(self) -> pd.DataFrame:
        """Latest prediction per model x benchmark joined with measured scores (NaN when unknown)."""
        cols = ["model", "benchmark", "predicted", "lower", "upper", "measured", "created_at", "parents", "discussion_url"]
        rows = []
        measured = self.measured()
        for lp in self.predictions(latest_only=True):
            for p in lp.scores:
                rows.append({"model": lp.model, "benchmark": p.benchmark, "predicted": p.predicted, "lower": p.lower,
                             "upper": p.upper, "measured": measured.get((lp.model, p.benchmark), float("nan")),
                             "created_at": lp.created_at, "parents": "; ".join(f"{a} ({r})" for a, r in lp.parents),
                             "discussion_url": lp.discussion_url})
        return pd.DataFrame(rows, columns=cols)

    def measured(self) -> dict[tuple[str, str], float]:
        """(model, benchmark) -> measured score."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as con:
            return {(m, b): s for m, b, s, _ in con.execute("SELECT * FROM measured_scores")}


def _opt(x: float) -> float | None:
    return None if x is None or x != x else float(x)


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)

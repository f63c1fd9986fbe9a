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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import ReferenceStoreError
from .schema import Prediction
from .sources import SourceData

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
    source TEXT,                  -- where the score was read (an eval-results file, a leaderboard CSV...)
    PRIMARY KEY (model, benchmark)
);
CREATE TABLE IF NOT EXISTS measurement_checks (
    model TEXT PRIMARY KEY,
    checked_at TEXT NOT NULL      -- when the model's evaluation results were last read on the Hub
);
"""
#: the evidence of a prediction logged before the bot recorded what a prediction stood on
NOT_RECORDED = "not recorded"
#: how often a predicted model's evaluation results are read again: daily while the prediction is
#: young (results come soon after a release, or not for long), weekly after that
DAILY_FOR = timedelta(days=90)
DAILY, WEEKLY = timedelta(days=1), timedelta(days=7)


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
                if "source" not in _columns(con, "measured_scores"):  # a log written before scores had a source
                    con.execute("ALTER TABLE measured_scores ADD COLUMN source TEXT")

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

    def record_measured(self, model: str, scores: dict[str, float], measured_at: str | None = None,
                        source: str | None = None) -> None:
        """Store measured scores (e.g. once the leaderboard evaluates a predicted model): when, and read where."""
        with closing(self._connect()) as con, con:
            con.executemany("INSERT OR REPLACE INTO measured_scores(model, benchmark, score, measured_at, source) "
                            "VALUES (?,?,?,?,?)",
                            [(model, b, float(s), measured_at or _now(), source) for b, s in scores.items()])

    def record_predicted_measured(self, scores: dict[str, dict[str, float]], source: str,
                                  measured_at: str | None = None) -> int:
        """Record ``{model: {benchmark: score}}`` for the logged models and the benchmarks their latest
        prediction covers (the rest is not this log's business); returns how many scores were recorded."""
        n = 0
        for lp in self.predictions(latest_only=True):
            predicted = {p.benchmark for p in lp.scores}
            found = {b: v for b, v in scores.get(lp.model, {}).items() if b in predicted}
            if found:
                self.record_measured(lp.model, found, measured_at, source)
                n += len(found)
        return n

    def due_for_reread(self, now: datetime, limit: int) -> list[str]:
        """Predicted models whose evaluation results are due to be read again, longest unread first:
        each daily for :data:`DAILY_FOR` after its latest prediction, then weekly."""
        due = []
        checked = self._checked()
        for lp in self.predictions(latest_only=True):
            last = checked.get(lp.model)
            every = DAILY if now - _parse(lp.created_at) <= DAILY_FOR else WEEKLY
            if last is None or now - _parse(last) >= every:
                due.append((last or "", lp.model))
        return [m for _, m in sorted(due)[:limit]]

    def mark_checked(self, model: str, when: datetime) -> None:
        """Remember that ``model``'s evaluation results were read at ``when``."""
        with closing(self._connect()) as con, con:
            con.execute("INSERT OR REPLACE INTO measurement_checks VALUES (?,?)",
                        (model, when.astimezone(timezone.utc).isoformat(timespec="seconds")))

    def _checked(self) -> dict[str, str]:
        with closing(self._connect()) as con:
            return dict(con.execute("SELECT model, checked_at FROM measurement_checks"))

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
        cols = ["model", "benchmark", "predicted", "lower", "upper", "measured", "created_at", "parents", "discussion_url",
                "evidence", "measured_at", "measured_source"]
        rows = []
        measured = self.measured_details()
        for lp in self.predictions(latest_only=True):
            for p in lp.scores:
                score, at, source = measured.get((lp.model, p.benchmark), (float("nan"), None, None))
                rows.append({"model": lp.model, "benchmark": p.benchmark, "predicted": p.predicted, "lower": p.lower,
                             "upper": p.upper, "measured": score, "created_at": lp.created_at,
                             "parents": "; ".join(f"{a} ({r})" for a, r in lp.parents),
                             "discussion_url": lp.discussion_url, "evidence": lp.inputs.get("evidence", NOT_RECORDED),
                             "measured_at": at, "measured_source": source})
        return pd.DataFrame(rows, columns=cols)

    def measured(self) -> dict[tuple[str, str], float]:
        """(model, benchmark) -> measured score."""
        return {k: v[0] for k, v in self.measured_details().items()}

    def measured_details(self) -> dict[tuple[str, str], tuple[float, str, str | None]]:
        """(model, benchmark) -> (measured score, when, source)."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as con:
            source = "source" if "source" in _columns(con, "measured_scores") else "NULL"
            return {(m, b): (s, at, src) for m, b, s, at, src in
                    con.execute(f"SELECT model, benchmark, score, measured_at, {source} FROM measured_scores")}


def source_scores(src: SourceData) -> dict[str, dict[str, float]]:
    """``{model: {benchmark: score}}`` a source measured: its scores, and the mean answer (x100) of a model
    that answered every item of a complete benchmark (a subset is evidence, not a measured score)."""
    out: dict[str, dict[str, float]] = {}
    for block in src.items:
        if not block.complete:
            continue
        for model, row in zip(block.models, block.values):
            if len(row) and not pd.isna(row).any():
                out.setdefault(model, {})[block.benchmark] = 100.0 * float(row.astype("float64").mean())
    for model, bench, score in src.scores[["model", "benchmark", "score"]].itertuples(index=False):
        out.setdefault(model, {})[bench] = float(score)
    return out


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def _parse(stamp: str) -> datetime:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _opt(x: float) -> float | None:
    return None if x is None or x != x else float(x)


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)

"""The bot's own memory, in the same SQLite file as its prediction log (``--state``).

What must survive a restart lives here: the high-water mark of the Hub listing, every candidate
model with its state and next check, every discussion the bot opened (or found already open), the
opt-outs it learned and a report per run. The Hub stays the authority on "have we posted here?":
this file is a cache of it, so losing it can never cause a second thread on a repo.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lrmf_plugin.errors import ReferenceStoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bot_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bot_models (
    model TEXT PRIMARY KEY,
    created_at TEXT,                  -- on the Hub (first_seen when the listing omitted it)
    first_seen TEXT NOT NULL,
    checks INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    next_check TEXT NOT NULL,
    state TEXT NOT NULL,              -- pending | dry-run | posted | skipped
    reason TEXT,
    sha TEXT,
    prediction_id INTEGER,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bot_models_due ON bot_models(state, next_check);
CREATE TABLE IF NOT EXISTS bot_posts (
    model TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    discussion_num INTEGER NOT NULL,
    discussion_url TEXT NOT NULL,
    status TEXT NOT NULL,             -- open | closed (as last seen on the Hub)
    posted_at TEXT NOT NULL,
    adopted INTEGER NOT NULL DEFAULT 0,  -- found on the Hub, not created by this state file
    prediction_id INTEGER,
    sha TEXT,
    last_sweep TEXT
);
CREATE TABLE IF NOT EXISTS bot_optouts (
    scope TEXT NOT NULL,              -- namespace | repo
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE IF NOT EXISTS bot_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    report TEXT NOT NULL
);
"""


def iso(t: datetime) -> str:
    """UTC ISO-8601 text that sorts like the time it names."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Candidate:
    """A model the bot has seen and not finished with."""

    model: str
    created_at: datetime | None
    first_seen: datetime
    checks: int
    errors: int
    state: str
    reason: str | None
    sha: str | None
    prediction_id: int | None


@dataclass(frozen=True)
class Post:
    """A bot discussion on a model repo."""

    model: str
    namespace: str
    discussion_num: int
    discussion_url: str
    status: str
    posted_at: datetime
    adopted: bool
    prediction_id: int | None
    sha: str | None


class BotState:
    """Open (creating if needed) the bot tables in the SQLite file at ``path``."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        self._con: sqlite3.Connection | None = None
        if not create and not self.path.exists():
            raise ReferenceStoreError(f"{self.path}: bot state not found (run `lrmf-bot run` first)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._tx() as con:
                # write-ahead log: a commit needs no fsync (a run updates a row per model it looks
                # at), readers such as the Space never block the bot, and a killed process still
                # leaves every committed transaction intact
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ReferenceStoreError(f"{self.path}: cannot open the bot state ({exc})") from None

    def _tx(self) -> Any:
        if self._con is None:
            # one connection for the object's life: closing the last connection checkpoints the
            # write-ahead log with an fsync, which per transaction made a run crawl
            self._con = sqlite3.connect(self.path, timeout=30)
            self._con.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: safe against a crash of the process
        return _Tx(self._con)

    def close(self) -> None:
        """Close the connection (the write-ahead log is folded back into the file)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        with self._tx() as con:
            row = con.execute("SELECT value FROM bot_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as con:
            con.execute("INSERT OR REPLACE INTO bot_meta VALUES (?, ?)", (key, value))

    @property
    def high_water(self) -> datetime | None:
        """Creation time of the newest model any committed listing returned."""
        return parse_iso(self.get_meta("high_water"))

    def advance_high_water(self, t: datetime) -> None:
        if self.high_water is None or t > self.high_water:
            self.set_meta("high_water", iso(t))

    def backlog(self) -> list[dict[str, str]]:
        """Unfinished listings: ``{"next": page address, "stop_at": iso, "below": iso}`` each.

        A listing cut by the scan limit leaves the models created between ``stop_at`` and ``below``
        unread; ``next`` is the Hub's own next-page address (a keyset cursor), so reading goes on
        exactly where it stopped.
        """
        return json.loads(self.get_meta("listing_backlog") or "[]")

    def set_backlog(self, segments: list[dict[str, str]]) -> None:
        self.set_meta("listing_backlog", json.dumps(segments))

    @property
    def paused_until(self) -> datetime | None:
        """Set after a 429: runs before this time do nothing."""
        return parse_iso(self.get_meta("paused_until"))

    # ------------------------------------------------------------------ candidates
    def add_candidates(self, rows: list[tuple[str, datetime | None, str | None]], now: datetime) -> int:
        """Insert unseen ``(model, created_at, sha)``; returns how many were new. One transaction."""
        with self._tx() as con:
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO bot_models(model, created_at, first_seen, next_check, state, sha, updated_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                [(m, iso(c) if c else iso(now), iso(now), iso(now), sha, iso(now)) for m, c, sha in rows])
            return con.total_changes - before

    def due(self, now: datetime, states: tuple[str, ...] = ("pending",)) -> list[Candidate]:
        """Candidates in ``states`` whose next check has come, oldest first."""
        marks = ",".join("?" * len(states))
        with self._tx() as con:
            rows = con.execute(
                f"SELECT model, created_at, first_seen, checks, errors, state, reason, sha, prediction_id FROM bot_models "
                f"WHERE state IN ({marks}) AND next_check <= ? ORDER BY created_at, model", (*states, iso(now))).fetchall()
        return [_candidate(r) for r in rows]

    def candidate(self, model: str) -> Candidate | None:
        with self._tx() as con:
            r = con.execute("SELECT model, created_at, first_seen, checks, errors, state, reason, sha, prediction_id "
                            "FROM bot_models WHERE model = ?", (model,)).fetchone()
        return _candidate(r) if r else None

    def update(self, model: str, now: datetime, *, state: str | None = None, reason: str | None = None,
               next_check: datetime | None = None, checked: bool = False, error: bool = False,
               sha: str | None = None, prediction_id: int | None = None) -> None:
        """Change one candidate; ``reason`` is always replaced (None clears it)."""
        sets, params = ["reason = ?", "updated_at = ?"], [reason, iso(now)]
        for column, value in (("state", state), ("sha", sha), ("prediction_id", prediction_id)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if next_check is not None:
            sets.append("next_check = ?")
            params.append(iso(next_check))
        if checked:
            sets.append("checks = checks + 1")
        if error:
            sets.append("errors = errors + 1")
        with self._tx() as con:
            con.execute(f"UPDATE bot_models SET {', '.join(sets)} WHERE model = ?", (*params, model))

    # ------------------------------------------------------------------ posts
    def record_post(self, model: str, num: int, url: str, status: str, posted_at: datetime, now: datetime, *,
                    adopted: bool, prediction_id: int | None, sha: str | None) -> None:
        """Remember a bot thread and finish the candidate, in one transaction."""
        with self._tx() as con:
            con.execute("INSERT OR REPLACE INTO bot_posts VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (model, model.split("/")[0], num, url, status, iso(posted_at), int(adopted), prediction_id,
                         sha, iso(now)))
            con.execute("UPDATE bot_models SET state = 'posted', reason = ?, updated_at = ? WHERE model = ?",
                        ("found an existing bot thread" if adopted else None, iso(now), model))

    def post(self, model: str) -> Post | None:
        with self._tx() as con:
            r = con.execute("SELECT model, namespace, discussion_num, discussion_url, status, posted_at, adopted, "
                            "prediction_id, sha FROM bot_posts WHERE model = ?", (model,)).fetchone()
        return _post(r) if r else None

    def posts(self) -> list[Post]:
        with self._tx() as con:
            rows = con.execute("SELECT model, namespace, discussion_num, discussion_url, status, posted_at, adopted, "
                               "prediction_id, sha FROM bot_posts ORDER BY posted_at DESC").fetchall()
        return [_post(r) for r in rows]

    def last_post_in(self, namespace: str) -> datetime | None:
        with self._tx() as con:
            row = con.execute("SELECT MAX(posted_at) FROM bot_posts WHERE namespace = ?", (namespace,)).fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def to_sweep(self, now: datetime, every: timedelta, limit: int) -> list[Post]:
        """Open threads not looked at for ``every``, least recently looked at first."""
        with self._tx() as con:
            rows = con.execute(
                "SELECT model, namespace, discussion_num, discussion_url, status, posted_at, adopted, prediction_id, sha "
                "FROM bot_posts WHERE status = 'open' AND last_sweep <= ? ORDER BY last_sweep LIMIT ?",
                (iso(now - every), limit)).fetchall()
        return [_post(r) for r in rows]

    def set_post(self, model: str, now: datetime, *, status: str | None = None, sha: str | None = None,
                 prediction_id: int | None = None) -> None:
        sets, params = ["last_sweep = ?"], [iso(now)]
        for column, value in (("status", status), ("sha", sha), ("prediction_id", prediction_id)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        with self._tx() as con:
            con.execute(f"UPDATE bot_posts SET {', '.join(sets)} WHERE model = ?", (*params, model))

    # ------------------------------------------------------------------ opt-outs
    def opt_out(self, scope: str, name: str, reason: str, now: datetime) -> None:
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO bot_optouts VALUES (?, ?, ?, ?)", (scope, name, reason, iso(now)))

    def opted_out(self, model: str) -> str | None:
        """Why ``model`` (or its namespace) is opted out, or None."""
        with self._tx() as con:
            row = con.execute("SELECT scope, reason FROM bot_optouts WHERE (scope = 'repo' AND name = ?) "
                              "OR (scope = 'namespace' AND name = ?)", (model, model.split("/")[0])).fetchone()
        return f"{row[0]} opted out ({row[1]})" if row else None

    def optouts(self) -> list[tuple[str, str, str, str]]:
        with self._tx() as con:
            return con.execute("SELECT scope, name, reason, created_at FROM bot_optouts ORDER BY created_at").fetchall()

    # ------------------------------------------------------------------ runs and status
    def record_run(self, started_at: datetime, report: dict[str, Any]) -> None:
        with self._tx() as con:
            con.execute("INSERT INTO bot_runs(started_at, report) VALUES (?, ?)", (iso(started_at), json.dumps(report)))

    def last_run(self) -> tuple[str, dict[str, Any]] | None:
        with self._tx() as con:
            row = con.execute("SELECT started_at, report FROM bot_runs ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def counts(self) -> dict[str, dict[str, int]]:
        """state -> reason -> number of models."""
        out: dict[str, dict[str, int]] = {}
        with self._tx() as con:
            for state, reason, n in con.execute(
                    "SELECT state, COALESCE(reason, ''), COUNT(*) FROM bot_models GROUP BY state, reason"):
                out.setdefault(state, {})[reason] = n
        return out


class _Tx:
    """The state's one connection used as one transaction: commit on success, rollback on error."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.con.commit()
        else:
            self.con.rollback()


def _candidate(r: tuple) -> Candidate:
    return Candidate(r[0], parse_iso(r[1]), parse_iso(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])


def _post(r: tuple) -> Post:
    return Post(r[0], r[1], r[2], r[3], r[4], parse_iso(r[5]), bool(r[6]), r[7], r[8])


__all__ = ["BotState", "Candidate", "Post", "iso", "parse_iso"]

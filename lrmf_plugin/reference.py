"""The reference: an on-disk store of everything known about existing models.

Layout of a reference directory::

    DIR/reference.sqlite        sources, models + metadata, benchmark scores, lineage edges, benchmarks
    DIR/items/<source_id>.npz   item observation blocks (bit-packed 0/1 or uint8), one artifact per source
    DIR/predictor/              fitted predictor artifacts (see lrmf_plugin.models.lrmf)

Everything is stored per *source* (one imported file, directory or Hub pull), so re-importing a
source replaces exactly what it brought and nothing else, and an import is one SQLite transaction:
the items file is written while the transaction is open and removed if it rolls back, so a failed
import leaves the reference as it was. Where sources overlap, the newest import wins.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from . import item_store
from .item_store import merge_blocks
from .dataset import ItemBlock, ReferenceData
from .errors import LrmfError, ReferenceStoreError, UnknownBenchmarkError
from .lineage import LineageGraph, connected_to
from .metadata import METADATA_FIELDS
from .reference_summary import BenchmarkSummary, ReferenceSummary
from .schema import BenchmarkInfo, Edge
from .store_schema import SCHEMA
from .sources import (ImportReport, SourceData, SourceInfo, content_checksum, is_missing, plain_value, source_models,
                      validated)

FORMAT = "lrmf-reference"
VERSION = 1
DB_NAME = "reference.sqlite"



class Reference:
    """A reference directory. ``Reference(path)`` opens an existing one; :meth:`create` makes one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._metadata: tuple[str, pd.DataFrame] | None = None  # (fingerprint, frame): read once per state
        db = self.path / DB_NAME
        if not db.is_file():
            raise ReferenceStoreError(f"{self.path}: not a reference directory (no {DB_NAME}); "
                                      "create one with `lm-eval-predict reference import` or `reference pull`")
        try:
            with self._connect() as con:
                info = dict(con.execute("SELECT key, value FROM info").fetchall())
        except sqlite3.DatabaseError as exc:
            raise ReferenceStoreError(f"{db}: not a readable reference database ({exc})") from None
        if info.get("format") != FORMAT:
            raise ReferenceStoreError(f"{db}: not an lrmf reference (format {info.get('format')!r})")
        if info.get("version") != str(VERSION):
            raise ReferenceStoreError(f"{db}: reference version {info.get('version')!r} is not supported "
                                      f"(this tool reads version {VERSION}); re-import the sources")

    @classmethod
    def create(cls, path: str | Path) -> "Reference":
        """Open the reference at ``path``, creating an empty one if the directory has none."""
        path = Path(path)
        if (path / DB_NAME).exists():
            return cls(path)
        if path.exists() and not path.is_dir():
            raise ReferenceStoreError(f"{path}: exists and is not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(path / DB_NAME, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript("BEGIN;" + SCHEMA +
                                  f"INSERT INTO info VALUES ('format', '{FORMAT}'), ('version', '{VERSION}');"
                                  "COMMIT;")
            finally:
                con.close()
        except (OSError, sqlite3.Error) as exc:
            raise ReferenceStoreError(f"{path}: cannot create a reference ({exc})") from None
        return cls(path)

    def __repr__(self) -> str:
        return f"Reference({str(self.path)!r})"

    @property
    def predictor_dir(self) -> Path:
        """Where fitted predictors of this reference are stored."""
        return self.path / "predictor"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path / DB_NAME, isolation_level=None, timeout=60)
        try:
            con.execute("PRAGMA foreign_keys=ON")
            yield con
        finally:
            con.close()

    # ------------------------------------------------------------------ writing

    def import_source(self, kind: str, path: str | Path, **options: Any) -> ImportReport:
        """Read ``path`` with the importer for ``kind`` and store it (see :mod:`lrmf_plugin.importers`)."""
        from .importers import get_importer

        checksum = content_checksum(kind, path, options)  # before reading: a file changed meanwhile is not "unchanged"
        source = get_importer(kind)(Path(path), **options)
        source.checksum = checksum
        return self.write_source(source)

    def write_source(self, src: SourceData) -> ImportReport:
        """Store one source atomically, replacing a previous source with the same key.

        Validates everything first (``InputError``); then one SQLite transaction holds the rows,
        and the items artifact is written before it commits and deleted if anything fails.
        """
        src = validated(src)
        same = self._unchanged(src)
        if same is not None:
            return ImportReport(same, (), replaced=False, unchanged=True)
        models = source_models(src)
        n_obs = int(sum(np.count_nonzero(~np.isnan(o.values)) for o in src.items))
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        items_dir = self.path / "items"
        new_files: list[Path] = []
        with self._connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                if not _has_checksums(con):  # a reference made before sources carried checksums
                    con.execute("ALTER TABLE sources ADD COLUMN checksum TEXT")
                old = con.execute("SELECT id, items_file FROM sources WHERE key = ?", (src.key,)).fetchone()
                if old:
                    con.execute("DELETE FROM sources WHERE id = ?", (old[0],))
                cur = con.execute(
                    "INSERT INTO sources (key, kind, location, imported_at, items_file, n_models, n_scores, "
                    "n_edges, n_observations, notes, checksum) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
                    (src.key, src.kind, src.location, now, len(models), len(src.scores), len(src.edges), n_obs,
                     json.dumps(src.notes), src.checksum))
                sid = cur.lastrowid
                self._insert_rows(con, sid, src, models)
                if src.items:
                    stem = items_dir / str(sid)
                    new_files = item_store.block_files(stem)
                    item_store.save_blocks(stem, [(o.benchmark, o.models, o.items, o.values) for o in src.items])
                    con.execute("UPDATE sources SET items_file = ? WHERE id = ?", (stem.name, sid))
                con.execute("COMMIT")
            except BaseException as exc:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                for f in new_files:
                    f.unlink(missing_ok=True)
                if isinstance(exc, sqlite3.Error):
                    raise ReferenceStoreError(f"{self.path}: could not store source {src.key!r} ({exc})") from None
                if isinstance(exc, OSError):
                    raise ReferenceStoreError(f"{self.path}: could not write item observations ({exc})") from None
                raise
        if old and old[1]:
            for f in item_store.block_files(items_dir / old[1]):
                f.unlink(missing_ok=True)
        info = next(s for s in self.sources() if s.id == sid)
        names = sorted(set(src.benchmarks) | set(src.scores["benchmark"]) | {o.benchmark for o in src.items})
        return ImportReport(info, tuple(names), replaced=old is not None)

    def _unchanged(self, src: SourceData) -> SourceInfo | None:
        """The stored source ``src`` would replace, when it holds the very same bytes."""
        if src.checksum is None:
            return None
        with self._connect() as con:
            if not _has_checksums(con):
                return None
            row = con.execute("SELECT id FROM sources WHERE key = ? AND checksum = ?", (src.key, src.checksum)).fetchone()
        return next((s for s in self.sources() if s.id == row[0]), None) if row else None

    @staticmethod
    def _insert_rows(con: sqlite3.Connection, sid: int, src: SourceData, models: list[str]) -> None:
        con.executemany("INSERT INTO nodes VALUES (?, ?)", ((sid, m) for m in models))
        con.executemany("INSERT INTO scores VALUES (?, ?, ?, ?)",
                        ((sid, m, b, float(s)) for m, b, s in src.scores[["model", "benchmark", "score"]].itertuples(index=False)))
        fields = [c for c in src.metadata.columns if c != "model"]
        con.executemany("INSERT INTO metadata VALUES (?, ?, ?, ?)", (
            (sid, row[0], f, json.dumps(plain_value(v)))
            for row in src.metadata[["model", *fields]].itertuples(index=False)
            for f, v in zip(fields, row[1:]) if not is_missing(v)))
        con.executemany("INSERT INTO edges VALUES (?, ?, ?, ?, ?)",
                        ((sid, i, e.parent, e.child, e.relation) for i, e in enumerate(src.edges)))
        con.executemany("INSERT INTO benchmarks VALUES (?, ?, ?, ?, ?)",
                        ((sid, b.name, b.suite, int(b.has_scores), int(b.items_complete))
                         for b in src.benchmarks.values()))
        for o in src.items:
            con.executemany("INSERT INTO block_items VALUES (?, ?, ?, ?)",
                            ((sid, o.benchmark, j, it) for j, it in enumerate(o.items)))
            con.executemany("INSERT INTO block_models VALUES (?, ?, ?)",
                            ((sid, o.benchmark, m) for m in o.models))

    # ------------------------------------------------------------------ reading

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._connect() as con:
            return con.execute(sql, params).fetchall()

    def sources(self) -> list[SourceInfo]:
        """Every stored source, oldest import first."""
        rows = self._query("SELECT id, key, kind, location, imported_at, n_models, n_scores, n_edges, "
                           "n_observations, notes FROM sources ORDER BY id")
        return [SourceInfo(*r[:9], notes=tuple(json.loads(r[9]))) for r in rows]

    def fingerprint(self) -> str:
        """Changes whenever a source is added, replaced or removed (a stored predictor checks it)."""
        h = hashlib.sha256()
        for s in self.sources():
            h.update(f"{s.id}\t{s.key}\t{s.imported_at}\t{s.n_models}\t{s.n_scores}\t{s.n_edges}\t{s.n_observations}\n".encode())
        return h.hexdigest()[:16]

    def load_data_fingerprinted(self, all_nodes: bool = False) -> tuple[str, ReferenceData]:
        """The fingerprint and the data it describes, read together under the lock imports take
        (``BEGIN IMMEDIATE``), so no import can land between the two: a predictor fitted on the data
        and stored with this fingerprint is stale as soon as the reference changes."""
        with self._connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise ReferenceStoreError(f"{self.path}: cannot lock the reference against imports ({exc})") from None
            try:
                return self.fingerprint(), self.load_data(all_nodes=all_nodes)
            finally:
                con.execute("ROLLBACK")

    def models(self) -> list[str]:
        """Every model id the reference mentions (scored, with items, metadata or only in lineage)."""
        return [r[0] for r in self._query("SELECT DISTINCT model FROM nodes ORDER BY model")]

    def scores(self) -> pd.DataFrame:
        """Long table model, benchmark, score; where sources overlap the newest import wins."""
        rows = self._query("SELECT model, benchmark, score FROM scores ORDER BY source_id")
        df = pd.DataFrame(rows, columns=["model", "benchmark", "score"])
        return df.drop_duplicates(["model", "benchmark"], keep="last").sort_values(
            ["model", "benchmark"]).reset_index(drop=True)

    def wide_scores(self) -> pd.DataFrame:
        """Models with any score x benchmarks (NaN = unknown); where sources overlap the newest import wins."""
        long = self.scores()
        if not len(long):
            return pd.DataFrame(index=pd.Index([], name="model"))
        wide = long.pivot(index="model", columns="benchmark", values="score").astype(float)
        wide.columns.name = None
        return wide

    def metadata(self) -> pd.DataFrame:
        """Index model (every model of :meth:`models`), one column per canonical metadata field.

        When several sources give a field for a model, the newest import wins. Read once per state of
        the reference (a fitted v2 reference with the Hub's model list takes seconds to read, and
        resolving a model needs it beside :meth:`load_data`, which reads it too); callers get a copy.
        """
        fingerprint = self.fingerprint()
        if self._metadata is None or self._metadata[0] != fingerprint:
            self._metadata = (fingerprint, self._read_metadata())
        return self._metadata[1].copy()

    def _read_metadata(self) -> pd.DataFrame:
        rows = self._query("SELECT model, field, value FROM metadata ORDER BY source_id")
        latest: dict[tuple[str, str], Any] = {(m, f): json.loads(v) for m, f, v in rows}
        out = pd.DataFrame(index=pd.Index(self.models(), name="model"), columns=list(METADATA_FIELDS), dtype=object)
        by_field: dict[str, dict[str, Any]] = defaultdict(dict)
        for (m, f), v in latest.items():
            by_field[f][m] = v
        for f, values in by_field.items():
            if f in out.columns:
                out[f] = pd.Series(values, dtype=object).reindex(out.index)
        return out

    def edges(self) -> list[Edge]:
        """Every stored lineage edge in import order (duplicates, self-edges and cycles included)."""
        return [Edge(p, c, r) for p, c, r in
                self._query("SELECT parent, child, relation FROM edges ORDER BY source_id, seq")]

    def lineage(self) -> LineageGraph:
        """The lineage graph over all sources (self-edges, duplicates and cycles dropped and recorded)."""
        return LineageGraph(self.edges())

    def benchmarks(self) -> dict[str, BenchmarkInfo]:
        """Every benchmark with scores or items, merged over sources (newest suite name wins)."""
        suites: dict[str, str] = {}
        has_scores: dict[str, bool] = defaultdict(bool)
        for name, suite, scored in self._query(
                "SELECT name, suite, has_scores FROM benchmarks ORDER BY source_id"):
            if suite:
                suites[name] = suite
            has_scores[name] |= bool(scored)
        for (name,) in self._query("SELECT DISTINCT benchmark FROM scores"):
            has_scores[name] = True
        n_items = dict(self._query("SELECT benchmark, COUNT(DISTINCT item) FROM block_items GROUP BY benchmark"))
        complete = self._complete_benchmarks(n_items)
        names = sorted(set(has_scores) | set(n_items))
        return {n: BenchmarkInfo(name=n, suite=suites.get(n, ""), has_scores=has_scores[n],
                                 n_items=int(n_items.get(n, 0)), items_complete=n in complete) for n in names}

    def _complete_benchmarks(self, n_items: dict[str, int]) -> set[str]:
        """Benchmarks whose item union is covered by one source that declared its items complete."""
        rows = self._query(
            "SELECT b.name, COUNT(i.item) FROM benchmarks b JOIN block_items i "
            "ON i.source_id = b.source_id AND i.benchmark = b.name WHERE b.items_complete = 1 "
            "GROUP BY b.source_id, b.name")
        return {name for name, n in rows if n == n_items.get(name)}

    def item_block(self, benchmark: str) -> tuple[list[str], ItemBlock]:
        """All item observations of ``benchmark``, merged over sources (a later source wins on overlap)."""
        ids = [r[0] for r in self._query(
            "SELECT DISTINCT source_id FROM block_items WHERE benchmark = ? ORDER BY source_id", (benchmark,))]
        if not ids:
            known = sorted(self.benchmarks())
            raise UnknownBenchmarkError(f"benchmark {benchmark!r} has no item observations in {self.path} "
                                        f"(benchmarks: {', '.join(known) or 'none'})")
        blocks = [self._load_blocks(sid)[benchmark] for sid in ids]
        return merge_blocks(blocks)

    def _load_blocks(self, sid: int) -> dict[str, tuple[list[str], list[str], np.ndarray]]:
        row = self._query("SELECT items_file FROM sources WHERE id = ?", (sid,))
        if not row or not row[0][0]:
            raise ReferenceStoreError(f"{self.path}: source {sid} has no item file")
        try:
            return item_store.load_blocks(self.path / "items" / row[0][0])
        except LrmfError as exc:
            raise ReferenceStoreError(f"{self.path}: item observations of source {sid} are unusable: {exc}") from None
        except (KeyError, IndexError, ValueError) as exc:  # checksums match, arrays disagree: a crafted file
            raise ReferenceStoreError(f"{self.path}: item observations of source {sid} are unusable: "
                                      f"inconsistent arrays ({exc})") from None

    def load_data(self, all_nodes: bool = False) -> ReferenceData:
        """Everything aligned on one model list, ready to fit.

        Rows are the models with scores or items plus the lineage-only ancestors/relatives that
        connect to them (they tie siblings together). Lineage components without any data carry no
        information for prediction and are left out unless ``all_nodes``.
        """
        graph = self.lineage()
        bench_sources: dict[str, list[int]] = defaultdict(list)
        for sid, b in self._query("SELECT DISTINCT source_id, benchmark FROM block_items ORDER BY source_id"):
            bench_sources[b].append(sid)
        loaded = {sid: self._load_blocks(sid) for sid in sorted({s for ids in bench_sources.values() for s in ids})}
        merged = {b: merge_blocks([loaded[s][b] for s in ids]) for b, ids in bench_sources.items()}
        del loaded
        wide = self.wide_scores()
        with_data = set(wide.index)
        for block_models, _ in merged.values():
            with_data.update(block_models)
        models = self.models() if all_nodes else sorted(with_data | connected_to(graph, with_data))
        index = {m: i for i, m in enumerate(models)}
        scores = wide.reindex(models)
        items = {}
        for b, (block_models, block) in merged.items():
            values = np.full((len(models), len(block.items)), np.nan, dtype=np.float32)
            rows = np.fromiter((index[m] for m in block_models), dtype=np.int64, count=len(block_models))
            values[rows] = block.values
            items[b] = ItemBlock(block.items, values)
        keep = set(models)
        edges = [e for e in graph.edges if e.parent in keep and e.child in keep]
        return ReferenceData(models, scores, items, self.metadata().reindex(models), edges, self.benchmarks())

    def summary(self) -> ReferenceSummary:
        """Counts for ``reference show``."""
        benchmarks = self.benchmarks()
        n_scored = dict(self._query("SELECT benchmark, COUNT(DISTINCT model) FROM scores GROUP BY benchmark"))
        n_items = dict(self._query("SELECT benchmark, COUNT(DISTINCT model) FROM block_models GROUP BY benchmark"))
        (n_with_data,) = self._query(
            "SELECT COUNT(*) FROM (SELECT model FROM scores UNION SELECT model FROM block_models)")[0]
        graph = self.lineage()
        return ReferenceSummary(
            path=str(self.path), n_models=len(self.models()), n_with_data=n_with_data,
            benchmarks=tuple(BenchmarkSummary(info, n_scored.get(n, 0), n_items.get(n, 0))
                             for n, info in benchmarks.items()),
            edges_by_relation=graph.relation_counts(), dropped=tuple(graph.dropped),
            sources=tuple(self.sources()), fingerprint=self.fingerprint())


# ---------------------------------------------------------------------- helpers


def _has_checksums(con: sqlite3.Connection) -> bool:
    return "checksum" in {r[1] for r in con.execute("PRAGMA table_info(sources)")}

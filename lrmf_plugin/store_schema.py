"""The SQLite tables of a reference (one row set per imported source, so a re-import replaces exactly it)."""
from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    location TEXT NOT NULL, imported_at TEXT NOT NULL, items_file TEXT,
    n_models INTEGER NOT NULL, n_scores INTEGER NOT NULL, n_edges INTEGER NOT NULL,
    n_observations INTEGER NOT NULL, notes TEXT NOT NULL DEFAULT '[]', checksum TEXT);
CREATE TABLE IF NOT EXISTS nodes (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, model TEXT NOT NULL,
    PRIMARY KEY (source_id, model));
CREATE TABLE IF NOT EXISTS scores (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, model TEXT NOT NULL,
    benchmark TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (source_id, model, benchmark));
CREATE TABLE IF NOT EXISTS metadata (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, model TEXT NOT NULL,
    field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (source_id, model, field));
CREATE TABLE IF NOT EXISTS edges (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    parent TEXT NOT NULL, child TEXT NOT NULL, relation TEXT NOT NULL, PRIMARY KEY (source_id, seq));
CREATE TABLE IF NOT EXISTS benchmarks (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, name TEXT NOT NULL,
    suite TEXT NOT NULL, has_scores INTEGER NOT NULL, items_complete INTEGER NOT NULL,
    PRIMARY KEY (source_id, name));
CREATE TABLE IF NOT EXISTS block_items (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, benchmark TEXT NOT NULL,
    pos INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (source_id, benchmark, pos));
CREATE TABLE IF NOT EXISTS block_models (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE, benchmark TEXT NOT NULL,
    model TEXT NOT NULL, PRIMARY KEY (source_id, benchmark, model));
CREATE INDEX IF NOT EXISTS block_items_by_benchmark ON block_items (benchmark);
CREATE INDEX IF NOT EXISTS block_models_by_benchmark ON block_models (benchmark);
"""

"""Lineage edge lists: ``source,target,edge`` (parent, child, relation), as the Hub graph exports.

``parent,child,relation`` headers are accepted too. Relations use the Hub's spellings
(``finetuned``, ``merged``, ``quantized``, ``adapter``) or the reference's. Ancestors that have no
scores are kept as nodes: they connect siblings. Self-edges, duplicates and cycles are stored as
given and dropped (and reported) by the lineage graph.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..schema import Edge, normalise_relation
from . import reject_options, source_key
from .csv_table import cell_where, read_table

_HEADERS = (("source", "target", "edge"), ("parent", "child", "relation"))


def read(path: Path, **options: Any):
    """Edges in file order (the order decides which edge of a cycle is dropped)."""
    from ..sources import SourceData

    reject_options("lineage", options)
    df = read_table(path)
    columns = next((h for h in _HEADERS if set(h) <= set(df.columns)), None)
    if columns is None:
        raise InputError(f"{path}: missing columns: need 'source,target,edge' (or 'parent,child,relation'), "
                         f"found {', '.join(df.columns[:8])}")
    parent_col, child_col, rel_col = columns
    relations: dict[str, str] = {}
    edges = []
    for i, parent, child, rel in zip(df.index, df[parent_col], df[child_col], df[rel_col]):
        for column, value in ((parent_col, parent), (child_col, child)):
            if not value:
                raise InputError(f"{cell_where(path, i, column)}: empty model id")
        if rel not in relations:
            try:
                relations[rel] = normalise_relation(rel)
            except InputError as exc:
                raise InputError(f"{cell_where(path, i, rel_col)}: {exc}") from None
        edges.append(Edge(parent, child, relations[rel]))
    return SourceData(key=source_key("lineage", path), kind="lineage", location=str(Path(path).resolve()),
                      edges=edges)

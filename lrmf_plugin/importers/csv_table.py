"""Reading user CSV files strictly: every cell as text, errors naming file, line and column.

The one reader for every CSV input (the importers and ``MODELS.csv``). It is built on :mod:`csv`
rather than ``pandas.read_csv``: pandas renames repeated headers (``a``, ``a.1``), turns ``"NA"``
model names into NaN and, given ``names=``, silently makes extra fields the index, which shifted
every answer of a row with a trailing comma one column. Here a row must have exactly as many fields
as the header, and the DataFrame's index is each row's line in the file (blank lines and quoted line
breaks counted), so messages point at the line a text editor shows.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator, TextIO

import pandas as pd

from ..errors import InputError
from ..schema import check_score


def read_table(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """All cells of ``path`` as stripped strings ('' = empty), header names as columns, file lines as index.

    Accepts a UTF-8 BOM and CRLF line ends. Raises :class:`InputError` for a missing, unreadable or
    empty file, an unnamed or repeated column, a missing required column, a row with more or fewer
    fields than the header (``file:line:column``), or a file without data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            records = list(_records(path, fh))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    if not records:
        raise InputError(f"{path}: the file is empty")
    header = _header(path, records[0][1], required)
    lines, rows = [], []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            column = min(len(fields), len(header)) + 1
            raise InputError(f"{path}:{line}:{column}: the row has {len(fields)} fields, the header has "
                             f"{len(header)} (a stray or missing comma?)")
        lines.append(line)
        rows.append([f.strip() for f in fields])
    if not rows:
        raise InputError(f"{path}: no data rows below the header")
    return pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"), dtype=str)


def _records(path: Path, fh: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, fields) for every non-blank record."""
    reader = csv.reader(fh, strict=True)
    start = 1
    try:
        for fields in reader:
            # a blank line is an empty record; a record of only spaces and commas is a row (of empty fields)
            if fields:
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        # the record's first line: where an unclosed quote opened, not the end of the file it ran to
        raise InputError(f"{path}:{start}: malformed CSV ({exc})") from None


def _header(path: Path, header: list[str], required: tuple[str, ...]) -> list[str]:
    header = [h.strip() for h in header]
    if not any(header):
        raise InputError(f"{path}:1: the header row names no columns")
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            raise InputError(f"{path}:1:{i + 1}: column {i + 1} has no name")
        if name in seen:
            raise InputError(f"{path}:1:{i + 1}: column {name!r} appears twice")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise InputError(f"{path}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)} (found: {', '.join(header[:12])}"
                         f"{', ...' if len(header) > 12 else ''})")
    return header


def cell_where(path: Path, line: int, column: str) -> str:
    """How messages name one cell: ``path: line N, column 'name'``."""
    return f"{path}: line {int(line)}, column {column!r}"


def parse_score(path: Path, line: int, column: str, text: str) -> float | None:
    """A score cell on the reference's scale: None when empty or NaN (a missing run), else a checked number."""
    if text == "" or text.lower() in {"nan", "na", "null", "none"}:
        return None
    return check_score(text, cell_where(path, line, column))

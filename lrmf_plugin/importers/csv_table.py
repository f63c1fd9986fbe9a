"""Reading user CSV files strictly: every cell as text, errors naming file, line and column.

pandas would silently rename repeated headers (``a``, ``a.1``) and turn ``"NA"`` model names into
NaN; both corrupt ids, so the header is read with :mod:`csv` and every cell is kept as a string.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

from ..errors import InputError


def read_table(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """All cells of ``path`` as stripped strings ('' = empty), with the header as column names.

    Raises :class:`InputError` for a missing/unreadable/empty file, a repeated column name, a
    missing required column, a row with too many fields, or a file without data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable CSV header ({exc})") from None
    if not header or not any(h.strip() for h in header):
        raise InputError(f"{path}: the file is empty")
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            raise InputError(f"{path}: line 1: column {i + 1} has no name")
        if name in seen:
            raise InputError(f"{path}: line 1: column {name!r} appears twice")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise InputError(f"{path}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(c) for c in missing)} (found: {', '.join(header[:12])}"
                         f"{', ...' if len(header) > 12 else ''})")
    try:
        df = pd.read_csv(path, header=None, skiprows=1, names=header, dtype=str, keep_default_na=False,
                         na_filter=False, encoding="utf-8-sig", skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=header)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: malformed CSV ({' '.join(str(exc).split())})") from None
    if df.empty:
        raise InputError(f"{path}: no data rows below the header")
    return df.fillna("").apply(lambda col: col.str.strip())


def line_of(row: int) -> int:
    """The file line of DataFrame row ``row`` (the header is line 1)."""
    return int(row) + 2


def parse_score(path: Path, row: int, column: str, text: str, low: float, high: float) -> float | None:
    """A score cell: None when empty or NaN (a missing run), else a number in [low, high]."""
    if text == "" or text.lower() in {"nan", "na", "null", "none"}:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}: line {line_of(row)}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{path}: line {line_of(row)}, column {column!r}: {text!r} is outside [{low:g}, {high:g}]")
    return value

"""Writing output files so that a failure never leaves a half-written one behind."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import InputError


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_output(target: str | Path, text: str) -> None:
    """An output named on the command line: ``-`` is standard output, anything else a file."""
    if str(target) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_text_atomic(target, text)

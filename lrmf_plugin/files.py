"""Writing output files so that a failure never leaves a half-written one behind.

What ``--out TARGET`` does, by what TARGET is (the one rule every command follows):

- ``-``: the text goes to standard output;
- a regular file or a new path: written to a temporary file beside it and renamed into place, so a
  reader sees the old or the new content, never a part; an existing file keeps its permission bits;
- a symlink: written through to the file it points to, atomically there (the link stays a link);
- a FIFO or character device (``/dev/stdout``, ``/dev/null``, a shell's ``>(...)``): written directly,
  as a shell redirection would; it is never replaced by a regular file;
- a directory, socket or block device, or an empty path: refused with one line.
"""
from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

from .errors import InputError


def check_output(target: str | Path) -> str:
    """How ``target`` will be written: ``stdout``, ``atomic`` or ``direct``; :class:`InputError` for a
    target that is refused. Commands call it before their work, so a bad ``--out`` fails at once."""
    name = os.fspath(target)
    if name == "":
        raise InputError("--out: the output path is empty (use - for standard output)")
    if name == "-":
        return "stdout"
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        return "atomic"  # a new file, or a symlink to a file still to be made
    except OSError as exc:
        raise InputError(f"{name}: cannot write ({exc.strerror or exc})") from None
    if stat.S_ISREG(mode):
        return "atomic"
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return "direct"
    kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file, FIFO or character device"
    raise InputError(f"{name}: is {kind}; name a file to write (or - for standard output)")


def write_output(target: str | Path, text: str) -> str:
    """Write ``text`` to ``target`` by the rules above; returns how to name the destination in messages."""
    how = check_output(target)
    if how == "stdout":
        sys.stdout.write(text)
        sys.stdout.flush()
        return "standard output"
    if how == "direct":
        _write_direct(os.fspath(target), text)
    else:
        write_text_atomic(target, text)
    return os.fspath(target)


def _write_direct(name: str, text: str) -> None:
    try:
        with open(name, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"{name}: cannot write ({exc.strerror or exc})") from None


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside the file ``path`` names (through symlinks) and rename
    it into place; an existing file keeps its permission bits. Returns ``path``."""
    path = Path(path)
    real = Path(os.path.realpath(path))
    try:
        old_mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        old_mode = None
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(real)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        if old_mode is not None:  # the umask applied at creation: restore the exact bits the file had
            os.fchmod(fd, old_mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, real)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def _create_beside(real: Path) -> tuple[int, str]:
    """A new, uniquely named file in ``real``'s directory, created as ``open(..., "w")`` would create
    ``real`` (mode 0666 less the umask; ``mkstemp``'s 0600 would leak into the result)."""
    for _ in range(100):
        tmp = str(real.parent / f".{real.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {real}")

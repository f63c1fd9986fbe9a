"""Versioned, checksummed artifacts: arrays in an ``.npz``, everything else in a ``.json`` beside it.

Never pickles: arrays are loaded with ``allow_pickle=False``, so a foreign or tampered file can only
fail to load, not run code. The JSON records the format name and version and the SHA-256 of the
``.npz``; :func:`load_artifact` refuses any mismatch with an :class:`ArtifactError`. Writes go to
temporary names and are renamed into place, so a crash leaves the previous artifact intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArtifactError


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_artifact(stem: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any], *,
                  kind: str, version: int) -> Path:
    """Write ``stem.npz`` and ``stem.json`` atomically; returns the JSON path.

    ``arrays`` must hold plain (non-object) arrays; string arrays are stored as fixed-width unicode.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    clean = {}
    for key, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype == object:
            arr = arr.astype(str)
        clean[key] = arr
    fd, tmp_npz = tempfile.mkstemp(dir=stem.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp_npz, "wb") as fh:
            np.savez(fh, **clean)
        header = {"format": kind, "version": version, "sha256": sha256_file(Path(tmp_npz)), **meta}
        fd, tmp_json = tempfile.mkstemp(dir=stem.parent, suffix=".json.tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(header, fh, indent=1, sort_keys=True, default=str)
        os.replace(tmp_npz, stem.with_suffix(".npz"))
        os.replace(tmp_json, stem.with_suffix(".json"))
    finally:
        for leftover in (tmp_npz,):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return stem.with_suffix(".json")


def load_artifact(stem: str | Path, *, kind: str, version: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and verify an artifact written by :func:`save_artifact`.

    Raises :class:`ArtifactError` when a file is missing, the JSON is unreadable, the format or
    version differs, or the checksum does not match the ``.npz``.
    """
    stem = Path(stem)
    js, npz = stem.with_suffix(".json"), stem.with_suffix(".npz")
    if not js.exists() or not npz.exists():
        raise ArtifactError(f"{stem}: artifact not found (need {js.name} and {npz.name})")
    try:
        header = json.loads(js.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{js}: unreadable artifact header ({exc.__class__.__name__})") from None
    if not isinstance(header, dict) or header.get("format") != kind:
        raise ArtifactError(f"{js}: not a {kind} artifact (format {header.get('format') if isinstance(header, dict) else None!r})")
    if header.get("version") != version:
        raise ArtifactError(f"{js}: {kind} artifact version {header.get('version')!r} is not supported (this tool reads version {version}); refit it")
    if header.get("sha256") != sha256_file(npz):
        raise ArtifactError(f"{npz}: checksum mismatch, the artifact is corrupted or was modified")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{npz}: unreadable arrays ({exc})") from None
    return arrays, header

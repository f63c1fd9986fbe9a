"""Versioned, checksummed artifacts: arrays in an ``.npz``, everything else in a ``.json`` beside it.

Never pickles: arrays are loaded with ``allow_pickle=False``, so a foreign or tampered file can only
fail to load, not run code. The JSON records the format name and version, the SHA-256 of the
``.npz`` and the SHA-256 of its own content, so one edited number anywhere is caught;
:func:`load_artifact` refuses any mismatch, and arrays whose headers declare more than a bound,
shapes the caller's check refuses, or NaN, with an :class:`ArtifactError`. Writes go to
temporary names and are renamed into place, so a crash leaves the previous artifact intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from .errors import ArtifactError

#: The most array bytes an artifact may declare: a leaderboard-scale reference's largest (an item
#: block of 5k models x 22k items as uint8) is ~110 MB, so this refuses only crafted or foreign files
#: before they are allocated.
MAX_ARRAY_BYTES = 1 << 30
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ArraySpec(NamedTuple):
    """What an ``.npz`` member's header declares, read before its data."""

    shape: tuple[int, ...]
    dtype: np.dtype


def _content_digest(header: dict[str, Any]) -> str:
    """SHA-256 of the header's content without its own checksum, in one canonical spelling (the
    JSON as parsed back, sorted keys, no whitespace), so re-indenting the file does not matter but
    any changed value does."""
    content = {k: v for k, v in header.items() if k != "content_sha256"}
    canonical = json.dumps(json.loads(json.dumps(content, default=str)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
        header["content_sha256"] = _content_digest(header)
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


def load_artifact(stem: str | Path, *, kind: str, version: int,
                  check: Callable[[dict[str, ArraySpec], dict[str, Any]], None] | None = None,
                  max_bytes: int = MAX_ARRAY_BYTES) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and verify an artifact written by :func:`save_artifact`.

    Raises :class:`ArtifactError` when a file is missing, the JSON is unreadable, the format or
    version differs, a checksum does not match (the JSON's own content or the ``.npz``), a member
    is compressed, holds objects or more than ``max_bytes`` in all, ``check(specs, header)`` refuses
    the arrays' shapes (called before any array is read), or a float array holds NaN or infinity.
    """
    stem = Path(stem)
    js, npz = stem.with_suffix(".json"), stem.with_suffix(".npz")
    if not js.exists() or not npz.exists():
        raise ArtifactError(f"{stem}: artifact not found (need {js.name} and {npz.name})")
    header = _read_header(js, kind, version)
    if header.get("sha256") != sha256_file(npz):
        raise ArtifactError(f"{npz}: checksum mismatch, the artifact is corrupted or was modified")
    try:
        with zipfile.ZipFile(npz) as archive:
            specs = _member_specs(npz, archive, max_bytes)
            _check_layout(check, specs, header, npz, js)
            arrays = {name: _read_member(archive, name) for name in specs}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{npz}: unreadable arrays ({exc})") from None
    for name, arr in arrays.items():
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise ArtifactError(f"{npz}: array {name!r} holds NaN or infinite values")
    return arrays, header


def _check_layout(check: Callable[[dict[str, ArraySpec], dict[str, Any]], None] | None,
                  specs: dict[str, ArraySpec], header: dict[str, Any], npz: Path, js: Path) -> None:
    if check is None:
        return
    try:
        check(specs, header)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{npz}: arrays do not match {js.name} ({exc})") from None


def _read_header(js: Path, kind: str, version: int) -> dict[str, Any]:
    try:
        header = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{js}: unreadable artifact header ({exc.__class__.__name__})") from None
    if not isinstance(header, dict) or header.get("format") != kind:
        raise ArtifactError(f"{js}: not a {kind} artifact (format {header.get('format') if isinstance(header, dict) else None!r})")
    if header.get("version") != version:
        raise ArtifactError(f"{js}: {kind} artifact version {header.get('version')!r} is not supported (this tool reads version {version}); refit it")
    if "content_sha256" not in header:
        raise ArtifactError(f"{js}: no checksum of its own content (written before checksums covered it); "
                            "re-create it (refit the predictor, or re-import the source)")
    if header["content_sha256"] != _content_digest(header):
        raise ArtifactError(f"{js}: checksum mismatch, the artifact is corrupted or was modified")
    return header


def _member_specs(npz: Path, archive: zipfile.ZipFile, max_bytes: int) -> dict[str, ArraySpec]:
    """Shape and dtype of every member, from the ``.npy`` headers alone (nothing is allocated yet)."""
    specs: dict[str, ArraySpec] = {}
    total = 0
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        # save_artifact stores members uncompressed, so their declared size is bytes on disk, not a
        # zip bomb's promise: a compressed member can only come from someone else
        if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy") or name in specs:
            raise ArtifactError(f"{npz}: member {info.filename!r} was not written by this tool")
        with archive.open(info) as fh:
            read_header = _NPY_HEADERS.get(np.lib.format.read_magic(fh))
            if read_header is None:
                raise ArtifactError(f"{npz}: member {info.filename!r} has an unknown .npy format version")
            shape, _, dtype = read_header(fh)
            offset = fh.tell()
        if dtype.hasobject:
            raise ArtifactError(f"{npz}: array {name!r} holds Python objects")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes != info.file_size - offset:
            raise ArtifactError(f"{npz}: array {name!r} declares shape {shape}, which its data does not fill")
        total += nbytes
        if total > max_bytes:
            raise ArtifactError(f"{npz}: arrays larger than {max_bytes} bytes; refusing to load them")
        specs[name] = ArraySpec(tuple(int(n) for n in shape), dtype)
    return specs


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name + ".npy") as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def read_header(stem: str | Path) -> dict[str, Any] | None:
    """The JSON header of an artifact without loading or verifying its arrays (None if unreadable)."""
    try:
        header = json.loads(Path(stem).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None

"""A fitted reference as a distributable artifact: a Hub dataset repo anyone can pull instead of fitting.

The repo holds the reference store (``reference.sqlite`` and ``items/``), the fitted predictor
(``predictor/``), ``manifest.json`` and a dataset card (``README.md``). The manifest records the
artifact format, the tool, store and predictor versions, the reference fingerprint, and the size and
SHA-256 of every file *as bytes* (so it does not depend on what the files hold or how their own
headers change).

:func:`push` publishes through ``huggingface_hub``'s public API (``create_repo`` + one
``create_commit``, so a repo never shows half a push). :func:`pull` downloads with
``snapshot_download`` (the shared Hub cache: a second pull of the same commit downloads nothing),
copies the files into a staging directory beside the destination, checks every checksum and version
*on the copies*, and only then swaps the staging directory in, so a failure at any point leaves the
destination as it was.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from . import __version__
from .artifact import sha256_file
from .dataset_card import dataset_card
from .defaults import DEFAULT_REPO, REPO_ENV
from .errors import ArtifactError, HubError, InputError, ReferenceStoreError
from .hub import REPO_ID_RE, connect, hub_call

if TYPE_CHECKING:
    from .reference import Reference

FORMAT = "lrmf-fitted-reference"
#: bump when the layout or the manifest's meaning changes; pulls refuse any other version
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CARD = "README.md"
PREDICTOR_DIR = "predictor"


@dataclass(frozen=True)
class Published:
    """Where :func:`push` put the artifact."""

    repo: str
    commit: str
    url: str
    n_files: int


@dataclass(frozen=True)
class Installed:
    """What :func:`pull` installed, and from which commit."""

    path: Path
    repo: str
    commit: str
    fingerprint: str
    n_files: int


def default_repo() -> str:
    """``$LRMF_REFERENCE_REPO``, else :data:`DEFAULT_REPO`."""
    return os.environ.get(REPO_ENV) or DEFAULT_REPO


def _check_repo_id(repo: str) -> None:
    if "/" not in repo or not REPO_ID_RE.match(repo):
        raise InputError(f"{repo!r} is not a Hub repo id (ORG/NAME)")


def _predictor_version() -> tuple[str, int]:
    """The predictor artifact format and version this installation reads."""
    from .models.lrmf.persistence import ARTIFACT_KIND, ARTIFACT_VERSION

    return ARTIFACT_KIND, ARTIFACT_VERSION


# ---------------------------------------------------------------------- staging a push

def _store_files(ref: "Reference") -> list[str]:
    """Repo paths of the item and predictor artifacts of a reference (the database apart).

    Imports remove the item files of a replaced source and a crash leaves only ``*.tmp`` names, so
    the artifacts present are the ones the database refers to.
    """
    paths = []
    for folder in (ref.path / "items", ref.predictor_dir):
        paths += [f"{folder.name}/{p.name}" for p in sorted(folder.glob("*")) if p.suffix in (".json", ".npz")]
    return paths


def stage(ref_dir: Path, dest: Path, repo: str) -> dict[str, Any]:
    """Write the artifact of the fitted reference at ``ref_dir``, to be published as ``repo``, into the
    empty directory ``dest``.

    The database is copied with SQLite's backup API (a consistent copy, also of a store in WAL mode
    with an open writer); the predictor must load against it, so nothing unfitted or stale is
    published. Returns the manifest.
    """
    from . import reference as store
    from .api import Lrmf

    lrmf = Lrmf(ref_dir)
    lrmf.predictor  # NotFittedError / ArtifactError (one line) before anything is written
    ref = lrmf.reference
    src = sqlite3.connect(ref.path / store.DB_NAME)
    dst = sqlite3.connect(dest / store.DB_NAME)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    for rel in _store_files(ref):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ref.path / rel, dest / rel)
    files = [store.DB_NAME, *_store_files(ref)]
    manifest = _manifest(ref, [(rel, dest / rel) for rel in files])
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (dest / CARD).write_text(dataset_card(manifest, MANIFEST, repo), encoding="utf-8")
    return manifest


def _manifest(ref: "Reference", files: list[tuple[str, Path]]) -> dict[str, Any]:
    from . import reference as store

    kind, version = _predictor_version()
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "tool": {"name": "lrmf-plugin", "version": __version__},
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reference": {"fingerprint": ref.fingerprint(), "store_format": store.FORMAT,
                      "store_version": store.VERSION, "models": len(ref.models()),
                      "benchmarks": sorted(ref.benchmarks()),
                      "sources": [{"kind": s.kind, "location": s.location, "imported_at": s.imported_at,
                                   "models": s.n_models, "scores": s.n_scores, "edges": s.n_edges,
                                   "observations": s.n_observations} for s in ref.sources()]},
        "predictor": {"format": kind, "version": version, "directory": PREDICTOR_DIR},
        "files": [{"path": rel, "size": path.stat().st_size, "sha256": sha256_file(path)} for rel, path in files],
    }


# ---------------------------------------------------------------------- push

def push(ref_dir: str | Path, repo: str, *, endpoint: str | None = None, token: str | bool | None = None,
         private: bool = False, message: str | None = None) -> Published:
    """Publish the fitted reference at ``ref_dir`` as the dataset repo ``repo`` in one commit.

    Files of an earlier push that this one no longer has are deleted in the same commit, so the
    repo always holds exactly one artifact.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    _check_repo_id(repo)
    with tempfile.TemporaryDirectory(prefix="lrmf-push-") as tmp:
        staged = Path(tmp)
        manifest = stage(Path(ref_dir), staged, repo)
        paths = [f["path"] for f in manifest["files"]] + [MANIFEST, CARD]
        api = connect(endpoint, token)
        with hub_call(f"creating dataset {repo}"):
            api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        with hub_call(f"listing dataset {repo}"):
            old = set(api.list_repo_files(repo, repo_type="dataset"))
        ops: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(staged / p)) for p in paths]
        ops += [CommitOperationDelete(path_in_repo=p) for p in sorted(old - set(paths) - {".gitattributes"})]
        summary = message or (f"lrmf-plugin {__version__}: fitted reference "
                              f"{manifest['reference']['fingerprint']}")
        with hub_call(f"uploading to dataset {repo}"):
            info = api.create_commit(repo, ops, commit_message=summary, repo_type="dataset")
    return Published(repo, info.oid, info.commit_url, len(paths))


# ---------------------------------------------------------------------- pull

def read_manifest(path: Path, where: str) -> dict[str, Any]:
    """The manifest at ``path``, its format and versions checked against this installation."""
    from . import reference as store

    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{where}: no {MANIFEST}; not a fitted reference artifact") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{where}: unreadable {MANIFEST} ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{where}: not a fitted reference artifact ({MANIFEST} format "
                            f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{where}: artifact format version {manifest.get('format_version')!r} is not supported "
                            f"(this lrmf-plugin {__version__} reads version {FORMAT_VERSION})")
    ref, pred = (part if isinstance(part, dict) else {} for part in (manifest.get("reference"),
                                                                     manifest.get("predictor")))
    if (ref.get("store_format"), ref.get("store_version")) != (store.FORMAT, store.VERSION):
        raise ArtifactError(f"{where}: reference store version {ref.get('store_version')!r} is not supported "
                            f"(this lrmf-plugin {__version__} reads version {store.VERSION})")
    kind, version = _predictor_version()
    if (pred.get("format"), pred.get("version")) != (kind, version):
        raise ArtifactError(f"{where}: predictor version {pred.get('version')!r} is not supported (this "
                            f"lrmf-plugin {__version__} reads {kind} version {version}); pull a matching revision")
    if not isinstance(manifest.get("files"), list) or not manifest["files"]:
        raise ArtifactError(f"{where}: {MANIFEST} lists no files")
    return manifest


def _safe_path(rel: Any, where: str) -> PurePosixPath:
    """A manifest path that stays inside the reference directory (the manifest is downloaded input)."""
    from . import reference as store

    path = PurePosixPath(rel) if isinstance(rel, str) else None
    top = {store.DB_NAME}
    if path is None or path.is_absolute() or ".." in path.parts or not (
            str(path) in top or (len(path.parts) == 2 and path.parts[0] in ("items", PREDICTOR_DIR))):
        raise ArtifactError(f"{where}: {MANIFEST} lists an unexpected file {rel!r}")
    return path


def _copy_verified(snapshot: Path, manifest: dict[str, Any], staging: Path, where: str) -> None:
    """Copy every listed file into ``staging`` and check size and SHA-256 of the copies."""
    for entry in manifest["files"]:
        rel = _safe_path(entry.get("path") if isinstance(entry, dict) else None, where)
        source, target = snapshot / rel, staging / rel
        if not source.is_file():
            raise ArtifactError(f"{where}: {rel} is listed in {MANIFEST} but missing")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        if target.stat().st_size != entry.get("size") or sha256_file(target) != entry.get("sha256"):
            raise ArtifactError(f"{where}: checksum mismatch for {rel}; the artifact is corrupted or was "
                                "modified after it was published")


def _check_staged(staging: Path, manifest: dict[str, Any], where: str) -> str:
    """The staged store opens and has the fingerprint the predictor was fitted on."""
    from . import reference as store

    try:
        fingerprint = store.Reference(staging).fingerprint()
    except ReferenceStoreError as exc:
        raise ArtifactError(f"{where}: the reference store does not open ({exc})") from None
    if fingerprint != manifest["reference"].get("fingerprint"):
        raise ArtifactError(f"{where}: reference fingerprint {fingerprint} differs from the manifest's "
                            f"{manifest['reference'].get('fingerprint')}")
    return fingerprint


def _download(repo: str, revision: str | None, endpoint: str | None, token: str | bool | None) -> tuple[Path, dict]:
    """The manifest first (so a version mismatch costs one small file), then the files it lists, all
    at the commit the manifest came from, through the Hub cache. Returns the snapshot directory."""
    from huggingface_hub import hf_hub_download, snapshot_download

    api = connect(endpoint, token)
    what = f"downloading dataset {repo}" + (f" at {revision}" if revision else "")
    with hub_call(what):
        manifest_path = Path(hf_hub_download(repo, MANIFEST, repo_type="dataset", revision=revision,
                                             endpoint=api.endpoint, token=token))
    commit = manifest_path.parent.name
    where = f"dataset {repo} at {commit[:12]}"
    manifest = read_manifest(manifest_path, where)
    paths = [str(_safe_path(f.get("path") if isinstance(f, dict) else None, where)) for f in manifest["files"]]
    with hub_call(what):
        snapshot = snapshot_download(repo, repo_type="dataset", revision=commit, endpoint=api.endpoint,
                                     token=token, allow_patterns=[*paths, MANIFEST])
    return Path(snapshot), manifest


def pull(repo: str, dest: str | Path, *, revision: str | None = None, endpoint: str | None = None,
         token: str | bool | None = None, force: bool = False) -> Installed:
    """Download the fitted reference ``repo`` (at ``revision``), verify it, and install it at ``dest``.

    ``dest`` may be absent, empty, or an earlier pulled artifact (it is replaced); a directory
    holding anything else is only replaced with ``force``, so a locally built reference is never
    overwritten by accident.
    """
    _check_repo_id(repo)
    dest = Path(dest).expanduser()
    _check_destination(dest, force)
    snapshot, manifest = _download(repo, revision, endpoint, token)
    where = f"dataset {repo} at {snapshot.name[:12]}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.pull-", dir=dest.parent))
    except OSError as exc:
        raise ReferenceStoreError(f"{dest}: cannot install here ({exc.strerror or exc})") from None
    try:
        _copy_verified(snapshot, manifest, staging, where)
        fingerprint = _check_staged(staging, manifest, where)
        _record_origin(staging, manifest, repo, snapshot.name)
        _swap_in(staging, dest)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk or a permission: one line, and nothing installed
            raise ReferenceStoreError(f"{dest}: cannot install here ({exc.strerror or exc})") from None
        raise
    return Installed(dest, repo, snapshot.name, fingerprint, len(manifest["files"]))


def _check_destination(dest: Path, force: bool) -> None:
    """``dest`` may be replaced: absent, empty, or a pulled artifact nobody has imported into since."""
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a directory")
    if force or not dest.exists() or not any(dest.iterdir()):
        return
    if (dest / MANIFEST).is_file() and _unchanged_since_pull(dest):
        return
    raise InputError(f"{dest}: holds a reference that was not pulled from the Hub, or was changed after the pull; "
                     "pull into another --ref or pass --force to replace it")


def _unchanged_since_pull(dest: Path) -> bool:
    from . import reference as store

    try:
        installed = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        return installed["reference"]["fingerprint"] == store.Reference(dest).fingerprint()
    except (OSError, ValueError, TypeError, KeyError, ReferenceStoreError):
        return False


def _record_origin(staging: Path, manifest: dict[str, Any], repo: str, commit: str) -> None:
    """Keep the manifest in the installed directory, with the repo and commit it came from."""
    installed = {**manifest, "pulled_from": {"repo": repo, "commit": commit}}
    (staging / MANIFEST).write_text(json.dumps(installed, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _swap_in(staging: Path, dest: Path) -> None:
    """Rename ``staging`` to ``dest``; an existing ``dest`` is moved aside first and restored on failure."""
    if not dest.exists():
        os.replace(staging, dest)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    try:
        os.replace(dest, aside / dest.name)
        try:
            os.replace(staging, dest)
        except BaseException:
            os.replace(aside / dest.name, dest)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def ensure_default(dest: Path, *, endpoint: str | None = None) -> Path:
    """The default reference directory ``dest``, pulled from :func:`default_repo` on first use.

    Offline (``HF_HUB_OFFLINE``) nothing is requested: a missing reference is then an error naming
    the commands that build or pull one, as is a default repo the Hub does not have.
    """
    from huggingface_hub import constants

    from . import reference as store

    if (dest / store.DB_NAME).is_file():
        return dest
    repo = default_repo()
    build = (f"pull it with `lm-eval-predict reference pull --fitted {repo}`, or build one with "
             f"`lm-eval-predict reference pull --ref {dest}` and `lm-eval-predict fit --ref {dest}`")
    if constants.HF_HUB_OFFLINE:
        raise ReferenceStoreError(f"no reference at {dest} and HF_HUB_OFFLINE is set: {build}, or pass --ref DIR")
    try:
        pull(repo, dest, endpoint=endpoint)
    except HubError as exc:
        raise HubError(f"no reference at {dest}, and pulling the default {repo} failed ({exc}): {build}") from None
    return dest

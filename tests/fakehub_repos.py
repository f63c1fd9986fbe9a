"""Writing to repos on the fake Hub, and reading them at a revision: what ``create_repo`` and
``create_commit`` (``upload_folder``) send, served the way the Hub answers.

The endpoints (as ``huggingface_hub`` 2.x calls them):

- ``POST /api/repos/create`` (``name``, ``organization``, ``type``, ``visibility``): 409 if it exists,
  403 outside the caller's namespaces;
- ``POST /api/validate-yaml``: the README's YAML header, checked before anything is uploaded;
- ``POST /api/{type}s/{repo}/preupload/{rev}``: each file's upload mode, ``lfs`` for binary (a NUL
  byte in the sample) or large files, ``regular`` otherwise, plus the blob id already there;
- ``POST /{type-prefix}{repo}.git/info/lfs/objects/batch``: the LFS "basic" transfer (an upload
  href per object not stored yet, and a verify href), ``PUT`` of the bytes to that href (refused if
  they do not hash to the announced oid), ``POST .../verify``;
- ``POST /api/{type}s/{repo}/commit/{rev}`` (ndjson: header, ``file`` base64, ``lfsFile`` by oid,
  ``deletedFile``, ``deletedFolder``): one new commit, refused whole if an LFS oid was never uploaded
  or ``parentCommit`` is not the head.

Every commit keeps its snapshot, so tree listings, ``repo_info`` and downloads answer for a branch
name or any commit id (404 ``RevisionNotFound`` otherwise), and LFS files are served with the
``X-Linked-Etag`` (their SHA-256) and ``X-Linked-Size`` headers the Hub sends. The fake speaks no
Xet: clients must upload over LFS (``HF_HUB_DISABLE_XET``), as they do when ``hf_xet`` is missing.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

#: files at least this large go to LFS whatever they hold (the Hub's limit for plain git blobs)
LFS_THRESHOLD = 10 * 1024 * 1024
_REPO_PREFIX = {"datasets": "datasets/", "spaces": "spaces/", "models": ""}


class HubAnswerError(Exception):
    """An error answer: HTTP ``status``, the ``X-Error-Message`` and optional ``X-Error-Code``."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class Snapshot:
    """A repo at one commit: its id, its files and which of them are stored in LFS."""

    sha: str
    files: dict[str, bytes]
    lfs: set[str]


def git_blob_id(data: bytes) -> str:
    """The git blob id of ``data``, as the Hub reports a file's ``oid``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def at_revision(repo: Any, revision: str) -> Snapshot:
    """The snapshot of ``repo`` at a branch name (``main``) or a commit id."""
    head = repo.info["sha"]
    if revision in ("main", head):
        return Snapshot(head, repo.files, repo.lfs)
    if revision in repo.history:
        return repo.history[revision]
    raise HubAnswerError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def lfs_headers(snap: Snapshot, filename: str) -> dict[str, str]:
    """What the Hub adds to a download answer of an LFS file: its SHA-256 and size."""
    if filename not in snap.lfs:
        return {}
    data = snap.files[filename]
    return {"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))}


def tree_entry(snap: Snapshot, path: str) -> dict[str, Any]:
    """One file of a tree listing, with its ``lfs`` block when it is stored in LFS."""
    data = snap.files[path]
    entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
    if path in snap.lfs:
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return entry


class RepoWrites:
    """Mixed into the fake's request handler: the write endpoints above (``self.fake`` is the FakeHub)."""

    fake: Any

    def route_writes(self, method: str, path: str, body: bytes,
                     user: str | None) -> tuple[int, Any, dict[str, str]] | None:
        """The answer to a write request, or ``None`` when ``path`` is not a write endpoint."""
        if method == "PUT":
            m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path)
            return self._lfs_put(m.group(1), body) if m else None
        if method != "POST":
            return None
        if path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}, {}
        if path == "/api/repos/create":
            return self._create_repo(json.loads(body or b"{}"), user)
        m = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/(batch|verify)", path)
        if m:
            kind = (m.group(1) or "models/").rstrip("/")
            self._writable(kind, m.group(2), user)
            data = json.loads(body or b"{}")
            if m.group(3) == "verify":
                return self._lfs_verify(data)
            return self._lfs_batch(data, self.fake.url + path[:-len("batch")] + "verify")
        m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path)
        if m:
            repo = self._writable(m.group(1), m.group(2), user)
            if m.group(4) != "main":
                raise HubAnswerError(400, "the fake Hub commits to the main branch only")
            snap = at_revision(repo, m.group(4))
            if m.group(3) == "preupload":
                return self._preupload(snap, json.loads(body or b"{}"))
            return self._commit(m.group(1), repo, snap, body)
        return None

    def _writable(self, kind: str, repo_id: str, user: str | None) -> Any:
        if user is None:
            raise HubAnswerError(401, "You must be authenticated to write to a repo")
        with self.fake.lock:
            repo = (self.fake.datasets if kind == "datasets" else self.fake.models).get(repo_id)
        if repo is None or (repo.info.get("private") and user not in repo.collaborators):
            raise HubAnswerError(404, "Repository not found", "RepoNotFound")
        if user not in repo.collaborators:
            raise HubAnswerError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _create_repo(self, data: dict[str, Any], user: str | None) -> tuple[int, Any, dict[str, str]]:
        if user is None:
            raise HubAnswerError(401, "You must be authenticated to create a repo")
        if data.get("type") != "dataset":
            raise HubAnswerError(400, "the fake Hub creates dataset repos only")
        owner = data.get("organization") or user
        if owner != user and user not in self.fake.orgs.get(owner, set()):
            raise HubAnswerError(403, f"You don't have the rights to create a dataset under the namespace {owner}")
        repo_id = f"{owner}/{data['name']}"
        url = f"{self.fake.url}/datasets/{repo_id}"
        with self.fake.lock:
            if repo_id in self.fake.datasets:  # the Hub's 409 names the repo's url (create_repo reads it)
                message = "You already created this dataset repo"
                return 409, {"error": message, "url": url}, {"X-Error-Message": message}
            self.fake.add_dataset(repo_id, {}, private=data.get("visibility") == "private")
            self.fake.datasets[repo_id].collaborators.add(user)
        return 200, {"url": url, "name": repo_id, "id": self.fake.datasets[repo_id].info["_id"]}, {}

    @staticmethod
    def _preupload(snap: Snapshot, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        files = []
        for f in data.get("files", []):
            binary = b"\0" in base64.b64decode(f["sample"])
            old = snap.files.get(f["path"])
            files.append({"path": f["path"], "uploadMode": "lfs" if binary or f["size"] >= LFS_THRESHOLD else "regular",
                          "shouldIgnore": False, "oid": git_blob_id(old) if old is not None else None})
        return 200, {"files": files, "commitOid": snap.sha}, {}

    def _lfs_batch(self, data: dict[str, Any], verify: str) -> tuple[int, Any, dict[str, str]]:
        if data.get("operation") != "upload" or "basic" not in data.get("transfers", ["basic"]):
            raise HubAnswerError(400, "the fake Hub offers the basic upload transfer only")
        objects = []
        for obj in data.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.fake.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.fake.url}/lfs-upload/{obj['oid']}", "header": {}},
                                    "verify": {"href": verify, "header": {}}}
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, {
            "Content-Type": "application/vnd.git-lfs+json"}

    def _lfs_put(self, oid: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubAnswerError(400, "the uploaded bytes do not hash to the announced oid")
        with self.fake.lock:
            self.fake.lfs_objects[oid] = body
        return 200, b"", {}

    def _lfs_verify(self, data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        stored = self.fake.lfs_objects.get(data.get("oid"))
        if stored is None or len(stored) != data.get("size"):
            raise HubAnswerError(404, "LFS object not found")
        return 200, {"success": True}, {}

    def _commit(self, kind: str, repo: Any, snap: Snapshot, body: bytes) -> tuple[int, Any, dict[str, str]]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubAnswerError(400, "the commit payload must start with a header")
        header = lines[0]["value"]
        if header.get("parentCommit") not in (None, snap.sha):
            raise HubAnswerError(412, "A commit has happened since. Please refresh and try again.")
        files, lfs = dict(snap.files), set(snap.lfs)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"]
            if key == "file":
                files[path] = base64.b64decode(value["content"])
                lfs.discard(path)
            elif key == "lfsFile":
                data = self.fake.lfs_objects.get(value["oid"])
                if data is None:
                    raise HubAnswerError(400, "Your push was rejected because an LFS pointer pointed to a file "
                                              "that does not exist")
                files[path] = data
                lfs.add(path)
            elif key == "deletedFile":
                if path not in files:
                    raise HubAnswerError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[path]
                lfs.discard(path)
            elif key == "deletedFolder":
                for p in [p for p in files if p.startswith(path.rstrip("/") + "/")]:
                    del files[p]
                    lfs.discard(p)
            else:
                raise HubAnswerError(400, f"unknown commit operation {key!r}")
        sha = hashlib.sha1(json.dumps([snap.sha, header, sorted((p, git_blob_id(d)) for p, d in files.items())])
                           .encode()).hexdigest()
        with self.fake.lock:
            repo.history[snap.sha] = Snapshot(snap.sha, repo.files, repo.lfs)
            repo.files, repo.lfs = files, lfs
            repo.info.update(sha=sha, siblings=[{"rfilename": p} for p in sorted(files)])
        url = f"{self.fake.url}/{_REPO_PREFIX[kind]}{repo.info['id']}/commit/{sha}"
        return 200, {"commitUrl": url, "commitOid": sha, "success": True, "pullRequestUrl": None}, {}

"""A loopback fake of the Hugging Face Hub, for driving the real ``huggingface_hub`` client in tests.

The tests own this server: they seed models, dataset files and discussions, inject faults (429 with
``RateLimit`` headers, 5xx, slow answers, malformed JSON, 403 on create) and then assert on what the
client sent (every request is recorded, minus its ``Authorization`` header). It implements only the
endpoints ``huggingface_hub`` 2.x calls for what this project does: model listing (``sort``,
``expand``, ``filter``, ``author``, Link-header pagination with keyset cursors), ``model_info`` (a seeded
README's YAML header served as ``cardData``), dataset/model file trees and downloads (``.eval_results``
files and cards included; :meth:`FakeHub.commit_model_file` adds one later, as a new commit) (``list_repo_files``, ``hf_hub_download``, ``snapshot_download``, at a branch or
commit), discussions (list, details, create, comment, status), organisation members, ``whoami``, and dataset
repo creation and commits over LFS (``create_repo``, ``create_commit``; see :mod:`fakehub_repos`). Plain stdlib
(``http.server`` in a thread) so it runs anywhere, offline.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from fakehub_repos import HubAnswerError, RepoWrites, Snapshot, at_revision, lfs_headers, tree_entry

#: ``expand=`` values the fake accepts for models (the real Hub answers 400 to others)
MODEL_EXPAND = frozenset({
    "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled", "downloads",
    "downloadsAllTime", "gated", "lastModified", "library_name", "likes", "pipeline_tag", "private",
    "safetensors", "sha", "siblings", "spaces", "tags", "trendingScore",
})
#: fields of a listing item when no ``expand`` is given (as the real Hub's compact listing)
_LIST_DEFAULT = ("id", "modelId", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
                 "library_name", "createdAt")

_DISABLED_MESSAGE = "Access to this resource is disabled."


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _card_header(readme: bytes) -> dict[str, Any] | None:
    """A model card's YAML header as the Hub's ``cardData`` (None when it has none or it does not parse)."""
    import yaml

    m = re.match(rb"\s*---\r?\n(.*?)\r?\n---", readme, re.S)
    try:
        data = yaml.safe_load(m.group(1)) if m else None
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _sha(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class RecordedRequest:
    """One request as the fake saw it (``headers`` lower-cased, without ``authorization``)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    user: str | None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Fault:
    """A canned answer for the next ``times`` requests matching ``method`` and the ``path`` regex.

    ``status=None`` keeps the real answer (use with ``delay`` for slow responses); ``body`` may be raw
    bytes (malformed JSON) or any JSON value.
    """

    path: str
    method: str | None = None
    status: int | None = 500
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.times > self.hits and (self.method is None or self.method == method)
                and re.search(self.path, path) is not None)


@dataclass
class _Repo:
    info: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    collaborators: set[str] = field(default_factory=set)
    discussions_disabled: bool = False
    blocked: set[str] = field(default_factory=set)
    discussions: list[dict[str, Any]] = field(default_factory=list)
    #: paths (of ``files``) stored in LFS, and the snapshots of earlier commits by commit id
    lfs: set[str] = field(default_factory=set)
    history: dict[str, Any] = field(default_factory=dict)


class FakeHub:
    """The server plus its seeded state. Use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, *, page_size: int = 50, discussion_page_size: int = 50):
        self.page_size = page_size
        self.discussion_page_size = discussion_page_size
        self.models: dict[str, _Repo] = {}
        self.datasets: dict[str, _Repo] = {}
        self.tokens: dict[str, str] = {}
        self.orgs: dict[str, list[str]] = {}
        self.faults: list[Fault] = []
        self.orgs: dict[str, set[str]] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def lock(self) -> threading.RLock:
        """Held while the server reads or changes the seeded state."""
        return self._lock

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeHub not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ seeding
    def add_user(self, name: str, token: str, orgs: tuple[str, ...] = ()) -> None:
        """A user (``token`` authenticates as ``name``), member of ``orgs`` (may create repos there)."""
        self.tokens[token] = name
        for org in orgs:
            self.orgs.setdefault(org, set()).add(name)

    def add_org(self, name: str, members: list[str]) -> None:
        """An organisation and its members (``/api/organizations/{name}/members``)."""
        self.orgs[name] = list(members)

    def add_model(self, repo_id: str, *, created_at: datetime | str | None = None, tags: list[str] | None = None,
                  card_data: dict[str, Any] | None = None, pipeline_tag: str | None = "text-generation",
                  private: bool = False, gated: bool | str = False, disabled: bool = False,
                  discussions_disabled: bool = False, blocked: tuple[str, ...] = (),
                  collaborators: tuple[str, ...] = (), files: dict[str, bytes] | None = None,
                  **extra: Any) -> dict[str, Any]:
        """Seed (or replace) a model repo. ``extra`` adds raw JSON fields (``config``, ``safetensors``...).

        Pass ``created_at=None`` together with ``omit=[...]`` in ``extra`` to drop fields entirely.
        """
        omit = set(extra.pop("omit", ()))
        if card_data is None and files and "README.md" in files:  # the Hub serves the card's header as cardData
            card_data = _card_header(files["README.md"])
        author = repo_id.split("/")[0]
        created = _iso(created_at or datetime.now(timezone.utc))
        info = {"_id": _sha(repo_id)[:24], "id": repo_id, "modelId": repo_id, "author": author,
                "sha": extra.pop("sha", _sha(repo_id, created, tags, card_data)), "createdAt": created,
                "lastModified": created, "private": private, "gated": gated, "disabled": disabled,
                "pipeline_tag": pipeline_tag, "library_name": "transformers", "tags": list(tags or []),
                "cardData": card_data, "downloads": 0, "likes": 0, "trendingScore": 0,
                "siblings": [{"rfilename": p} for p in sorted(files or {})], **extra}
        if card_data is None:
            info.pop("cardData")
        for key in omit:
            info.pop(key, None)
        with self._lock:
            old = self.models.get(repo_id)
            self.models[repo_id] = _Repo(info, dict(files or {}), {author, *collaborators}, discussions_disabled,
                                         set(blocked), old.discussions if old else [])
        return info

    def commit_model_file(self, repo_id: str, path: str, data: bytes) -> str:
        """A new commit on a seeded model adding or replacing one file (e.g. an ``.eval_results`` file
        arriving after release): the earlier commit stays readable, as on the Hub. Returns the new sha."""
        with self._lock:
            repo = self.models[repo_id]
            old = repo.info["sha"]
            repo.history[old] = Snapshot(old, dict(repo.files), set(repo.lfs))
            repo.files[path] = data
            if path == "README.md":
                repo.info["cardData"] = _card_header(data)
            sha = _sha(old, path, hashlib.sha1(data).hexdigest())
            repo.info.update(sha=sha, lastModified=_iso(datetime.now(timezone.utc)),
                             siblings=[{"rfilename": p} for p in sorted(repo.files)])
        return sha

    def update_model(self, repo_id: str, **fields: Any) -> None:
        """Change raw JSON fields of a seeded model (e.g. lineage tags arriving after creation)."""
        with self._lock:
            self.models[repo_id].info.update(fields)

    def add_dataset(self, repo_id: str, files: dict[str, bytes], *, private: bool = False) -> None:
        info = {"_id": _sha(repo_id)[:24], "id": repo_id, "author": repo_id.split("/")[0],
                "sha": _sha(repo_id, sorted((p, hashlib.sha1(b).hexdigest()) for p, b in files.items())),
                "private": private, "siblings": [{"rfilename": p} for p in sorted(files)],
                "createdAt": _iso(datetime.now(timezone.utc)), "tags": [], "cardData": {}}
        with self._lock:
            self.datasets[repo_id] = _Repo(info, dict(files), {repo_id.split("/")[0]})

    def add_discussion(self, repo_id: str, *, author: str, title: str, body: str = "", status: str = "open",
                       created_at: datetime | str | None = None) -> int:
        """Seed a discussion (as if someone opened it earlier); returns its number."""
        with self._lock:
            return self._new_discussion(self.models[repo_id], author, title, body, status,
                                        _iso(created_at or datetime.now(timezone.utc)))

    def discussions(self, repo_id: str) -> list[dict[str, Any]]:
        """The discussions of a model repo, as stored (title, status, author, events with bodies)."""
        with self._lock:
            return [json.loads(json.dumps(d)) for d in self.models[repo_id].discussions]

    def add_comment(self, repo_id: str, num: int, *, author: str, text: str) -> None:
        """Someone replies in a discussion."""
        with self._lock:
            self.models[repo_id].discussions[num - 1]["events"].append(self._comment_event(author, text))

    def close_discussion(self, repo_id: str, num: int, by: str | None = None) -> None:
        with self._lock:
            d = self.models[repo_id].discussions[num - 1]
            d["status"] = "closed"
            d["events"].append(self._event("status-change", by or repo_id.split("/")[0], {"status": "closed"}))

    def inject(self, path: str, *, method: str | None = None, status: int | None = 500, times: int = 1,
               headers: dict[str, str] | None = None, body: Any = None, delay: float = 0.0) -> Fault:
        """Answer the next ``times`` matching requests with a fault (see :class:`Fault`)."""
        fault = Fault(path, method, status, times, dict(headers or {}), body, delay)
        with self._lock:
            self.faults.append(fault)
        return fault

    def rate_limit(self, path: str, *, reset: int = 1, method: str | None = None, times: int = 1) -> Fault:
        """A 429 with the Hub's ``RateLimit`` headers (``r=0`` remaining, reset in ``reset`` seconds)."""
        return self.inject(path, method=method, status=429, times=times, headers={
            "RateLimit": f'"api";r=0;t={reset}', "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'},
            body={"error": "You have exceeded the rate limit"})

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if re.search(pattern, r.path) and (method is None or r.method == method)]

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _event(kind: str, author: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"id": _sha(kind, author, data, time.time_ns())[:24], "type": kind, "createdAt": _iso(datetime.now(timezone.utc)),
                "author": {"name": author}, "data": data}

    def _comment_event(self, author: str, text: str) -> dict[str, Any]:
        return self._event("comment", author, {"edited": False, "hidden": False, "latest": {"raw": text}})

    def _new_discussion(self, repo: _Repo, author: str, title: str, body: str, status: str, created: str) -> int:
        num = len(repo.discussions) + 1
        repo.discussions.append({"num": num, "title": title, "status": status, "isPullRequest": False,
                                 "createdAt": created, "author": {"name": author},
                                 "repo": {"name": repo.info["id"], "type": "model"},
                                 "events": [self._comment_event(author, body)]})
        return num


class _HubError(HubAnswerError):
    pass


class _Handler(RepoWrites, BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            chunk = self.rfile.read(size + 2)[:size]
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk)

    # ------------------------------------------------------------------ plumbing
    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)
        body = self._read_body()
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        user = self.fake.tokens.get(token) if token else None
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        with self.fake._lock:
            self.fake.requests.append(RecordedRequest(method, path, query, headers, body, user))
            fault = next((f for f in self.fake.faults if f.matches(method, path)), None)
            if fault:
                fault.hits += 1
        try:
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.status is not None:
                payload = fault.body if fault.body is not None else {"error": f"injected {fault.status}"}
                return self._send(fault.status, payload, fault.headers, head=method == "HEAD")
            if token and user is None:
                raise _HubError(401, "Invalid credentials in Authorization header")
            status, payload, extra = self._route(method, path, query, body, user)
            self._send(status, payload, extra, head=method == "HEAD")
        except HubAnswerError as exc:
            hdrs = {"X-Error-Message": exc.message}
            if exc.code:
                hdrs["X-Error-Code"] = exc.code
            self._send(exc.status, {"error": exc.message}, hdrs, head=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def _send(self, status: int, payload: Any, headers: dict[str, str], head: bool = False) -> None:
        if isinstance(payload, (bytes, bytearray)):
            data, ctype = bytes(payload), "application/octet-stream"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", ctype))
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if not head:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ------------------------------------------------------------------ routing
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               user: str | None) -> tuple[int, Any, dict[str, str]]:
        if path == "/api/whoami-v2":
            if user is None:
                raise _HubError(401, "Invalid credentials in Authorization header")
            return 200, {"type": "user", "name": user, "auth": {"accessToken": {"role": "write"}}}, {}
        if path == "/api/models" and method == "GET":
            return self._list_models(query, user)
        m = re.fullmatch(r"/api/organizations/([^/]+)/members", path)
        if m and method == "GET":
            if m.group(1) not in self.fake.orgs:
                raise _HubError(404, "Organization not found")
            return 200, [{"user": u, "fullname": u, "avatarUrl": "", "type": "user", "isPro": False}
                         for u in self.fake.orgs[m.group(1)]], {}
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(/.*)?", path)
        if m:
            kind, repo_id, rest = m.group(1), m.group(2), m.group(3) or ""
            repo = self._repo(kind, repo_id, user)
            if kind == "models" and rest.startswith("/discussions"):
                return self._discussions(method, repo, rest[len("/discussions"):], query, body, user)
            rm = re.fullmatch(r"/tree/([^/]+)(/.*)?", rest)
            if rm and method == "GET":
                return self._tree(repo, (rm.group(2) or "").strip("/"), query, rm.group(1))
            if rest == "" and method == "GET":
                return 200, self._expand(repo.info, query.get("expand"), full=True), {}
            if rest.startswith("/revision/") and method == "GET":
                snap = at_revision(repo, rest[len("/revision/"):])
                info = {**repo.info, "sha": snap.sha, "siblings": [{"rfilename": p} for p in sorted(snap.files)]}
                return 200, self._expand(info, query.get("expand"), full=True), {}
        m = re.fullmatch(r"(?:/(datasets))?/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m and method in ("GET", "HEAD"):
            repo = self._repo("datasets" if m.group(1) else "models", m.group(2), user)
            return self._resolve(repo, m.group(4), m.group(3))
        written = self.route_writes(method, path, body, user)
        if written is not None:
            return written
        raise _HubError(404, f"no fake endpoint for {method} {path}")

    def _repo(self, kind: str, repo_id: str, user: str | None) -> _Repo:
        with self.fake._lock:
            repo = (self.fake.models if kind == "models" else self.fake.datasets).get(repo_id)
        if repo is None or (repo.info.get("private") and user not in repo.collaborators):
            raise _HubError(404, "Repository not found", "RepoNotFound")
        if repo.info.get("disabled"):
            raise _HubError(403, _DISABLED_MESSAGE)
        return repo

    def _expand(self, info: dict[str, Any], expand: list[str] | None, *, full: bool) -> dict[str, Any]:
        if expand:
            unknown = [e for e in expand if e not in MODEL_EXPAND]
            if unknown:
                raise _HubError(400, f"invalid expand value {unknown[0]!r}")
            keys = {"_id", "id", *expand}
        else:
            keys = set(info) if full else {"_id", *_LIST_DEFAULT}
        return {k: v for k, v in info.items() if k in keys}

    def _list_models(self, query: dict[str, list[str]], user: str | None) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        with fake._lock:
            infos = [r.info for r in fake.models.values()
                     if not r.info.get("private") or user in r.collaborators]
        for tag in query.get("filter", []):
            infos = [i for i in infos if tag in (i.get("tags") or []) or tag == i.get("library_name")]
        if query.get("author"):
            infos = [i for i in infos if i["id"].split("/")[0] == query["author"][0]]
        if query.get("search"):
            infos = [i for i in infos if query["search"][0].lower() in i["id"].lower()]
        if query.get("pipeline_tag"):
            infos = [i for i in infos if i.get("pipeline_tag") == query["pipeline_tag"][0]]
        by_created = query.get("sort", [""])[0] == "createdAt"
        if by_created:
            infos = sorted(infos, key=lambda i: (i.get("createdAt") or "", i["id"]), reverse=True)
        expand = query.get("expand")
        full = query.get("full", [""])[0].lower() == "true" or query.get("cardData", [""])[0].lower() == "true"
        limit = int(query.get("limit", [fake.page_size])[0])
        size = max(1, min(limit, fake.page_size))
        start = self._cursor_start(infos, query.get("cursor", [""])[0], by_created)
        page = [self._expand(i, expand, full=full) for i in infos[start:start + size]]
        headers = {}
        if start + size < len(infos):
            q = {k: v for k, v in query.items() if k != "cursor"}
            last = infos[start + size - 1]
            # like the Hub's: a keyset cursor (the last item's sort key), so uploads arriving between
            # two page requests neither shift nor repeat the pages that follow
            q["cursor"] = [base64.urlsafe_b64encode(json.dumps(
                [last.get("createdAt") or "", last["id"]] if by_created else [start + size]).encode()).decode()]
            headers["Link"] = f'<{fake.url}/api/models?{urlencode(q, doseq=True)}>; rel="next"'
        return 200, page, headers

    @staticmethod
    def _cursor_start(infos: list[dict[str, Any]], cursor: str, by_created: bool) -> int:
        if not cursor:
            return 0
        try:
            key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        except ValueError:
            raise _HubError(400, "invalid cursor") from None
        if not by_created:
            return int(key[0])
        return next((n for n, i in enumerate(infos) if (i.get("createdAt") or "", i["id"]) < tuple(key)), len(infos))

    def _tree(self, repo: _Repo, prefix: str, query: dict[str, list[str]],
              revision: str = "main") -> tuple[int, Any, dict[str, str]]:
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        base = prefix + "/" if prefix else ""
        entries, folders = [], set()
        snap = at_revision(repo, revision)
        for p, data in sorted(snap.files.items()):
            if not p.startswith(base):
                continue
            rest = p[len(base):]
            if "/" in rest and not recursive:
                folders.add(base + rest.split("/")[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                folders.update(base + "/".join(parts[:i + 1]) for i in range(len(parts)))
            entries.append(tree_entry(snap, p))
        if prefix and not entries and not folders:
            raise _HubError(404, f"{prefix} does not exist", "EntryNotFound")
        entries += [{"type": "directory", "path": f, "oid": _sha(f)} for f in sorted(folders)]
        return 200, entries, {}

    def _resolve(self, repo: _Repo, filename: str, revision: str = "main") -> tuple[int, Any, dict[str, str]]:
        if repo.info.get("gated"):
            raise _HubError(403, "Access to this file is restricted", "GatedRepo")
        snap = at_revision(repo, revision)
        if filename not in snap.files:
            raise _HubError(404, f"{filename} not found", "EntryNotFound")
        data = snap.files[filename]
        etag = f'"{hashlib.sha1(data).hexdigest()}"'
        return 200, data, {"X-Repo-Commit": snap.sha, "ETag": etag, "Content-Type": "application/octet-stream",
                           **lfs_headers(snap, filename)}

    def _discussions(self, method: str, repo: _Repo, rest: str, query: dict[str, list[str]], body: bytes,
                     user: str | None) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        if rest == "" and method == "GET":
            with fake._lock:
                items = list(repo.discussions)
            if query.get("author"):
                items = [d for d in items if d["author"]["name"] == query["author"][0]]
            status = query.get("status", ["all"])[0]
            if status != "all":
                items = [d for d in items if d["status"] == status]
            kind = query.get("type", ["all"])[0]
            if kind != "all":
                items = [d for d in items if d["isPullRequest"] == (kind == "pull_request")]
            items.sort(key=lambda d: d["num"], reverse=True)
            p = int(query.get("p", ["0"])[0])
            size = fake.discussion_page_size
            page = [{k: v for k, v in d.items() if k != "events"} for d in items[p * size:(p + 1) * size]]
            return 200, {"discussions": page, "count": len(items), "start": p * size}, {}
        if user is None and method == "POST":
            raise _HubError(401, "You must be authenticated to do this")
        if rest == "" and method == "POST":
            if repo.discussions_disabled or user in repo.blocked:
                raise _HubError(403, "Discussions are disabled for this repo")
            data = json.loads(body or b"{}")
            with fake._lock:
                num = fake._new_discussion(repo, user, data["title"], data.get("description") or "", "open",
                                           _iso(datetime.now(timezone.utc)))
            return 200, {"num": num, "url": f"{fake.url}/{repo.info['id']}/discussions/{num}"}, {}
        m = re.fullmatch(r"/(\d+)(/comment|/status)?", rest)
        if not m or not 1 <= int(m.group(1)) <= len(repo.discussions):
            raise _HubError(404, "Discussion not found")
        d = repo.discussions[int(m.group(1)) - 1]
        if m.group(2) is None and method == "GET":
            with fake._lock:
                details = json.loads(json.dumps(d))
            return 200, {**details, "changes": {"base": "refs/heads/main"}, "filesWithConflicts": [], "diff": None}, {}
        if method != "POST":
            raise _HubError(405, "method not allowed")
        data = json.loads(body or b"{}")
        with fake._lock:
            if m.group(2) == "/comment":
                if user in repo.blocked:
                    raise _HubError(403, "You are blocked by the repo owner")
                event = fake._comment_event(user, data["comment"])
                d["events"].append(event)
                return 200, {"newMessage": event}, {}
            if user not in (d["author"]["name"], *repo.collaborators):
                raise _HubError(403, "Only the author or the owner can change the status")
            d["status"] = data["status"]
            event = fake._event("status-change", user, {"status": data["status"]})
            d["events"].append(event)
            return 200, {"newStatus": event}, {}


__all__ = ["FakeHub", "Fault", "RecordedRequest", "MODEL_EXPAND"]

"""The Hugging Face Hub: pulling a reference, and reading a model's lineage and metadata.

One small facade over the real ``huggingface_hub.HfApi`` with an explicit endpoint (so tests point
it at a loopback fake Hub), shared by ``reference pull``, the bot and the Space. Every Hub failure
becomes a one-line :class:`~lrmf_plugin.errors.HubError` (subclasses say what went wrong, so the bot
can tell an opt-out from a rate limit); tokens are passed to the client only, never logged.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import pandas as pd
from tqdm.auto import tqdm

from .errors import HubError, InputError
from .leaderboard import BENCHMARKS
from .metadata import METADATA_FIELDS, normalise_metadata
from .reference import ImportReport, Reference, SourceData
from .schema import BenchmarkInfo, Edge, normalise_relation

DEFAULT_ENDPOINT = "https://huggingface.co"
CONTENTS_REPO = "open-llm-leaderboard/contents"
#: the leaderboard's per-model details datasets (lm-eval ``--log_samples`` output)
DETAILS_REPO = "open-llm-leaderboard/{org}__{name}-details"
#: what ``model_info``/``list_models`` must return for lineage and metadata
MODEL_EXPAND = ["createdAt", "lastModified", "author", "private", "gated", "disabled", "pipeline_tag",
                "library_name", "tags", "cardData", "sha", "config", "safetensors"]
#: contents-dataset score column -> reference benchmark (normalised 0-100 scores, as the v2 CSV)
CONTENTS_BENCHMARKS = {"IFEval": "ifeval", "BBH": "bbh", "MATH Lvl 5": "math", "GPQA": "gpqa",
                       "MUSR": "musr", "MMLU-PRO": "mmlu_pro"}
#: Hub model ids: ``org/name`` (or a legacy single name); anything else in a card is not a model
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[\w.\-]{1,96})?$")

_T = TypeVar("_T")
_installed_timeout: float | None = None


class HubRateLimited(HubError):
    """The Hub answered 429; ``reset_in`` is the wait its ``RateLimit`` header asks for (seconds)."""

    def __init__(self, message: str, reset_in: float | None = None):
        super().__init__(message)
        self.reset_in = reset_in


class HubForbidden(HubError):
    """403: discussions disabled, the account blocked, or the repo disabled."""


class HubNotFound(HubError):
    """404 (or a private repo we cannot see): the repo, file or discussion does not exist for us."""


# ---------------------------------------------------------------------- client and errors

def connect(endpoint: str | None = None, token: str | bool | None = None, timeout: float = 60.0):
    """An ``HfApi`` for ``endpoint`` (default ``$HF_ENDPOINT`` or the public Hub).

    ``token=None`` lets the client find ``HF_TOKEN`` or the token file itself. huggingface_hub's
    shared HTTP client waits forever by default, so a per-request ``timeout`` is installed first:
    a stalled Hub must end a bot run, not hang it.
    """
    from huggingface_hub import HfApi

    _install_timeout(timeout)
    url = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    return HfApi(endpoint=url, token=token)


def _install_timeout(timeout: float) -> None:
    global _installed_timeout
    if _installed_timeout == timeout:
        return
    import httpx2
    from huggingface_hub.utils import set_client_factory
    from huggingface_hub.utils._http import hf_request_event_hook

    def factory() -> "httpx2.Client":
        return httpx2.Client(event_hooks={"request": [hf_request_event_hook]}, follow_redirects=True,
                             timeout=httpx2.Timeout(timeout))

    set_client_factory(factory)
    _installed_timeout = timeout


def as_hub_error(exc: BaseException, what: str) -> HubError:
    """A one-line :class:`HubError` for a client exception raised while doing ``what``."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        server = (exc.server_message or "").strip().splitlines()
        detail = f" ({server[0][:200]})" if server else ""
        if status == 429:
            from huggingface_hub.utils import parse_ratelimit_headers

            info = parse_ratelimit_headers(exc.response.headers)
            reset = float(info.reset_in_seconds) if info else None
            return HubRateLimited(f"{what}: rate limited by the Hub"
                                  + (f", retry in {reset:.0f} s" if reset is not None else ""), reset)
        if status == 403:
            return HubForbidden(f"{what}: forbidden (HTTP 403){detail}")
        if status in (401, 404):
            return HubNotFound(f"{what}: not found or not accessible (HTTP {status}){detail}")
        return HubError(f"{what}: the Hub answered HTTP {status}{detail}")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"{what}: the Hub did not answer in time")
    if isinstance(exc, (httpx2.HTTPError, OSError)):
        return HubError(f"{what}: cannot reach the Hub ({type(exc).__name__})")
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return HubError(f"{what}: the Hub answered something unreadable ({type(exc).__name__})")
    return HubError(f"{what}: {type(exc).__name__}")


@contextmanager
def hub_call(what: str) -> Iterator[None]:
    """Turn any client failure inside the block into a :class:`HubError` naming ``what``."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except (HfHubHTTPError, httpx2.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
        raise as_hub_error(exc, what) from None


def _retrying(fn: Callable[[], _T], what: str, *, attempts: int, max_wait: float = 300.0) -> _T:
    """``fn()`` with the Hub's etiquette for a long one-off job: wait out 429s, retry 5xx/timeouts."""
    for attempt in range(attempts):
        try:
            with hub_call(what):
                return fn()
        except HubRateLimited as exc:
            if attempt == attempts - 1:
                raise
            time.sleep(min(max_wait, (exc.reset_in or 1.0) + 1.0))
        except (HubNotFound, HubForbidden):
            raise
        except HubError:
            if attempt == attempts - 1:
                raise
            time.sleep(min(max_wait, 2.0 ** attempt))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------- model cards

def _card_get(card: Any, key: str) -> Any:
    if card is None:
        return None
    if isinstance(card, dict):
        return card.get(key)
    return card.get(key) if hasattr(card, "get") else getattr(card, key, None)


def lineage_from_model_info(info: Any) -> list[tuple[str, str]]:
    """Direct parents ``[(parent id, relation)]`` of a model, from its Hub info.

    The Hub's ``base_model:<relation>:<id>`` tags come first (they carry the relation the Hub
    resolved); without them the card's ``base_model`` (a list means a merge) and
    ``base_model_relation``. Anything that is not a model id (card text is user input) is dropped.
    """
    model_id = getattr(info, "id", None)
    parents: dict[str, str] = {}
    for tag in getattr(info, "tags", None) or []:
        parts = str(tag).split(":")
        if len(parts) == 3 and parts[0] == "base_model":
            try:
                relation = normalise_relation(parts[1])
            except InputError:
                continue
            if REPO_ID_RE.match(parts[2]) and parts[2] != model_id:
                parents.setdefault(parts[2], relation)
    if parents:
        return list(parents.items())
    card = getattr(info, "card_data", None)
    base = _card_get(card, "base_model")
    bases = [base] if isinstance(base, str) else list(base) if isinstance(base, (list, tuple)) else []
    bases = list(dict.fromkeys(b.strip() for b in bases if isinstance(b, str) and REPO_ID_RE.match(b.strip())
                               and b.strip() != model_id))
    if not bases:
        return []
    relation = "merge" if len(bases) > 1 else "finetune"
    given = _card_get(card, "base_model_relation")
    if isinstance(given, str):
        try:
            relation = normalise_relation(given)
        except InputError:
            pass
    return [(b, relation) for b in bases]


_PRECISIONS = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "I8": "8bit", "U8": "8bit",
               "I4": "4bit", "U4": "4bit"}


def metadata_from_model_info(info: Any) -> dict[str, Any]:
    """Canonical metadata (:data:`~lrmf_plugin.metadata.METADATA_FIELDS`) readable from Hub info.

    Parameters and precision from ``safetensors``, architecture from ``config``, the upload date,
    likes and licence; only what the Hub states, so a missing field stays missing rather than guessed.
    """
    raw: dict[str, Any] = {}
    st = getattr(info, "safetensors", None)
    if st is not None and getattr(st, "total", None):
        raw["params_b"] = float(st.total) / 1e9
        dtypes = dict(getattr(st, "parameters", None) or {})
        if dtypes:
            main = max(dtypes, key=lambda k: dtypes[k])
            if main in _PRECISIONS:
                raw["precision"] = _PRECISIONS[main]
    config = getattr(info, "config", None) or {}
    archs = config.get("architectures") if isinstance(config, dict) else None
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        raw["architecture"] = archs[0]
        raw["moe"] = "moe" in archs[0].lower() or "mixtral" in archs[0].lower()
    tok = config.get("tokenizer_config") if isinstance(config, dict) else None
    if isinstance(tok, dict):
        raw["chat_template"] = bool(tok.get("chat_template"))
    tags = set(getattr(info, "tags", None) or [])
    if "merge" in tags or "mergekit" in tags:
        raw["merged"] = True
    created = getattr(info, "created_at", None)
    if created is not None:
        raw["upload_date"] = created.date().isoformat()
    if isinstance(getattr(info, "likes", None), int):
        raw["likes"] = info.likes
    licences = [t.split(":", 1)[1] for t in tags if t.startswith("license:")]
    if licences:
        raw["license"] = licences[0]
    try:
        return normalise_metadata(raw, where=f"Hub model {getattr(info, 'id', '?')}")
    except InputError:
        return {}


# ---------------------------------------------------------------------- reference pull

def contents_source(df: pd.DataFrame, location: str) -> SourceData:
    """The Open LLM Leaderboard ``contents`` table as a reference source (suite ``v2``).

    Same benchmarks, scale and rules as the v2 CSV importer (normalised 0-100 scores; a model
    evaluated twice keeps its latest submission; the ``Base Model`` root ancestor becomes a
    ``family`` edge unless it is the model itself, ``Removed`` or ``X (Merge)``).
    """
    missing = [c for c in ("fullname", *CONTENTS_BENCHMARKS) if c not in df.columns]
    if missing:
        raise HubError(f"{location}: contents table lacks columns {', '.join(missing)}")
    df = df.reset_index(drop=True)
    df["fullname"] = df["fullname"].map(lambda v: v.strip() if isinstance(v, str) else "")
    if (df["fullname"] == "").any():
        raise HubError(f"{location}: row {int((df['fullname'] == '').idxmax()) + 1}, column 'fullname': empty model id")
    if "Submission Date" in df.columns:
        df = df.sort_values("Submission Date", kind="stable", na_position="first")
    n = len(df)
    df = df.drop_duplicates("fullname", keep="last").sort_index()
    notes = [f"{n - len(df)} repeated rows dropped (kept the latest evaluation of each model)"] if len(df) < n else []
    if "Type" in df.columns:
        # "💬 chat models (RLHF, DPO, IFT, ...)" -> "chatmodels", as the v2 CSV spells types
        df["Type"] = df["Type"].map(lambda v: re.sub(r"\s+|\(.*\)", "", re.sub(r"^[^\w]+", "", v))
                                    if isinstance(v, str) else v)
    scores, meta, edges = [], [], []
    for i, row in zip(df.index, df.to_dict("records")):
        model, where = row["fullname"], f"{location}: row {i + 1}"
        for column, bench in CONTENTS_BENCHMARKS.items():
            value = pd.to_numeric(pd.Series([row.get(column)]), errors="coerce").iloc[0]
            if pd.isna(value):
                continue
            if not 0.0 <= value <= 100.0:
                raise HubError(f"{where}, column {column!r}: score {row.get(column)!r} is outside [0, 100]")
            scores.append((model, bench, float(value)))
        try:
            meta.append({"model": model, **normalise_metadata(row, where=where)})
        except InputError as exc:
            raise HubError(str(exc)) from None
        root = row.get("Base Model")
        if isinstance(root, str) and REPO_ID_RE.match(root.strip()):
            root = root.strip()
            if root != model and root != "Removed" and not root.endswith("(Merge)"):
                edges.append(Edge(root, model, "family"))
    return SourceData(key=f"hub:{location}", kind="hub-contents", location=location,
                      scores=pd.DataFrame(scores, columns=["model", "benchmark", "score"]),
                      metadata=pd.DataFrame.from_records(meta, columns=["model", *METADATA_FIELDS]).dropna(axis=1, how="all"),
                      edges=edges, benchmarks={b: BenchmarkInfo(name=b, suite="v2", has_scores=True) for b in BENCHMARKS},
                      notes=notes)


def details_repo(model: str) -> str:
    """The leaderboard's details dataset of ``model`` (``org/name`` -> ``open-llm-leaderboard/org__name-details``)."""
    if "/" not in model or not REPO_ID_RE.match(model):
        raise InputError(f"{model!r} is not a Hub model id (org/name)")
    org, name = model.split("/", 1)
    return DETAILS_REPO.format(org=org, name=name)


def _download(api: Any, repo: str, wanted: Callable[[str], bool], dest: Path, what: str, attempts: int) -> list[Path]:
    # listing calls already back off inside the client; downloads and model_info do not
    files = _retrying(lambda: api.list_repo_files(repo, repo_type="dataset"), f"{what}: listing {repo}", attempts=1)
    chosen = sorted(f for f in files if wanted(f))
    if not chosen:
        raise HubError(f"{what}: dataset {repo} has no matching files")
    return [Path(_retrying(lambda f=f: api.hf_hub_download(repo, f, repo_type="dataset", local_dir=dest),
                           f"{what}: downloading {repo}/{f}", attempts=attempts)) for f in chosen]


def _details_source(api: Any, model: str, endpoint: str, tmp: Path, attempts: int) -> SourceData:
    from .importers import get_importer

    repo = details_repo(model)
    dest = tmp / "details" / repo.replace("/", "__")
    _download(api, repo, lambda f: bool(re.search(r"(^|/)(samples_.+\.jsonl|results_.+\.json)$", f)), dest,
              f"details of {model}", attempts)
    src = get_importer("lm-eval-output")(dest, model=model)
    src.key, src.kind, src.location = f"hub:{endpoint}/datasets/{repo}", "hub-details", f"{endpoint}/datasets/{repo}"
    return src


def _card_lineage(api: Any, models: Sequence[str], endpoint: str, progress: bool, attempts: int) -> SourceData:
    edges: list[Edge] = []
    notes: list[str] = []
    missing = 0
    for model in tqdm(models, desc="model cards", unit="model", disable=not progress):
        try:
            info = _retrying(lambda m=model: api.model_info(m, expand=["tags", "cardData"]), f"model card of {model}",
                             attempts=attempts)
        except HubNotFound:
            missing += 1
            continue
        edges.extend(Edge(parent, model, relation) for parent, relation in lineage_from_model_info(info))
    if missing:
        notes.append(f"{missing} models are no longer on the Hub (no lineage read)")
    return SourceData(key=f"hub:{endpoint}/model-cards", kind="hub-lineage", location=f"{endpoint} model cards",
                      edges=edges, notes=notes)


def pull_reference(ref: Reference, *, endpoint: str | None = None, contents_repo: str = CONTENTS_REPO,
                   details_for: Sequence[str] = (), lineage: bool = True, token: str | bool | None = None,
                   progress: bool = True, retries: int = 4) -> list[ImportReport]:
    """Fill ``ref`` from the Hub: the leaderboard ``contents``, chosen ``details``, card lineage.

    Everything is downloaded and parsed first (into a temporary directory that is removed
    afterwards); only then is each part stored as its own source, so a Hub failure leaves the
    reference untouched and a re-pull replaces the previous pull instead of duplicating it. Rate
    limits are waited out and server errors retried ``retries`` times (a pull is a one-off job).
    """
    api = connect(endpoint, token)
    url = api.endpoint
    sources: list[SourceData] = []
    with tempfile.TemporaryDirectory(prefix="lrmf-pull-") as tmpdir:
        tmp = Path(tmpdir)
        location = f"{url}/datasets/{contents_repo}"
        attempts = retries + 1
        files = _download(api, contents_repo, lambda f: f.endswith(".parquet"), tmp / "contents", "contents",
                          attempts)
        try:
            df = pd.concat([pd.read_parquet(f) for f in tqdm(files, desc="contents", disable=not progress)],
                           ignore_index=True)
        except (OSError, ValueError) as exc:
            raise HubError(f"{location}: not a readable parquet table ({type(exc).__name__})") from None
        sources.append(contents_source(df, location))
        for model in details_for:
            sources.append(_details_source(api, model, url, tmp, attempts))
        if lineage:
            models = list(dict.fromkeys([*sources[0].scores["model"], *sources[0].metadata["model"], *details_for]))
            sources.append(_card_lineage(api, models, url, progress, attempts))
    return [ref.write_source(src) for src in sources]

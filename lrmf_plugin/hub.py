"""The Hugging Face Hub client: connecting, one-line errors, polite retries, reading model info.

One small facade over the real ``huggingface_hub.HfApi`` with an explicit endpoint (so tests point
it at a loopback fake Hub), shared by the Hub importer (:mod:`lrmf_plugin.importers.hub_pull`), the
fitted-reference distribution (:mod:`lrmf_plugin.distribution`), the bot and the Space. Every Hub
failure becomes a one-line :class:`~lrmf_plugin.errors.HubError` (subclasses in :mod:`lrmf_plugin.errors`
say what went wrong, so the bot can tell an opt-out from a rate limit); tokens are passed to the
client only, never logged.
"""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from .errors import HubError, HubForbidden, HubNotFound, HubRateLimited, InputError
from .metadata import normalise_metadata
from .schema import normalise_relation

DEFAULT_ENDPOINT = "https://huggingface.co"
#: what ``model_info``/``list_models`` must return for lineage and metadata
MODEL_EXPAND = ["createdAt", "lastModified", "author", "private", "gated", "disabled", "pipeline_tag",
                "library_name", "tags", "cardData", "sha", "config", "safetensors"]
#: Hub model ids: ``org/name`` (or a legacy single name); anything else in a card is not a model
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[\w.\-]{1,96})?$")

_T = TypeVar("_T")
_installed_timeout: float | None = None


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
    if not isinstance(exc, HfHubHTTPError) and isinstance(exc.__cause__, (HfHubHTTPError, httpx2.HTTPError)):
        # snapshot_download reports a failed file as "not in the local cache", caused by the Hub's answer
        return as_hub_error(exc.__cause__, what)
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


def retrying(fn: Callable[[], _T], what: str, *, attempts: int, max_wait: float = 300.0) -> _T:
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

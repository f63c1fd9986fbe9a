"""The resolver's last step: what the Hub says about a model the reference cannot describe.

Only used when a Hub endpoint is configured (``predict --hub-endpoint`` or ``$LRMF_HUB_ENDPOINT``),
and never with ``HF_HUB_OFFLINE=1``; a model the Hub does not know resolves without it.
"""
from __future__ import annotations

import os
from typing import Any

from .resolution import Lookup


def hub_endpoint(given: str | None = None) -> str | None:
    """The endpoint to look models up at, or None when lookups are off (offline, or none configured)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return None
    return given or os.environ.get("LRMF_HUB_ENDPOINT") or None


def hub_lookup(endpoint: str, timeout: float = 20.0) -> Lookup:
    """A lookup reading ``model_info`` (metadata and parents) without a token: public facts only."""
    from .hub import MODEL_EXPAND, HubNotFound, connect, hub_call, lineage_from_model_info, metadata_from_model_info

    api = connect(endpoint, token=False, timeout=timeout)

    def lookup(model: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        try:
            with hub_call(f"Hub lookup of {model}"):
                info = api.model_info(model, expand=MODEL_EXPAND)
        except HubNotFound:
            return {}, []
        return metadata_from_model_info(info), lineage_from_model_info(info)

    return lookup

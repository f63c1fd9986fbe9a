"""The standing rules of the one eligibility gate (:meth:`lrmf_bot.poller.Poller.gate`).

Plain functions of the configuration, the local state and the Hub's model info, so the gate can
apply them to a candidate early (before spending a prediction) and again right before any write.
"""
from __future__ import annotations

from typing import Any

from .config import OPT_OUT_TAG, BotConfig
from .state import BotState


def namespace_rule(cfg: BotConfig, state: BotState, model: str) -> str | None:
    """Deny/allow lists and the opt-outs the bot has recorded for the repo or its namespace."""
    ns = model.split("/")[0]
    if ns in cfg.deny:
        return "namespace on the deny list"
    if cfg.allow and ns not in cfg.allow:
        return "namespace not on the allow list"
    return state.opted_out(model)


def repo_rule(info: Any, bot_user: str) -> str | None:
    """What the repo itself says: private, disabled, gated, not a text model, the opt-out tag, the bot's own."""
    if info.private:
        return "private"
    if info.disabled:
        return "disabled"
    if info.gated:
        return "gated"
    if info.pipeline_tag not in (None, "text-generation"):
        return "not text-generation"
    card_tags = (getattr(info.card_data, "tags", None) if info.card_data is not None else None) or []
    if OPT_OUT_TAG in (info.tags or []) or OPT_OUT_TAG in card_tags:
        return "opt-out tag on the card"
    if (info.author or info.id.split("/")[0]) == bot_user:
        return "the bot's own model"
    return None


__all__ = ["namespace_rule", "repo_rule"]

"""Shared pieces of the bot tests: a small fitted reference, the fake Hub with the bot's account, helpers.

Test modules import the fixtures by name (``from bot_helpers import hub, reference``).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrmf_bot.config import BotConfig
from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import SourceData
from lrmf_plugin.schema import Edge

BOT = "pred-bot"
TOKEN = "hf_bot_secret_token_XYZ987"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


# ---------------------------------------------------------------------- a small fitted reference

def family_scores(seed: int, n_scores: int, scale: float
                  ) -> tuple[list[tuple[str, int, int, np.ndarray]], list[Edge]]:
    """Eight families of five fine-tunes under a data-less root, scored on ``n_scores`` benchmarks by a
    shared two-factor model: ``(name, family, member, scores)`` per fine-tune, and the lineage edges."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(2, n_scores))
    models, edges = [], []
    for f in range(8):
        root, u_root = f"fam{f}/base", rng.normal(size=2)
        for j in range(5):
            name = f"fam{f}/ft{j}"
            u = u_root + rng.normal(scale=0.3, size=2)
            scores = np.clip(30 + scale * u @ loadings + rng.normal(scale=1.0, size=n_scores), 0, 100)
            models.append((name, f, j, scores))
            edges.append(Edge(root, name, "finetune"))
    return models, edges


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """Eight families (a data-less root, evaluated fine-tunes) on the six v2 benchmarks, fitted.

    Families 0-5 are Llama models, 6-7 Gemma models (for the cross-architecture rule)."""
    from lrmf_plugin.api import Lrmf

    models, edges = family_scores(seed=0, n_scores=len(BENCHMARKS), scale=10.0)
    rows = [(name, b, float(s)) for name, _, _, scores in models for b, s in zip(BENCHMARKS, scores)]
    meta = [{"model": name, "params_b": float(2 ** (f % 4)),
             "architecture": "Gemma2ForCausalLM" if f >= 6 else "LlamaForCausalLM"} for name, f, _, _ in models]
    path = tmp_path_factory.mktemp("ref")
    ref = Reference.create(path)
    ref.write_source(SourceData(key="synthetic", kind="test", location="test_bot", edges=edges,
                                scores=pd.DataFrame(rows, columns=["model", "benchmark", "score"]),
                                metadata=pd.DataFrame(meta)))
    # the ridge metadata prior fits in a second (the default trees are slow on a busy 2-core box)
    Lrmf(path).fit(progress=False, metadata_model="ridge")
    return path


@pytest.fixture
def hub(fake_hub, monkeypatch):
    fake_hub.add_user(BOT, TOKEN)
    fake_hub.add_user("owner", "hf_owner_token")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return fake_hub


def cfg(reference: Path, hub, tmp_path: Path, **overrides) -> BotConfig:
    base = dict(ref=reference, state=tmp_path / "bot.sqlite", endpoint=hub.url, post=True, post_interval=0.0,
                min_age_minutes=30, space_url="https://example.org/space", site_url="https://hub.example",
                timeout=5.0)
    base.update(overrides)
    return BotConfig(**base)


def finetune_of(parent: str) -> list[str]:
    return [f"base_model:{parent}", f"base_model:finetune:{parent}"]


def created(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def posts(hub) -> dict[str, list[dict]]:
    """Repo -> discussions opened by the bot."""
    return {repo: [d for d in hub.discussions(repo) if d["author"]["name"] == BOT] for repo in hub.models
            if any(d["author"]["name"] == BOT for d in hub.discussions(repo))}


def creates(hub) -> list[str]:
    return [r.path for r in hub.requests_to(r"/discussions$", "POST")]


def text_of(hub, repo: str, num: int = 1, event: int = 0) -> str:
    """The raw Markdown of one message in a discussion."""
    return hub.discussions(repo)[num - 1]["events"][event]["data"]["latest"]["raw"]


def bot_comments(hub, repo: str, num: int = 1) -> list[str]:
    """What the bot wrote in a thread after opening it."""
    return [e["data"]["latest"]["raw"] for e in hub.discussions(repo)[num - 1]["events"][1:]
            if e["type"] == "comment" and e["author"]["name"] == BOT]

"""Shared pytest fixtures (additive: each engineer adds their own, small)."""
from __future__ import annotations

import os

import pytest

# Before any test imports huggingface_hub or gradio: no telemetry, no analytics.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A started loopback :class:`tests.fakehub.FakeHub`; HF_HOME points at a tmp dir, no ambient token."""
    from fakehub import FakeHub
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    # huggingface_hub reads these paths once at import: point the live values at the tmp home too
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # offline mode would block the loopback fake too (read once at import, so patch the live value)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as hub:
        yield hub

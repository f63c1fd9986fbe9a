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


@pytest.fixture(scope="session")
def lmeval_tasks(tmp_path_factory):
    """Toy lm-eval tasks (see tests/lmeval_toy.py) plus an offline environment for lm-eval subprocesses."""
    import lmeval_toy

    root = tmp_path_factory.mktemp("lmeval")
    return {"root": root, "tasks": lmeval_toy.write_tasks(root / "tasks"), "env": lmeval_toy.offline_env(root)}


@pytest.fixture(scope="session")
def lmeval_stock_runs(lmeval_tasks):
    """Stock lm-eval runs with the dummy model: full runs of the toy reference tasks by 5 "models"
    (5 seeds) in ``dir``, and one ``--samples`` subset run of ``toy_mc4`` (docs 1, 4, 9) in ``subset``."""
    import subprocess

    import lmeval_toy

    out, subset = lmeval_tasks["root"] / "stock_runs", lmeval_tasks["root"] / "stock_subset"
    models = [f"toy-org/model-{k}" for k in range(5)]
    runs = [{"out": out, "model": m, "tasks": [lmeval_toy.GROUP, "toy_gen", "toy_if"]} for m in models]
    runs.append({"out": subset, "model": "org/sub", "tasks": ["toy_mc4"], "samples": {"toy_mc4": [1, 4, 9]}})
    proc = subprocess.run(lmeval_toy.runs_command(lmeval_tasks["tasks"], runs), env=lmeval_tasks["env"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"dir": out, "models": models, "subset": subset}


@pytest.fixture(scope="session")
def split():
    """The synthetic reference, its training part, and 60 held-out models (lineage nodes in training)."""
    import numpy as np
    from synthetic_lowrank import make_reference

    data, _ = make_reference(n_families=40, family_size=8, seed=3)
    rng = np.random.default_rng(0)
    scored = np.flatnonzero(data.has_data())
    held = rng.choice(scored, size=60, replace=False)
    keep = data.has_data().copy()
    keep[held] = False
    return data, data.subset(keep), [data.models[i] for i in held]


@pytest.fixture(scope="session")
def tiny_ref(tmp_path_factory):
    """A tiny fitted reference (see tests/tiny_reference.py); tests that change it work on a copy."""
    from tiny_reference import write_tiny_reference

    return write_tiny_reference(tmp_path_factory.mktemp("tiny") / "ref")

"""End-to-end check of the Hub bot: real reference data, the loopback fake Hub, the real CLI.

Builds (or opens) a fitted reference from ``../shared/data``, seeds the fake Hub with new models
whose parents are real evaluated models (tags, cards, a merge) plus models the bot must leave alone
(private, gated, disabled, opt-out tag, another pipeline, too fresh, no lineage yet), runs
``lrmf-bot run --once --post`` twice and prints what was posted, how long it took and whether it
matches: exactly one well-formed discussion per eligible model, none elsewhere, nothing on the
second run. Usage: ``python benchmarks/bot_fake_hub.py [--ref DIR] [--data DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakehub import FakeHub  # noqa: E402

from lrmf_plugin.api import Lrmf  # noqa: E402
from lrmf_plugin.reference import Reference  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
BOT, TOKEN = "lrmf-bot", "hf_demo_token_not_real"


def build_reference(data: Path, path: Path) -> Path:
    ref = Reference.create(path)
    t = time.perf_counter()
    ref.import_source("leaderboard-v2", data / "leaderboard_v2" / "leaderboard_v2.csv")
    ref.import_source("lineage", data / "lineage" / "hub_edges.csv")
    print(f"{time.perf_counter() - t:8.2f}s  import v2 + lineage")
    t = time.perf_counter()
    Lrmf(path).fit(progress=True)
    print(f"{time.perf_counter() - t:8.2f}s  fit")
    return path


def seed(hub: FakeHub, ref: Path) -> set[str]:
    """New models on the fake Hub; returns the ids the bot should post to."""
    scored = sorted(set(Reference(ref).scores()["model"]))
    rng = np.random.default_rng(0)
    parents = [scored[i] for i in rng.choice(len(scored), size=10, replace=False)]
    now = datetime.now(timezone.utc)
    old = now - timedelta(hours=2)

    def tags(parent: str, relation: str = "finetune") -> list[str]:
        return [f"base_model:{parent}", f"base_model:{relation}:{parent}"]

    eligible = {}
    for i in range(4):
        eligible[f"tuner{i}/ft-{i}"] = dict(tags=tags(parents[i]))
    eligible["quant/q4"] = dict(tags=tags(parents[4], "quantized"))
    eligible["carder/from-card"] = dict(card_data={"base_model": parents[5]})
    eligible["merger/slerp"] = dict(card_data={"base_model": [parents[6], parents[7]]})
    for model, kw in eligible.items():
        hub.add_model(model, created_at=old, **kw)
    hub.add_model("secret/private", created_at=old, tags=tags(parents[8]), private=True, collaborators=(BOT,))
    hub.add_model("gate/gated", created_at=old, tags=tags(parents[8]), gated="manual")
    hub.add_model("gone/disabled", created_at=old, tags=tags(parents[8]), disabled=True)
    hub.add_model("shy/opted-out", created_at=old, tags=[*tags(parents[8]), "lrmf-bot-opt-out"])
    hub.add_model("vision/vlm", created_at=old, tags=tags(parents[8]), pipeline_tag="image-text-to-text")
    hub.add_model("fresh/just-now", created_at=now - timedelta(minutes=5), tags=tags(parents[9]))
    hub.add_model("early/no-lineage-yet", created_at=old)
    hub.add_discussion("quant/q4", author="someone", title="unrelated question")
    return set(eligible)


def run_bot(hub: FakeHub, ref: Path, state: Path) -> tuple[float, dict]:
    env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1,localhost"}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "lrmf_bot.cli", "--log-level", "WARNING", "run", "--once", "--post",
                        "--endpoint", hub.url, "--ref", str(ref), "--state", str(state), "--post-interval", "0"],
                       env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"lrmf-bot failed ({p.returncode}): {p.stderr.strip()}")
    if TOKEN in p.stdout + p.stderr:
        sys.exit("the token appeared in the bot's output")
    return elapsed, json.loads(p.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ref", type=Path, default=None, help="a fitted reference (default: build one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, FakeHub() as hub:
        ref = args.ref or build_reference(args.data, Path(tmp) / "ref")
        hub.add_user(BOT, TOKEN)
        expected = seed(hub, ref)
        state = Path(tmp) / "bot.sqlite"
        elapsed, first = run_bot(hub, ref, state)
        print(f"{elapsed:8.2f}s  first run: {json.dumps(first, sort_keys=True)}")
        by_repo = {repo: [d for d in hub.discussions(repo) if d["author"]["name"] == BOT] for repo in hub.models}
        posted = {repo for repo, ds in by_repo.items() if ds}
        elapsed, second = run_bot(hub, ref, state)
        print(f"{elapsed:8.2f}s  second run: posted {second['posted']}, adopted {second['adopted']}")
        sample = by_repo["merger/slerp"][0]
        print("\n--- sample discussion: " + sample["title"] + "\n" + sample["events"][0]["data"]["latest"]["raw"] + "\n---")
        ok = (posted == expected and all(len(by_repo[r]) == 1 for r in expected) and second["posted"] == 0
              and all("<!-- lrmf-bot v1 model=" in by_repo[r][0]["events"][0]["data"]["latest"]["raw"] for r in expected))
        print(f"eligible {len(expected)}, posted to {len(posted)}: {sorted(posted)}")
        print("OK: one discussion per eligible model, none elsewhere, nothing on the second run" if ok else
              f"MISMATCH: expected {sorted(expected)}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

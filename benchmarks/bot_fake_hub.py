"""End-to-end check of the Hub bot: real reference data, the loopback fake Hub, the real CLI.

Builds (or opens) a fitted reference from ``../shared/data`` and seeds the fake Hub with new models.
Their parents are real evaluated models: tags, cards, a same-architecture merge, a cross-architecture
merge and a quantised copy. It also seeds models the bot must leave alone: private, gated, disabled,
opt-out tag, another pipeline, too fresh, no lineage yet. It then runs ``lrmf-bot run --once --post``
twice and checks three things: every eligible model is posted, held or withheld; nothing is written
elsewhere; nothing more happens on the second run. Finally it times the faults of issue 23: a listing
that never answers, a 429 with a five-minute reset, and 1,650 uploads against a scan limit of 1,000.
Usage: ``python benchmarks/bot_fake_hub.py [--ref DIR] [--data DIR]``.
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

from lrmf_bot.config import BotConfig  # noqa: E402
from lrmf_bot.poller import run_once  # noqa: E402
from lrmf_bot.state import BotState  # noqa: E402
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


def _tags(parent: str, relation: str = "finetune") -> list[str]:
    return [f"base_model:{parent}", f"base_model:{relation}:{parent}"]


def _parents(ref: Path) -> tuple[list[str], list[str]]:
    """Ten random evaluated models, and two more of the first one's architecture (for a real merge)."""
    reference = Reference(ref)
    scored = sorted(set(reference.scores()["model"]))
    arch = reference.metadata()["architecture"]
    rng = np.random.default_rng(0)
    parents = [scored[i] for i in rng.choice(len(scored), size=10, replace=False)]
    same = [m for m in scored if arch.get(m) == arch.get(parents[6]) and m not in parents]
    other = [m for m in scored if isinstance(arch.get(m), str) and arch.get(m) != arch.get(parents[6])]
    return parents, [same[0], other[0]]


def seed(hub: FakeHub, ref: Path) -> set[str]:
    """New models on the fake Hub; returns the ids the bot should post, hold or withhold."""
    parents, (same_arch, other_arch) = _parents(ref)
    now = datetime.now(timezone.utc)
    old = now - timedelta(hours=2)
    eligible = {f"tuner{i}/ft-{i}": dict(tags=_tags(parents[i])) for i in range(4)}
    eligible["quant/q4"] = dict(tags=_tags(parents[4], "quantized"))
    eligible["carder/from-card"] = dict(card_data={"base_model": parents[5]})
    eligible["merger/slerp"] = dict(card_data={"base_model": [parents[6], same_arch]})
    eligible["mixer/cross-arch"] = dict(card_data={"base_model": [parents[6], other_arch]})
    for model, kw in eligible.items():
        hub.add_model(model, created_at=old, **kw)
    hub.add_model("secret/private", created_at=old, tags=_tags(parents[8]), private=True, collaborators=(BOT,))
    hub.add_model("gate/gated", created_at=old, tags=_tags(parents[8]), gated="manual")
    hub.add_model("gone/disabled", created_at=old, tags=_tags(parents[8]), disabled=True)
    hub.add_model("shy/opted-out", created_at=old, tags=[*_tags(parents[8]), "lrmf-bot-opt-out"])
    hub.add_model("vision/vlm", created_at=old, tags=_tags(parents[8]), pipeline_tag="image-text-to-text")
    hub.add_model("fresh/just-now", created_at=now - timedelta(minutes=5), tags=_tags(parents[9]))
    hub.add_model("early/no-lineage-yet", created_at=old)
    hub.add_discussion("quant/q4", author="someone", title="unrelated question")
    return set(eligible)


def run_cli(hub: FakeHub, ref: Path, state: Path, *extra: str) -> tuple[float, int, str, str]:
    env = {**os.environ, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_TELEMETRY": "1", "NO_PROXY": "127.0.0.1,localhost"}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "lrmf_bot.cli", "--log-level", "ERROR", "run", "--once", "--post",
                        "--endpoint", hub.url, "--ref", str(ref), "--state", str(state), "--post-interval", "0",
                        *extra], env=env, capture_output=True, text=True)
    if TOKEN in p.stdout + p.stderr:
        sys.exit("the token appeared in the bot's output")
    return time.perf_counter() - t, p.returncode, p.stdout, p.stderr


def main_flow(ref: Path, tmp: Path) -> bool:
    with FakeHub() as hub:
        hub.add_user(BOT, TOKEN)
        expected = seed(hub, ref)
        state = tmp / "bot.sqlite"
        elapsed, code, out, err = run_cli(hub, ref, state)
        if code != 0:
            sys.exit(f"lrmf-bot failed ({code}): {err.strip()}")
        first = json.loads(out.splitlines()[-1])
        print(f"{elapsed:8.2f}s  first run: posted {first['posted']}, predicted {first['predicted']}, "
              f"api calls {first['api_calls']}, skipped {first['skipped']}, waiting {first['waiting']}")
        for entry in first["withheld"] + first["held"]:
            print(f"          not posted: {entry['model']}: {entry['reason']}")
        by_repo = {repo: [d for d in hub.discussions(repo) if d["author"]["name"] == BOT] for repo in hub.models}
        posted = {repo for repo, ds in by_repo.items() if ds}
        kept = {e["model"] for e in first["withheld"] + first["held"]}
        elapsed, _, out, _ = run_cli(hub, ref, state)
        second = json.loads(out.splitlines()[-1])
        print(f"{elapsed:8.2f}s  second run: posted {second['posted']}, adopted {second['adopted']}, "
              f"predicted {second['predicted']}")
        sample = by_repo[sorted(posted)[0]][0]
        print("\n--- sample discussion: " + sample["title"] + "\n" + sample["events"][0]["data"]["latest"]["raw"] + "\n---")
        ok = (posted | kept == expected and not posted & kept and all(len(by_repo[r]) == 1 for r in posted)
              and second["posted"] == 0 and second["predicted"] == 0)
        print(f"eligible {len(expected)}: posted {sorted(posted)}, not posted {sorted(kept)}")
        print("OK: one discussion per postable model, the rest reported, none elsewhere, nothing on the second run"
              if ok else f"MISMATCH: expected {sorted(expected)}")
        return ok


def faults(ref: Path, tmp: Path) -> bool:
    """The time bounds and the gap-free listing, timed."""
    ok = True
    with FakeHub() as hub:
        hub.add_user(BOT, TOKEN)
        hub.inject(r"^/api/models$", method="GET", status=None, delay=3600)
        elapsed, code, _, err = run_cli(hub, ref, tmp / "stalled.sqlite", "--max-run-seconds", "10")
        print(f"{elapsed:8.2f}s  listing never answers, --max-run-seconds 10: exit {code}, stderr {err.strip()!r}")
        ok &= code == 69 and len(err.strip().splitlines()) == 1
    with FakeHub() as hub:
        hub.add_user(BOT, TOKEN)
        hub.rate_limit(r"^/api/models$", reset=300, method="GET", times=100)
        elapsed, code, _, err = run_cli(hub, ref, tmp / "limited.sqlite")
        print(f"{elapsed:8.2f}s  429 with a 300 s reset: exit {code}, stderr {err.strip()!r}")
        ok &= code == 75
    with FakeHub() as hub:
        hub.add_user(BOT, TOKEN)
        now = datetime.now(timezone.utc)
        models = [f"up{i}/m" for i in range(1650)]
        for i, model in enumerate(models):
            hub.add_model(model, created_at=now - timedelta(minutes=60 + i * 40 / 60))
        os.environ["HF_TOKEN"] = TOKEN
        cfg = BotConfig(ref=ref, state=tmp / "uploads.sqlite", endpoint=hub.url, allow=("nobody",), scan_limit=1000)
        runs, t = [], time.perf_counter()
        while not runs or runs[-1].listing_backlog:
            runs.append(run_once(cfg, now=now + timedelta(minutes=10 * len(runs))))
        state = BotState(cfg.state)
        read = sum(state.candidate(m) is not None for m in models)
        print(f"{time.perf_counter() - t:8.2f}s  1,650 uploads, scan limit 1,000: {len(runs)} runs read "
              f"{[r.listed for r in runs]}, {read} of {len(models)} seen")
        ok &= read == len(models)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ref", type=Path, default=None, help="a fitted reference (default: build one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ref = args.ref or build_reference(args.data, Path(tmp) / "ref")
        ok = main_flow(ref, Path(tmp))
        ok &= faults(ref, Path(tmp))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

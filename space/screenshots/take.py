"""Regenerate the PNGs in this folder: the real Space (``python space/app.py``) in headless Chromium.

The bot's store comes from the real bot pipeline (``benchmarks/bot_fake_hub.py``'s seeding of the
loopback fake Hub, then ``lrmf-bot run --once --post``), so the Leaderboard shows what the bot
would post. Usage::

    python space/screenshots/take.py --ref DIR [--backtest results.csv] [--port 7899]

``DIR`` is a reference fitted with ``lm-eval-predict fit`` (e.g. from ``../shared/data``).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]

import bot_fake_hub  # noqa: E402
from fakehub import FakeHub  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"space/app.py exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    sys.exit("space/app.py did not start in time")


def _shrink(path: Path) -> None:
    """Palette PNGs: a screenshot of flat UI colours loses nothing visible and is several times smaller."""
    from PIL import Image

    with Image.open(path) as img:
        img.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(path, optimize=True)


def shoot(url: str, out: Path, parents: list[str], candidates: str) -> list[str]:
    """Every tab, with a prediction and a merge ranking; returns requests that left 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                else outside.append(r.url))
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#prediction-plot .js-plotly-plot", timeout=120_000)
        time.sleep(2)
        page.screenshot(path=str(out / "predict.png"), full_page=True)

        page.get_by_role("tab", name="What if").click()
        for parent in parents:
            box = page.locator("#whatif-parents input")
            box.fill(parent)
            box.press("Enter")
        page.locator("#whatif-btn").click()
        page.wait_for_function("document.querySelector('#prediction').innerText.includes('what-if')",
                               timeout=60_000)
        page.get_by_text("Rank candidate merges").click()
        page.locator("#candidates textarea").fill(candidates)
        page.locator("#rank-btn").click()
        page.wait_for_selector("#ranking-plot .js-plotly-plot", timeout=60_000)
        time.sleep(1.5)
        page.screenshot(path=str(out / "what-if.png"), full_page=True)

        for tab, selector, name in (("Lineage", "#lineage .js-plotly-plot", "lineage.png"),
                                    ("Leaderboard", "#leaderboard table", "leaderboard.png"),
                                    ("Track record", "#error-budget .js-plotly-plot, #scatter .js-plotly-plot",
                                     "track-record.png")):
            page.get_by_role("tab", name=tab, exact=True).click()
            page.wait_for_selector(selector, timeout=60_000)
            time.sleep(2)
            page.screenshot(path=str(out / name), full_page=True)
        browser.close()
    for png in out.glob("*.png"):
        _shrink(png)
    return outside


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, required=True, help="fitted reference directory")
    parser.add_argument("--backtest", type=Path, default=None, help="backtest results.csv or report directory")
    parser.add_argument("--port", type=int, default=7899)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()

    from lrmf_plugin.api import Lrmf

    scores = Lrmf(args.ref).reference.scores()
    best = scores.groupby("model")["score"].mean().sort_values(ascending=False).index[:6]
    candidates = "\n".join([f"{best[0]} + {best[1]}", f"{best[2]} + {best[3]}", f"{best[0]} + {best[4]}",
                            f"{best[5]}"])
    with tempfile.TemporaryDirectory() as tmp, FakeHub() as hub:
        hub.add_user(bot_fake_hub.BOT, bot_fake_hub.TOKEN)
        bot_fake_hub.seed(hub, args.ref)
        state = Path(tmp) / "bot.sqlite"
        bot_fake_hub.run_bot(hub, args.ref, state)
        env = {**os.environ, "LRMF_REF": str(args.ref), "LRMF_BOT_STATE": str(state),
               "GRADIO_SERVER_PORT": str(args.port), "GRADIO_SERVER_NAME": "127.0.0.1",
               "NO_PROXY": "127.0.0.1,localhost"}
        if args.backtest:
            env["LRMF_BACKTEST"] = str(args.backtest)
        proc = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")], env=env)
        try:
            _wait_for_port(args.port, proc)
            outside = shoot(f"http://127.0.0.1:{args.port}/", args.out, [best[0], best[2]], candidates)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("\n".join(f"{p.name}: {p.stat().st_size // 1024} KiB" for p in sorted(args.out.glob("*.png"))))
    if outside:
        print(f"requests left 127.0.0.1: {outside}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

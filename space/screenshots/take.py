"""Regenerate the PNGs in this folder: the real Space (``python space/app.py``) in headless Chromium,
every state at a laptop's width (``*-desktop.png``, 1400 px) and a phone's (``*-phone.png``, 400 px).

The bot's store comes from the real bot pipeline (``benchmarks/bot_fake_hub.py``'s seeding of the
loopback fake Hub, then ``lrmf-bot run --once --post``), so the Leaderboard shows what the bot
would post; a second Space without a store or a backtest shows the empty states. Usage::

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


#: Widths the screenshots are taken at: a laptop and a phone.
VIEWPORTS = {"desktop": {"width": 1400, "height": 1000}, "phone": {"width": 400, "height": 900}}


def _settle(page, selector: str) -> None:
    page.wait_for_selector(selector, timeout=120_000)
    time.sleep(1.5)  # plotly's transitions


def _wait_text(page, selector: str, text: str) -> None:
    """Wait until ``selector`` shows ``text``; hidden components are not in the page at all meanwhile."""
    page.wait_for_function(f"(document.querySelector({selector!r}) || {{innerText: ''}}).innerText.includes({text!r})",
                           timeout=60_000)


def shoot_states(page, out: Path, width: str, parents: list[str], candidates: str) -> None:
    """Every tab of a Space with a bot store and a backtest, and the error states of Predict (a typo
    of a known id, answered with "did you mean"; pasted markup)."""
    def snap(state: str) -> None:
        page.screenshot(path=str(out / f"{state}-{width}.png"), full_page=True)

    _settle(page, "#prediction-plot .pc-dot")
    snap("predict")
    box = page.locator("#model-id input, #model-id textarea").first
    error = page.locator("#prediction-area-error")
    for state, typed in (("did-you-mean", parents[0][:-1]), ("error", "<script>alert(1)</script>" + "x" * 500)):
        box.fill(typed)
        page.locator("#predict-btn").click()
        _wait_text(page, "#prediction-area-error", typed[:12])
        error.wait_for(state="visible", timeout=60_000)
        snap(state)
    page.get_by_role("tab", name="What if").click()
    for parent in parents:
        search = page.locator("#whatif-search input, #whatif-search textarea").first
        search.fill(parent)
        search.press("Enter")
        _wait_text(page, "#whatif-parents", parent)
    page.locator("#whatif-btn").click()
    _wait_text(page, "#prediction", "what-if")
    page.get_by_text("Rank candidate merges").click()
    page.locator("#candidates textarea").fill(candidates)
    page.locator("#rank-btn").click()
    _settle(page, "#ranking-plot .js-plotly-plot")
    snap("what-if")
    for tab, selector, state in (("Lineage", "#lineage .js-plotly-plot", "lineage"),
                                 ("Leaderboard", "#leaderboard table", "leaderboard"),
                                 ("Track record", "#error-budget .js-plotly-plot", "track-record")):
        page.get_by_role("tab", name=tab, exact=True).click()
        _settle(page, selector)
        snap(state)


def shoot_empty(page, out: Path, width: str) -> None:
    """Leaderboard and Track record of a Space without a bot store or a backtest."""
    _settle(page, "#prediction-plot .pc-dot")
    page.get_by_role("tab", name="Leaderboard", exact=True).click()
    page.get_by_text("No predictions posted yet").wait_for(timeout=60_000)
    page.screenshot(path=str(out / f"leaderboard-empty-{width}.png"), full_page=True)
    page.get_by_role("tab", name="Track record", exact=True).click()
    page.get_by_text("No backtest is published").wait_for(timeout=60_000)
    page.screenshot(path=str(out / f"track-record-empty-{width}.png"), full_page=True)


def shoot(urls: dict[str, str], out: Path, parents: list[str], candidates: str) -> list[str]:
    """Every state at both widths; returns requests that left 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        for width, viewport in VIEWPORTS.items():
            for kind, url in urls.items():
                page = browser.new_page(viewport=viewport)
                page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                        else outside.append(r.url))
                page.goto(url, wait_until="domcontentloaded")
                if kind == "full":
                    shoot_states(page, out, width, parents, candidates)
                else:
                    shoot_empty(page, out, width)
                page.close()
        browser.close()
    for png in out.glob("*.png"):
        _shrink(png)
    return outside


def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")],
                            env={**env, "GRADIO_SERVER_PORT": str(port)})
    _wait_for_port(port, proc)
    return proc


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
        env = {**os.environ, "LRMF_REF": str(args.ref), "GRADIO_SERVER_NAME": "127.0.0.1",
               "NO_PROXY": "127.0.0.1,localhost"}
        for name in ("LRMF_BOT_STATE", "LRMF_BACKTEST", "LRMF_HUB_ENDPOINT"):
            env.pop(name, None)
        full = {**env, "LRMF_BOT_STATE": str(state), **({"LRMF_BACKTEST": str(args.backtest)} if args.backtest else {})}
        procs = [_start(full, args.port), _start(env, args.port + 1)]
        try:
            for old in args.out.glob("*.png"):
                old.unlink()
            outside = shoot({"full": f"http://127.0.0.1:{args.port}/", "empty": f"http://127.0.0.1:{args.port + 1}/"},
                            args.out, [best[0], best[2]], candidates)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
    print("\n".join(f"{p.name}: {p.stat().st_size // 1024} KiB" for p in sorted(args.out.glob("*.png"))))
    if outside:
        print(f"requests left 127.0.0.1: {outside}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

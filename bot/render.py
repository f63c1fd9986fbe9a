"""The discussion the bot posts: a pure function of the prediction, so it is tested exactly.

Everything that came from the Hub (model ids, card lineage) is escaped for Markdown and HTML, so a
repo name or card can never inject markup, links or mentions into the post.
"""
from __future__ import annotations

import html
import re
from typing import Sequence
from urllib.parse import quote

from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.schema import Prediction

from .config import OPT_OUT_TAG

TITLE = "[bot] Predicted benchmark scores (automated, no action needed)"
MARKER_RE = re.compile(r"<!-- lrmf-bot v1 model=(?P<model>\S+) sha=(?P<sha>\S+) -->")
_DISPLAY = {"ifeval": "IFEval", "bbh": "BBH", "math": "MATH Lvl 5", "gpqa": "GPQA", "musr": "MuSR",
            "mmlu_pro": "MMLU-PRO"}
_RELATION_TEXT = {"finetune": "fine-tune of", "merge": "merge of", "adapter": "adapter on",
                  "quantized": "quantisation of", "family": "descendant of"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~@:])")


def escape(text: str) -> str:
    """Literal text in Markdown: HTML-escaped, then every Markdown-active character backslashed.

    ``@`` and ``:`` are escaped too, so names cannot mention users or autolink.
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def link(model: str, site: str) -> str:
    return f"[{escape(model)}]({site.rstrip('/')}/{quote(model, safe='/')})"


def marker(model: str, sha: str | None) -> str:
    """The hidden line that lets anyone (and the bot) recognise its post for a model revision."""
    safe_sha = sha if sha and re.fullmatch(r"[0-9a-fA-F]{7,64}", sha) else "unknown"
    return f"<!-- lrmf-bot v1 model={quote(model, safe='/')} sha={safe_sha} -->"


def lineage_text(parents: Sequence[tuple[str, str]], site: str) -> str:
    if not parents:
        return "none stated on the Hub; the prediction uses the model's metadata only"
    by_relation: dict[str, list[str]] = {}
    for parent, relation in parents:
        by_relation.setdefault(relation, []).append(link(parent, site))
    return "; ".join(f"{_RELATION_TEXT.get(r, escape(r))} {' + '.join(ps)}" for r, ps in by_relation.items())


def table(predictions: Sequence[Prediction]) -> str:
    """``| Benchmark | Predicted | 90% interval |``, plus the leaderboard average when all six are there."""
    rows = ["| Benchmark | Predicted | 90% interval |", "|---|---:|:---:|"]
    preds = sorted(predictions, key=lambda p: (BENCHMARKS.index(p.benchmark) if p.benchmark in BENCHMARKS
                                               else len(BENCHMARKS), p.benchmark))
    for p in preds:
        # scores live on 0-100: an interval reaching past the ends covers the same outcomes clipped
        lo, hi = max(p.lower, 0.0), min(p.upper, 100.0)
        rows.append(f"| {_DISPLAY.get(p.benchmark) or escape(p.benchmark)} | {p.predicted:.1f} | "
                    f"{lo:.1f} – {hi:.1f} |")
    by_name = {p.benchmark: p.predicted for p in preds}
    if all(b in by_name for b in BENCHMARKS):
        avg = sum(by_name[b] for b in BENCHMARKS) / len(BENCHMARKS)
        rows.append(f"| **Leaderboard average** | {avg:.1f} | |")
    return "\n".join(rows)


def body(model: str, sha: str | None, predictions: Sequence[Prediction], parents: Sequence[tuple[str, str]],
         relatives: Sequence[str], *, bot_user: str, site: str, space_url: str) -> str:
    """The first message of the bot's discussion on ``model``."""
    namespace = model.split("/")[0]
    lines = [
        f"This is an automated message from {escape(bot_user)}, an experimental predictor. The numbers below "
        "are **predictions, not measurements**: nobody has evaluated this model for them.",
        "",
        table(predictions),
        "",
        f"**Lineage used:** {lineage_text(parents, site)}.",
    ]
    if relatives:
        lines.append(f"**Closest evaluated relatives:** {', '.join(link(r, site) for r in relatives[:5])}.")
    lines += [
        "",
        "**Method:** a lineage-regularised factorisation of Open LLM Leaderboard scores, using only this "
        "model's lineage and metadata (zero evaluations), with calibrated 90% intervals; how earlier "
        f"predictions compared with measured scores is shown in the [track record]({space_url}).",
        "",
        "You don't need to do anything. **Close this discussion and the bot will never post here again.** "
        f"To keep the bot away from every repository of {escape(namespace)}, reply here with "
        f"`@{bot_user} stop`; to keep it away from one repository, add the tag `{OPT_OUT_TAG}` to its model card.",
        "",
        marker(model, sha),
    ]
    return "\n".join(lines)


def change_comment(predictions: Sequence[Prediction], parents: Sequence[tuple[str, str]], *, site: str) -> str:
    """A follow-up on an open thread when a new revision changes the prediction materially."""
    return "\n".join([
        "The model changed since the prediction above (new revision or lineage), and the prediction moved. "
        "Updated **predictions (not measurements)**:",
        "",
        table(predictions),
        "",
        f"**Lineage used:** {lineage_text(parents, site)}.",
    ])

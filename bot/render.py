"""The discussion the bot posts: a pure function of the prediction, so it is tested exactly.

Model ids and anything else from the Hub appear only inside code spans, where Markdown, HTML, links
and @-mentions are inert, and which read cleanly as plain text too (no backslashes). Numbers carry
only the digits their interval supports.
"""
from __future__ import annotations

import re
from typing import Sequence
from urllib.parse import quote

from lrmf_plugin.leaderboard import BENCHMARKS
from lrmf_plugin.schema import Prediction, flag_reasons

from .checks import average
from .config import OPT_OUT_TAG

TITLE = "[bot] Predicted benchmark scores (automated, no action needed)"
MARKER_RE = re.compile(r"<!-- lrmf-bot v1 model=(?P<model>\S+) sha=(?P<sha>\S+) -->")
_DISPLAY = {"ifeval": "IFEval", "bbh": "BBH", "math": "MATH Lvl 5", "gpqa": "GPQA", "musr": "MuSR",
            "mmlu_pro": "MMLU-PRO"}
_RELATION_TEXT = {"finetune": "fine-tune of", "merge": "merge of", "adapter": "adapter on",
                  "quantized": "quantisation of", "family": "descendant of"}
_WHY = {"finetune": "fine-tuning can move a model far from its parent (new data, a changed chat template)",
        "merge": "a merge can land outside the range of its parents",
        "adapter": "an adapter can change its base's behaviour a lot or hardly at all",
        "quantized": "quantisation losses depend on the method and are not in the reference",
        "family": "the card names only a distant ancestor"}
#: an interval wider than this many points does not support a decimal
_DECIMAL_WIDTH = 10.0


def code(text: str) -> str:
    """``text`` as an inline code span (inert in Markdown, readable as plain text)."""
    flat = " ".join(str(text).split())
    fence = "`" * (max((len(r) for r in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def link(model: str, site: str) -> str:
    return f"[{code(model)}]({site.rstrip('/')}/{quote(model, safe='/')})"


def space_link(space_url: str, model: str) -> str:
    """The Space's page for ``model`` (its predictions, lineage and track record)."""
    return f"{space_url.rstrip('/')}?model={quote(model, safe='/')}"


def marker(model: str, sha: str | None) -> str:
    """The hidden line that lets anyone (and the bot) recognise its post for a model revision."""
    safe_sha = sha if sha and re.fullmatch(r"[0-9a-fA-F]{7,64}", sha) else "unknown"
    return f"<!-- lrmf-bot v1 model={quote(model, safe='/')} sha={safe_sha} -->"


def number(value: float, lower: float, upper: float) -> str:
    """``value`` with the precision its interval supports: whole points when wider than 10."""
    return f"{value:.0f}" if upper - lower > _DECIMAL_WIDTH else f"{value:.1f}"


def _row(name: str, predicted: float, lower: float, upper: float) -> str:
    # scores live on 0-100: an interval reaching past the ends covers the same outcomes clipped
    lo, hi = max(lower, 0.0), min(upper, 100.0)
    return f"| {name} | {number(predicted, lo, hi)} | {number(lo, lo, hi)} – {number(hi, lo, hi)} |"


def table(predictions: Sequence[Prediction]) -> str:
    """``| Benchmark | Predicted | 90% interval |``, plus the average (with its interval) when all six are there."""
    rows = ["| Benchmark | Predicted | 90% interval |", "|---|---:|:---:|"]
    preds = sorted(predictions, key=lambda p: (BENCHMARKS.index(p.benchmark) if p.benchmark in BENCHMARKS
                                               else len(BENCHMARKS), p.benchmark))
    rows += [_row(_DISPLAY.get(p.benchmark) or code(p.benchmark), p.predicted, p.lower, p.upper) for p in preds]
    avg = average(preds)
    if avg is not None:
        rows.append(_row("**Average**", *avg))
    return "\n".join(rows)


def lineage_text(parents: Sequence[tuple[str, str]], site: str) -> str:
    if not parents:
        return "none stated on the Hub; the prediction uses the model's metadata only"
    by_relation: dict[str, list[str]] = {}
    for parent, relation in parents:
        by_relation.setdefault(relation, []).append(link(parent, site))
    return "; ".join(f"{_RELATION_TEXT.get(r) or code(r)} {' + '.join(ps)}" for r, ps in by_relation.items())


def relatives_text(relatives: Sequence[tuple[str, float]], site: str) -> str:
    """The evaluated models of the model's own lineage, with their measured averages."""
    return ", ".join(f"{link(m, site)} (measured average {avg:.1f})" for m, avg in relatives)


def why_wrong(parents: Sequence[tuple[str, str]]) -> str:
    """One honest sentence on how this prediction can miss."""
    reasons = [_WHY[r] for r in dict.fromkeys(r for _, r in parents) if r in _WHY]
    first = "; ".join(reasons) if reasons else "the model states no lineage, so only its size and architecture inform it"
    return (f"**Why this may be wrong:** nobody has run this model; {first}; and even then about 1 in 10 true "
            "scores falls outside its 90% interval.")


def extrapolation(predictions: Sequence[Prediction]) -> list[str]:
    """The warning lines for a model outside the reference's support (none for one inside it); each
    reason in a code span, since it quotes the model's metadata."""
    reasons = flag_reasons(predictions)
    if not reasons:
        return []
    return ["", "**⚠ Outside the reference:** this model lies beyond what the predictor has seen ("
            + "; ".join(code(r) for r in reasons) + "). Its intervals are widened, and predictions of such models "
            "miss more often than the 90% intervals of others."]


def body(model: str, sha: str | None, predictions: Sequence[Prediction], parents: Sequence[tuple[str, str]],
         relatives: Sequence[tuple[str, float]], *, bot_user: str, site: str, space_url: str) -> str:
    """The first message of the bot's discussion on ``model``."""
    namespace = model.split("/")[0]
    lines = [f"This is an automated message from {code(bot_user)}, an experimental predictor. The numbers below "
             "are **predictions, not measurements**: nobody has evaluated this model for them.",
             "", table(predictions), *extrapolation(predictions), "",
             f"**Lineage used:** {lineage_text(parents, site)}."]
    if relatives:
        lines.append(f"**Evaluated in its lineage:** {relatives_text(relatives, site)}.")
    lines += ["", why_wrong(parents), "",
              "**Method:** a lineage-regularised factorisation of Open LLM Leaderboard scores, using only this "
              "model's lineage and metadata (zero evaluations), with calibrated 90% intervals. "
              f"[This model in the predictor's Space]({space_link(space_url, model)}) shows its lineage and how "
              "earlier predictions compared with measured scores; once this model's own evaluation results are "
              "published (`.eval_results/` or the card's `model-index`), the bot reads them and the Space's "
              "track record sets them against this prediction.",
              "",
              "You don't need to do anything. **Close this discussion and the bot will never post here again.** "
              f"To keep the bot away from every repository of {code(namespace)}, reply here with "
              f"{code('@' + bot_user + ' stop')} (or just \"stop\"); to keep it away from one repository, add the tag "
              f"{code(OPT_OUT_TAG)} to its model card.",
              "", marker(model, sha)]
    return "\n".join(lines)


def change_comment(model: str, predictions: Sequence[Prediction], parents: Sequence[tuple[str, str]], *,
                   site: str, space_url: str) -> str:
    """A follow-up on an open thread when a new revision changes the prediction materially."""
    return "\n".join([
        "The model changed since the prediction above (new revision or lineage), and the prediction moved. "
        "Updated **predictions (not measurements)**:",
        "", table(predictions), *extrapolation(predictions), "",
        f"**Lineage used:** {lineage_text(parents, site)}.",
        "", why_wrong(parents), "",
        f"[This model in the predictor's Space]({space_link(space_url, model)}). Close this discussion to stop "
        "updates.",
    ])

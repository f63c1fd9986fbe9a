"""The Hub's evaluation results as benchmark scores: ``.eval_results/*.yaml`` files and card ``model-index``.

Parsing goes through huggingface_hub's own parsers: ``parse_eval_result_entries`` (the
``.eval_results`` format, :class:`~huggingface_hub.EvalResultEntry`) and
``model_index_to_eval_results`` (the card's ``model-index``, :class:`~huggingface_hub.EvalResult`).
Card text and result files are user input, so each entry is parsed on its own: one malformed entry
is counted and skipped, never fatal. A result is a reference benchmark when it is the same measurement
(:data:`SAME_MEASUREMENT`); otherwise it is its own benchmark, on its own scale, named by dataset,
task (and metric or notes), so different setups never share a column. The mapping is documented in
``docs/guide/eval-results.md``.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from .hub import REPO_ID_RE
from .schema import SCORE_RANGE

#: suite of the benchmarks known only from evaluation results
SUITE = "eval-results"
#: the Open LLM Leaderboard's own ``model-index`` rows (dataset type, dataset name, metric type), as its
#: "Adding Evaluation Results" pull requests wrote them: the leaderboard-normalised 0-100 scores of the v2
#: columns, the same numbers as the reference's ``contents`` and v2 CSV columns. Not MATH Lvl 5: the
#: leaderboard re-scored it after most cards were written, so a card's MATH is an older measurement
#: (compared on public cards in docs/experiments.md) and is kept as its own benchmark.
SAME_MEASUREMENT: dict[tuple[str, str, str], str] = {
    ("huggingfaceh4/ifeval", "ifeval (0-shot)", "inst_level_strict_acc and prompt_level_strict_acc"): "ifeval",
    ("bbh", "bbh (3-shot)", "acc_norm"): "bbh",
    ("idavidrein/gpqa", "gpqa (0-shot)", "acc_norm"): "gpqa",
    ("taur-lab/musr", "musr (0-shot)", "acc_norm"): "musr",
    ("tiger-lab/mmlu-pro", "mmlu-pro (5-shot)", "acc"): "mmlu_pro",
}
#: skip reasons (with their plural), in the order ``reference show`` lists them
SKIP_REASONS = {"malformed file": "malformed files", "malformed entry": "malformed entries",
                "unknown dataset": "unknown datasets", "result of another model": "results of another model",
                "unreadable value": "unreadable values", "off-scale value": "off-scale values"}


@dataclass(frozen=True)
class MeasuredScore:
    """One readable result: the benchmark it is a score of, and where it came from."""

    model: str
    benchmark: str
    score: float
    date: str | None
    source: str
    origin: str  #: ``.eval_results`` or ``model-index``


def _key(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def _label(text: Any) -> str:
    """A name part: one line, no surrounding blanks (card text may hold anything)."""
    return re.sub(r"\s+", " ", str(text)).strip()


def own_benchmark(dataset: str, task: str, qualifier: str | None = None) -> str:
    """The column of a result no reference benchmark measures: ``dataset:task`` plus ``[notes]`` or
    ``[metric]``, so two setups of one task (tools / no tools) are two benchmarks."""
    name = f"{_label(dataset)}:{_label(task)}"
    return f"{name} [{_label(qualifier)}]" if qualifier and _label(qualifier) else name


def score_value(value: Any) -> float | None:
    """A result's value as a float, or None when it is not a number (text, booleans, lists...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def parse_eval_results_file(data: Any, skipped: Counter) -> list[Any]:
    """``EvalResultEntry`` objects of one parsed ``.eval_results/*.yaml`` (a list of entries, or one)."""
    from huggingface_hub import parse_eval_result_entries

    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        skipped["malformed file"] += 1
        return []
    entries = []
    for item in data:
        try:
            found = parse_eval_result_entries([item])
            if not found or not isinstance(found[0].dataset_id, str) or not isinstance(found[0].task_id, str):
                raise TypeError("no dataset id or task id")
            entries.extend(found)
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped["malformed entry"] += 1
    return entries


def parse_model_index(card: Any, skipped: Counter) -> list[Any]:
    """``EvalResult`` objects of a card's YAML header (``model-index``), one result at a time."""
    from huggingface_hub.repocard_data import model_index_to_eval_results

    index = card.get("model-index") if isinstance(card, dict) else None
    if index is None:
        return []
    if not isinstance(index, list):
        skipped["malformed entry"] += 1
        return []
    results = []
    for elem in index:
        rows = elem.get("results") if isinstance(elem, dict) else None
        if not isinstance(rows, list):
            skipped["malformed entry"] += 1
            continue
        for row in rows:
            try:
                results.extend(model_index_to_eval_results([{"name": elem.get("name", ""), "results": [row]}])[1])
            except (KeyError, TypeError, ValueError, AttributeError):
                skipped["malformed entry"] += 1
    return results


def _checked(model: str, benchmark: str, value: Any, skipped: Counter, **where: Any) -> MeasuredScore | None:
    v = score_value(value)
    if v is None:
        skipped["unreadable value"] += 1
        return None
    low, high = SCORE_RANGE
    if not low <= v <= high:
        skipped["off-scale value"] += 1
        return None
    return MeasuredScore(model, benchmark, v, **where)


def scores_from_entries(model: str, entries: Iterable[Any], skipped: Counter,
                        known_dataset: Callable[[str], bool]) -> list[MeasuredScore]:
    """Scores of ``.eval_results`` entries. The format names no metric (the value is the benchmark's own
    leaderboard metric), so none is the leaderboard-normalised measurement: each is its own benchmark.
    ``known_dataset`` says whether the Hub knows the benchmark dataset."""
    out = []
    for e in entries:
        if not REPO_ID_RE.match(e.dataset_id) or not known_dataset(e.dataset_id):
            skipped["unknown dataset"] += 1
            continue
        source = e.source_url or e.source_name or "model repo .eval_results"
        found = _checked(model, own_benchmark(e.dataset_id, e.task_id, e.notes), e.value, skipped,
                         date=str(e.date) if e.date else None, source=str(source), origin=".eval_results")
        if found is not None:
            out.append(found)
    return out


def scores_from_model_index(model: str, results: Iterable[Any], skipped: Counter) -> list[MeasuredScore]:
    """Scores of ``model-index`` results: a reference benchmark when :data:`SAME_MEASUREMENT` lists the
    (dataset type, dataset name, metric type), else its own benchmark named by dataset, config and metric.
    A result whose leaderboard link names another model (copies repeat their parent's card) is skipped."""
    out = []
    for r in results:
        if _evaluated_model(r.source_url) not in (None, model.casefold()):
            skipped["result of another model"] += 1  # a copy's card repeating its parent's leaderboard rows
            continue
        mapped = SAME_MEASUREMENT.get((_key(r.dataset_type), _key(r.dataset_name), _key(r.metric_type)))
        name = mapped or own_benchmark(r.dataset_type, r.dataset_config or r.dataset_name, r.metric_type)
        found = _checked(model, name, r.metric_value, skipped, date=None,
                         source=str(r.source_url or r.source_name or "model card model-index"), origin="model-index")
        if found is not None:
            out.append(found)
    return out


def _evaluated_model(url: Any) -> str | None:
    """The model a leaderboard link (``...open_llm_leaderboard?query=<org/name>``) says was evaluated."""
    if not isinstance(url, str) or "leaderboard" not in url:
        return None
    found = parse_qs(urlsplit(url).query).get("query")
    return found[0].strip().casefold() if found and REPO_ID_RE.match(found[0].strip()) else None


def latest_per_benchmark(scores: Iterable[MeasuredScore]) -> tuple[list[MeasuredScore], int]:
    """One score per (model, benchmark): the newest by date, ``.eval_results`` over ``model-index`` on a tie
    (it is the maintained format); and how many others were dropped."""
    best: dict[tuple[str, str], MeasuredScore] = {}
    n = 0
    for s in scores:
        n += 1
        key = (s.model, s.benchmark)
        old = best.get(key)
        if old is None or _recency(s) >= _recency(old):
            best[key] = s
    return list(best.values()), n - len(best)


def _recency(s: MeasuredScore) -> tuple[str, bool]:
    return (s.date or "", s.origin == ".eval_results")


def skip_note(skipped: Counter) -> str | None:
    """The one-line count of what was skipped, for the source's notes (``reference show`` prints them)."""
    parts = [f"{skipped[r]} {r if skipped[r] == 1 else plural}" for r, plural in SKIP_REASONS.items() if skipped[r]]
    parts += [f"{n} {r}" for r, n in sorted(skipped.items()) if r not in SKIP_REASONS and n]
    return f"skipped (never stored): {', '.join(parts)}" if parts else None


def interval_reasons(suites: dict[str, str], calibrated: Iterable[str], n_scored: dict[str, int],
                     min_cases: int) -> dict[str, str]:
    """Why a benchmark known only from evaluation results is predicted without an interval: its
    calibration had too few held-out models with a score on it to give it a scale of its own (an
    interval borrowed from other benchmarks would claim a coverage nobody measured). ``suites``:
    benchmark -> suite; ``calibrated``: benchmarks with a calibrated scale at some evidence level."""
    have = set(calibrated)
    if not have:
        return {b: "no interval: the stored predictor has no calibration pass (fitted with --no-calibration, or "
                   "on too few models to hold any out), so no interval of this benchmark was ever checked"
                for b, suite in suites.items() if suite == SUITE}
    return {b: (f"no interval: only {_models(n_scored.get(b, 0))} a score on {b}, too few to "
                f"calibrate one (a calibration needs {min_cases} held-out models with it)")
            for b, suite in suites.items() if suite == SUITE and b not in have}


def _models(n: int) -> str:
    return f"{n} reference model has" if n == 1 else f"{n} reference models have"

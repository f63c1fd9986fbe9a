"""Evaluation results on the Hub: each model repo's ``.eval_results/*.yaml`` and its card's ``model-index``.

Read the way the Hub serves them (a tree listing of ``.eval_results``, raw downloads of those files and
of ``README.md``), parsed and mapped by :mod:`lrmf_plugin.eval_results`. Used by ``reference import
--kind hub-eval-results`` (a file of model ids), by ``reference pull`` for the models it pulls, and by
the bot to learn measured scores of models it predicted.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml
from tqdm.auto import tqdm

from ..errors import HubForbidden, HubNotFound, InputError
from ..eval_results import (SAME_MEASUREMENT, SUITE, MeasuredScore, latest_per_benchmark, parse_eval_results_file,
                            parse_model_index, scores_from_entries, scores_from_model_index, skip_note)
from ..hub import REPO_ID_RE, connect, retrying
from ..schema import BenchmarkInfo
from ..sources import SourceData
from . import reject_options, source_key

FOLDER = ".eval_results"
#: new benchmarks described one a line in the source's notes (a full pull finds hundreds)
MAX_BENCHMARK_NOTES = 20


@dataclass
class EvalResultsRead:
    """What was read for a list of models: readable scores, skip counts, and a digest of the bytes read."""

    scores: list[MeasuredScore] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    missing_models: int = 0
    refused_models: int = 0  #: gated, disabled or private repos (the Hub answered 403)
    digest: Any = field(default_factory=hashlib.sha256)


def _card_header(path: Path, skipped: Counter) -> dict | None:
    from huggingface_hub import metadata_load

    try:
        return metadata_load(path)
    except (yaml.YAMLError, ValueError, UnicodeDecodeError):
        skipped["malformed file"] += 1
        return None


#: ``call(what, fn)``: one Hub request ``fn()`` made politely (retries, rate limits), named ``what`` in errors
HubCall = Callable[[str, Callable[[], Any]], Any]


def retrying_call(attempts: int) -> HubCall:
    """The importer's :data:`HubCall`: retry server errors, wait out rate limits (the bot passes its own)."""
    return lambda what, fn: retrying(fn, what, attempts=attempts)


def _result_files(api: Any, model: str, call: HubCall) -> list[str]:
    try:
        tree = call(f"listing {model}/{FOLDER}", lambda: list(api.list_repo_tree(model, path_in_repo=FOLDER)))
    except HubNotFound:  # no such folder (a missing repo is noticed on the card download)
        return []
    return sorted(f.path for f in tree if f.path.endswith((".yaml", ".yml")) and hasattr(f, "size"))


def read_model(api: Any, model: str, tmp: Path, out: EvalResultsRead, call: HubCall,
               known_dataset: Callable[[str], bool]) -> None:
    """Add one model's results to ``out``; a model gone from the Hub, or one it will not let us read
    (gated, disabled), is counted, not fatal."""
    try:
        _read_model(api, model, tmp, out, call, known_dataset)
    except HubForbidden:
        out.refused_models += 1


def _read_model(api: Any, model: str, tmp: Path, out: EvalResultsRead, call: HubCall,
                known_dataset: Callable[[str], bool]) -> None:
    def download(path: str) -> Path:
        return Path(call(f"downloading {model}/{path}",
                         lambda: api.hf_hub_download(model, path, local_dir=tmp / model.replace("/", "__"))))
    try:
        readme = download("README.md")
    except HubNotFound:
        readme = None
    files = _result_files(api, model, call)
    if readme is None and not files:
        out.missing_models += 1
        return
    found_files: list[tuple[str, bytes]] = []  # every download first: a refusal midway counts nothing
    for path in files:
        try:
            found_files.append((path, download(path).read_bytes()))
        except HubNotFound:  # deleted between the listing and the download
            continue
    found: list[MeasuredScore] = []
    if readme is not None:
        out.digest.update(model.encode() + b"\0README\0" + readme.read_bytes())
        found += scores_from_model_index(model, parse_model_index(_card_header(readme, out.skipped), out.skipped),
                                         out.skipped)
    for path, raw in found_files:
        out.digest.update(f"{model}\0{path}\0".encode() + raw)
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            out.skipped["malformed file"] += 1
            continue
        found += scores_from_entries(model, parse_eval_results_file(data, out.skipped), out.skipped, known_dataset)
    out.scores += found


def dataset_checker(api: Any, call: HubCall) -> Callable[[str], bool]:
    """Whether the Hub knows a benchmark dataset, asked once per dataset per read."""
    seen: dict[str, bool] = {}

    def known(dataset: str) -> bool:
        if dataset not in seen:
            try:
                call(f"dataset {dataset}", lambda: api.dataset_info(dataset))
                seen[dataset] = True
            except HubNotFound:
                seen[dataset] = False
        return seen[dataset]
    return known


def read_models(api: Any, models: Sequence[str], *, progress: bool = False, attempts: int = 3,
                call: HubCall | None = None, check_datasets: bool = True) -> EvalResultsRead:
    """The evaluation results of ``models``, each request made through ``call`` (default: retrying
    ``attempts`` times); ``check_datasets=False`` skips asking about datasets (the bot only keeps
    benchmarks its predictor knows, so an unknown dataset never reaches it)."""
    out = EvalResultsRead()
    call = call or retrying_call(attempts)
    known = dataset_checker(api, call) if check_datasets else (lambda _: True)
    with tempfile.TemporaryDirectory(prefix="lrmf-eval-results-") as tmpdir:
        for model in tqdm(models, desc="evaluation results", unit="model", disable=not progress):
            read_model(api, model, Path(tmpdir), out, call, known)
    return out


def eval_results_source(found: EvalResultsRead, key: str, location: str) -> SourceData:
    """The scores read, as one reference source; what was skipped or dropped goes into its notes."""
    import pandas as pd

    scores, dropped = latest_per_benchmark(found.scores)
    notes = [n for n in (skip_note(found.skipped),) if n]
    if dropped:
        notes.append(f"{dropped} older results of a model and benchmark already read were dropped (kept the newest)")
    if found.missing_models:
        notes.append(f"{found.missing_models} models have no card and no {FOLDER} on the Hub")
    if found.refused_models:
        notes.append(f"{found.refused_models} models could not be read (gated or disabled on the Hub)")
    mapped = set(SAME_MEASUREMENT.values())  # the leaderboard's v2 columns
    own = sorted({s.benchmark for s in scores} - mapped)
    counts = Counter(s.benchmark for s in scores if s.benchmark in set(own))
    for b, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_BENCHMARK_NOTES]:
        sources = sorted({s.source for s in scores if s.benchmark == b})
        dates = sorted(s.date for s in scores if s.benchmark == b and s.date)
        notes.append(f"{b}: {n} score{'s' if n != 1 else ''} from {', '.join(sources[:3])}"
                     + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
                     + (f", dated {dates[0][:10]} to {dates[-1][:10]}" if dates else ""))
    if len(counts) > MAX_BENCHMARK_NOTES:
        notes.append(f"... and {len(counts) - MAX_BENCHMARK_NOTES} more benchmarks with fewer scores")
    frame = pd.DataFrame([(s.model, s.benchmark, s.score) for s in scores], columns=["model", "benchmark", "score"])
    return SourceData(key=key, kind="hub-eval-results", location=location, scores=frame,
                      benchmarks={b: BenchmarkInfo(name=b, suite="v2" if b in mapped else SUITE, has_scores=True)
                                  for b in {s.benchmark for s in scores}},
                      notes=notes, checksum=found.digest.hexdigest())


def read_ids(path: Path) -> list[str]:
    """Model ids, one a line (``#`` starts a comment); a bad line is an error naming it."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the model list ({type(exc).__name__})") from None
    ids = []
    for i, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text and not REPO_ID_RE.match(text):
            raise InputError(f"{path}: line {i}: {text!r} is not a Hub model id")
        if text:
            ids.append(text)
    if not ids:
        raise InputError(f"{path}: no model ids")
    return list(dict.fromkeys(ids))


def read(path: Path, endpoint: str | None = None, **options: Any) -> SourceData:
    """``reference import --kind hub-eval-results IDS``: the evaluation results of the models listed in IDS."""
    reject_options("hub-eval-results", options)
    models = read_ids(path)
    api = connect(endpoint)
    found = read_models(api, models, progress=False, attempts=3)
    return eval_results_source(found, source_key("hub-eval-results", path),
                               f"{api.endpoint} evaluation results of {len(models)} models listed in {path}")

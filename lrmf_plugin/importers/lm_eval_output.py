"""Read lm-eval ``--log_samples`` output directories into per-instance observations.

The same files come from a user's own ``lm_eval ... --log_samples --output_path D`` runs
(``D/<model>/results_<date>.json`` + ``samples_<task>_<date>.jsonl``), from ``lm-eval-predict run``,
and from the Hub's per-model ``details`` datasets, so one reader serves the reference importer, the
``estimate`` command and the Hub bot. It depends only on the file formats, not on lm-eval's code.

Items are ``(task, doc_id)``: the benchmark is the leaf task name, the item id ``str(doc_id)``, the
value the per-instance metric the leaderboard uses (see :func:`lrmf_plugin.leaderboard.instance_metrics`;
a list-valued metric becomes the fraction of true entries), on the first filter the task logged.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import InputError
from . import reject_options, source_key
from ..leaderboard import benchmark_name, instance_metrics
from ..sources import ItemObservations, SourceData
from ..schema import BenchmarkInfo, check_unit_value

_SAMPLES_RE = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl?$")
_RESULTS_RE = re.compile(r"^(?P<stem>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.json$")
#: model_args keys naming the evaluated model, in lm-eval's own order (EvaluationTracker)
_MODEL_KEYS = ("peft", "delta", "pretrained", "model", "path", "engine")


@dataclass
class TaskObservations:
    """What one model's run(s) logged for one leaf task."""

    task: str
    values: dict[str, dict[int, float]] = field(default_factory=dict)  #: benchmark -> doc_id -> value
    metrics: dict[str, str] = field(default_factory=dict)              #: benchmark -> lm-eval metric
    n_full: int | None = None          #: ``n-samples.original``: documents in the whole task
    version: Any = None                #: the task's ``versions`` entry
    task_hash: str | None = None

    @property
    def n_evaluated(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)

    @property
    def complete(self) -> bool:
        """The runs covered every document of the task."""
        return self.n_full is not None and self.n_evaluated >= self.n_full > 0


@dataclass
class RunObservations:
    """Everything read for one model from one or more lm-eval runs (later runs win per document)."""

    model: str
    tasks: dict[str, TaskObservations] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  #: lm-eval ``group_subtasks``
    lm_eval_version: str | None = None
    results_files: list[Path] = field(default_factory=list)

    def items(self) -> dict[str, dict[str, float]]:
        """benchmark -> {item id -> value}, the shape of :attr:`lrmf_plugin.schema.ModelQuery.items`."""
        out: dict[str, dict[str, float]] = {}
        for obs in self.tasks.values():
            for bench, docs in obs.values.items():
                out[bench] = {str(d): v for d, v in sorted(docs.items())}
        return out

    def benchmarks(self) -> dict[str, str]:
        """benchmark -> the leaf task it was read from."""
        return {b: t.task for t in self.tasks.values() for b in t.values}

    def add(self, task: str, observed: tuple[dict[str, str], dict[str, dict[int, float]]],
            results: dict[str, Any], where: str) -> None:
        """Merge one run's observations of leaf ``task`` (from :func:`observations_from_records`) and
        what that run's results dict says about the task."""
        metrics, values = observed
        self.lm_eval_version = results.get("lm_eval_version") or self.lm_eval_version
        self.groups.update({g: list(s) for g, s in (results.get("group_subtasks") or {}).items() if s})
        obs = self.tasks.setdefault(task, TaskObservations(task=task))
        obs.metrics.update(metrics)
        n_full = ((results.get("n-samples") or {}).get(task) or {}).get("original")
        if isinstance(n_full, int):
            obs.n_full = n_full
        for bench, docs in values.items():
            if obs.n_full is not None and docs and max(docs) >= obs.n_full:
                raise InputError(f"{where}: doc_id {max(docs)} is out of range for task {task!r} "
                                 f"({obs.n_full} items)")
            obs.values.setdefault(bench, {}).update(docs)
        obs.version = (results.get("versions") or {}).get(task, obs.version)
        obs.task_hash = (results.get("task_hashes") or {}).get(task, obs.task_hash)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None


def _is_results(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("results"), dict) and (
        "config" in data or "configs" in data)


def model_from_results(results: dict[str, Any], where: str) -> str:
    """The evaluated model's id from a results file's ``config.model_args`` (lm-eval's key order)."""
    config = results.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, str):
        args = dict(p.split("=", 1) for p in args.split(",") if "=" in p)
    for key in _MODEL_KEYS:
        if isinstance(args, dict) and args.get(key):
            return str(args[key]).strip()
    if results.get("model_name"):
        return str(results["model_name"])
    raise InputError(f"{where}: config.model_args names no model (pretrained=...); pass the model id explicitly")


def _unit(value: Any, where: str) -> float:
    if isinstance(value, list):
        if not value:
            raise InputError(f"{where}: empty list")
        return sum(check_unit_value(v, where) for v in value) / len(value)
    return check_unit_value(value, where)


def _read_samples(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) from a ``.jsonl`` file or a ``.json`` list (both exist on the Hub)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not readable ({exc})") from None
    if path.suffix == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not readable JSON ({exc})") from None
        if not isinstance(records, list):
            raise InputError(f"{path}: expected a list of sample records")
        yield from enumerate(records, start=1)
        return
    for no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{no}: not a JSON record ({exc.msg})") from None


def observations_from_records(records: Iterable[tuple[str, Any]], task: str,
                              where: str) -> tuple[dict[str, str], dict[str, dict[int, float]]]:
    """(benchmark -> metric, benchmark -> doc_id -> value) from ``(location, record)`` pairs of ``task``.

    Works on records as lm-eval returns them in memory and as it writes them to samples files.
    Only the first filter seen is kept (one value per document).
    """
    out: dict[str, dict[int, float]] = {}
    chosen_filter = None
    metrics: list[str] = []
    for at, rec in records:
        if not isinstance(rec, dict) or "doc_id" not in rec:
            raise InputError(f"{at}: not an lm-eval sample record (no doc_id)")
        filt = rec.get("filter", "none")
        if chosen_filter is None:
            chosen_filter = filt
            metrics = instance_metrics(task, [m for m in rec.get("metrics", []) if m in rec])
            if not metrics:
                raise InputError(f"{at}: record has no per-instance metric value")
            out = {benchmark_name(task, m, i == 0): {} for i, m in enumerate(metrics)}
        if filt != chosen_filter:
            continue
        doc = rec["doc_id"]
        if isinstance(doc, bool) or not isinstance(doc, int) or doc < 0:
            raise InputError(f"{at}: doc_id {doc!r} is not a document index")
        for i, metric in enumerate(metrics):
            if metric not in rec:
                raise InputError(f"{at}: metric {metric!r} missing")
            values = out[benchmark_name(task, metric, i == 0)]
            if doc in values:
                raise InputError(f"{at}: doc_id {doc} appears twice")
            values[doc] = _unit(rec[metric], f"{at}: {metric}")
    if chosen_filter is None:
        raise InputError(f"{where}: no sample records")
    return {benchmark_name(task, m, i == 0): m for i, m in enumerate(metrics)}, out


def _scan(path: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[Path]]:
    """Results files (with their content) and samples files under ``path``, in a stable order."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*.json*") if p.is_file())
    results, samples = [], []
    for f in files:
        if _SAMPLES_RE.match(f.name):
            samples.append(f)
        elif f.suffix == ".json" and _RESULTS_RE.match(f.name):
            data = _load_json(f)
            if _is_results(data):
                results.append((f, data))
    return results, samples


def read_runs(path: str | Path, model: str | None = None) -> dict[str, RunObservations]:
    """model id -> observations, from every lm-eval run found under ``path`` (recursively).

    Samples files pair with the results file of the same directory and date stamp, which names the
    model; ``model`` overrides that (a details dataset without results files needs it). Runs are
    merged per model in date order, so a later run's value wins for a document evaluated twice.
    """
    path = Path(path)
    results, samples = _scan(path)
    if not samples:
        raise InputError(f"{path}: no lm-eval samples files (samples_<task>_<date>.jsonl); "
                         "was the run made with --log_samples?")
    by_key = {(f.parent, _RESULTS_RE.match(f.name)["date"]): (f, data) for f, data in results}
    runs: dict[str, RunObservations] = {}

    def sort_key(p: Path) -> tuple[str, str]:
        return _SAMPLES_RE.match(p.name)["date"], str(p)

    for sfile in sorted(samples, key=sort_key):
        m = _SAMPLES_RE.match(sfile.name)
        task, date = m["task"], m["date"]
        rfile, data = by_key.get((sfile.parent, date), (None, {}))
        name = model or (model_from_results(data, str(rfile)) if rfile else None)
        if name is None:
            raise InputError(f"{sfile}: no results_{date}.json beside it names the model; pass the model id")
        run = runs.setdefault(name, RunObservations(model=name))
        if rfile is not None and rfile not in run.results_files:
            run.results_files.append(rfile)
        run.add(task, observations_from_records(((f"{sfile}:{no}", rec) for no, rec in _read_samples(sfile)),
                                                task, str(sfile)), data, str(sfile))
    return runs


def read_run(path: str | Path, model: str | None = None) -> RunObservations:
    """The observations of the one model evaluated under ``path`` (what ``estimate`` reads)."""
    runs = read_runs(path, model=model)
    if len(runs) > 1:
        raise InputError(f"{path}: holds runs of {len(runs)} models ({', '.join(sorted(runs))}); "
                         "pass one model's directory")
    return next(iter(runs.values()))


def _suites(runs: dict[str, RunObservations]) -> dict[str, str]:
    """Leaf task -> the lm-eval group listing it directly (``group_subtasks`` lists direct children)."""
    return {child: group for run in runs.values() for group, children in run.groups.items()
            for child in children if child not in run.groups}


def read(path: Path, model: str | None = None, **options: Any) -> SourceData:
    """Import kind ``lm-eval-output``: every model's runs under ``path`` as item observations.

    One block per benchmark (leaf task, plus ``task:metric`` for a second per-instance metric);
    ``complete`` when the union of documents over the models is the whole task.
    """
    reject_options("lm-eval-output", options)
    path = Path(path)
    runs = read_runs(path, model=model)
    suites = _suites(runs)
    blocks: dict[str, dict[str, dict[int, float]]] = {}
    full: dict[str, int | None] = {}
    task_of: dict[str, str] = {}
    for name, run in sorted(runs.items()):
        for obs in run.tasks.values():
            for bench, docs in obs.values.items():
                blocks.setdefault(bench, {})[name] = docs
                task_of[bench] = obs.task
                if obs.n_full is not None:
                    full[bench] = obs.n_full
    items, infos = [], {}
    for bench in sorted(blocks):
        by_model = blocks[bench]
        models = sorted(by_model)
        docs = sorted(set().union(*by_model.values()))
        col = {d: j for j, d in enumerate(docs)}
        values = np.full((len(models), len(docs)), np.nan, dtype=np.float32)
        for i, m in enumerate(models):
            for d, v in by_model[m].items():
                values[i, col[d]] = v
        complete = full.get(bench) is not None and len(docs) == full[bench]
        items.append(ItemObservations(benchmark=bench, models=models, items=[str(d) for d in docs],
                                      values=values, complete=complete))
        infos[bench] = BenchmarkInfo(name=bench, suite=suites.get(task_of[bench], "lm-eval"),
                                     n_items=len(docs), items_complete=complete)
    return SourceData(key=source_key("lm-eval-output", path), kind="lm-eval-output", location=str(path),
                      items=items, benchmarks=infos,
                      notes=[f"{len(runs)} model(s): {', '.join(sorted(runs))}"])

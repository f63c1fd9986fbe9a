"""The Hub as a reference source: the Open LLM Leaderboard ``contents``, ``details`` and card lineage.

What the maintainer runs to build a reference from raw sources (``lm-eval-predict reference pull``);
users download a fitted one instead (:mod:`lrmf_plugin.distribution`). Requests go through the
client in :mod:`lrmf_plugin.hub`.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..errors import HubError, HubNotFound, InputError
from ..hub import REPO_ID_RE, connect, lineage_from_model_info, retrying
from ..leaderboard import BENCHMARKS
from ..metadata import METADATA_FIELDS, normalise_metadata
from ..reference import Reference
from ..sources import ImportReport, SourceData
from ..schema import BenchmarkInfo, Edge
from .hub_eval_results import eval_results_source, read_models

CONTENTS_REPO = "open-llm-leaderboard/contents"
#: the leaderboard's per-model details datasets (lm-eval ``--log_samples`` output)
DETAILS_REPO = "open-llm-leaderboard/{org}__{name}-details"
#: contents-dataset score column -> reference benchmark (normalised 0-100 scores, as the v2 CSV)
CONTENTS_BENCHMARKS = {"IFEval": "ifeval", "BBH": "bbh", "MATH Lvl 5": "math", "GPQA": "gpqa",
                       "MUSR": "musr", "MMLU-PRO": "mmlu_pro"}

def contents_source(df: pd.DataFrame, location: str) -> SourceData:
    """The Open LLM Leaderboard ``contents`` table as a reference source (suite ``v2``).

    Same benchmarks, scale and rules as the v2 CSV importer (normalised 0-100 scores; a model
    evaluated twice keeps its latest submission; the ``Base Model`` root ancestor becomes a
    ``family`` edge unless it is the model itself, ``Removed`` or ``X (Merge)``).
    """
    missing = [c for c in ("fullname", *CONTENTS_BENCHMARKS) if c not in df.columns]
    if missing:
        raise HubError(f"{location}: contents table lacks columns {', '.join(missing)}")
    df = df.reset_index(drop=True)
    df["fullname"] = df["fullname"].map(lambda v: v.strip() if isinstance(v, str) else "")
    if (df["fullname"] == "").any():
        raise HubError(f"{location}: row {int((df['fullname'] == '').idxmax()) + 1}, column 'fullname': empty model id")
    if "Submission Date" in df.columns:
        df = df.sort_values("Submission Date", kind="stable", na_position="first")
    n = len(df)
    df = df.drop_duplicates("fullname", keep="last").sort_index()
    notes = [f"{n - len(df)} repeated rows dropped (kept the latest evaluation of each model)"] if len(df) < n else []
    if "Type" in df.columns:
        # "💬 chat models (RLHF, DPO, IFT, ...)" -> "chatmodels", as the v2 CSV spells types
        df["Type"] = df["Type"].map(lambda v: re.sub(r"\s+|\(.*\)", "", re.sub(r"^[^\w]+", "", v))
                                    if isinstance(v, str) else v)
    scores, meta, edges = [], [], []
    for i, row in zip(df.index, df.to_dict("records")):
        model, where = row["fullname"], f"{location}: row {i + 1}"
        for column, bench in CONTENTS_BENCHMARKS.items():
            value = pd.to_numeric(pd.Series([row.get(column)]), errors="coerce").iloc[0]
            if pd.isna(value):
                continue
            if not 0.0 <= value <= 100.0:
                raise HubError(f"{where}, column {column!r}: score {row.get(column)!r} is outside [0, 100]")
            scores.append((model, bench, float(value)))
        try:
            meta.append({"model": model, **normalise_metadata(row, where=where)})
        except InputError as exc:
            raise HubError(str(exc)) from None
        root = row.get("Base Model")
        if isinstance(root, str) and REPO_ID_RE.match(root.strip()):
            root = root.strip()
            if root != model and root != "Removed" and not root.endswith("(Merge)"):
                edges.append(Edge(root, model, "family"))
    return SourceData(key=f"hub:{location}", kind="hub-contents", location=location,
                      scores=pd.DataFrame(scores, columns=["model", "benchmark", "score"]),
                      metadata=pd.DataFrame.from_records(meta, columns=["model", *METADATA_FIELDS]).dropna(axis=1, how="all"),
                      edges=edges, benchmarks={b: BenchmarkInfo(name=b, suite="v2", has_scores=True) for b in BENCHMARKS},
                      notes=notes)


def details_repo(model: str) -> str:
    """The leaderboard's details dataset of ``model`` (``org/name`` -> ``open-llm-leaderboard/org__name-details``)."""
    if "/" not in model or not REPO_ID_RE.match(model):
        raise InputError(f"{model!r} is not a Hub model id (org/name)")
    org, name = model.split("/", 1)
    return DETAILS_REPO.format(org=org, name=name)


def _download(api: Any, repo: str, wanted: Callable[[str], bool], dest: Path, what: str, attempts: int) -> list[Path]:
    # listing calls already back off inside the client; downloads and model_info do not
    files = retrying(lambda: api.list_repo_files(repo, repo_type="dataset"), f"{what}: listing {repo}", attempts=1)
    chosen = sorted(f for f in files if wanted(f))
    if not chosen:
        raise HubError(f"{what}: dataset {repo} has no matching files")
    return [Path(retrying(lambda f=f: api.hf_hub_download(repo, f, repo_type="dataset", local_dir=dest),
                           f"{what}: downloading {repo}/{f}", attempts=attempts)) for f in chosen]


def _details_source(api: Any, model: str, endpoint: str, tmp: Path, attempts: int) -> SourceData:
    from . import get_importer

    repo = details_repo(model)
    dest = tmp / "details" / repo.replace("/", "__")
    _download(api, repo, lambda f: bool(re.search(r"(^|/)(samples_.+\.jsonl|results_.+\.json)$", f)), dest,
              f"details of {model}", attempts)
    src = get_importer("lm-eval-output")(dest, model=model)
    src.key, src.kind, src.location = f"hub:{endpoint}/datasets/{repo}", "hub-details", f"{endpoint}/datasets/{repo}"
    return src


def _card_lineage(api: Any, models: Sequence[str], endpoint: str, progress: bool, attempts: int) -> SourceData:
    edges: list[Edge] = []
    notes: list[str] = []
    missing = 0
    for model in tqdm(models, desc="model cards", unit="model", disable=not progress):
        try:
            info = retrying(lambda m=model: api.model_info(m, expand=["tags", "cardData"]), f"model card of {model}",
                             attempts=attempts)
        except HubNotFound:
            missing += 1
            continue
        edges.extend(Edge(parent, model, relation) for parent, relation in lineage_from_model_info(info))
    if missing:
        notes.append(f"{missing} models are no longer on the Hub (no lineage read)")
    return SourceData(key=f"hub:{endpoint}/model-cards", kind="hub-lineage", location=f"{endpoint} model cards",
                      edges=edges, notes=notes)


def pull_reference(ref: Reference, *, endpoint: str | None = None, contents_repo: str = CONTENTS_REPO,
                   details_for: Sequence[str] = (), lineage: bool = True, eval_results: bool = False,
                   token: str | bool | None = None, progress: bool = True, retries: int = 4) -> list[ImportReport]:
    """Fill ``ref`` from the Hub: the leaderboard ``contents``, chosen ``details``, card lineage, and
    (``eval_results``) the pulled models' ``.eval_results`` files and card ``model-index``.

    Everything is downloaded and parsed first (into a temporary directory that is removed
    afterwards); only then is each part stored as its own source, so a Hub failure leaves the
    reference untouched and a re-pull replaces the previous pull instead of duplicating it. Rate
    limits are waited out and server errors retried ``retries`` times (a pull is a one-off job).
    """
    api = connect(endpoint, token)
    url = api.endpoint
    sources: list[SourceData] = []
    with tempfile.TemporaryDirectory(prefix="lrmf-pull-") as tmpdir:
        tmp = Path(tmpdir)
        location = f"{url}/datasets/{contents_repo}"
        attempts = retries + 1
        files = _download(api, contents_repo, lambda f: f.endswith(".parquet"), tmp / "contents", "contents",
                          attempts)
        try:
            df = pd.concat([pd.read_parquet(f) for f in tqdm(files, desc="contents", disable=not progress)],
                           ignore_index=True)
        except (OSError, ValueError) as exc:
            raise HubError(f"{location}: not a readable parquet table ({type(exc).__name__})") from None
        sources.append(contents_source(df, location))
        for model in details_for:
            sources.append(_details_source(api, model, url, tmp, attempts))
        models = list(dict.fromkeys([*sources[0].scores["model"], *sources[0].metadata["model"], *details_for]))
        if lineage:
            sources.append(_card_lineage(api, models, url, progress, attempts))
        if eval_results:
            found = read_models(api, models, progress=progress, attempts=attempts)
            sources.append(eval_results_source(found, f"hub:{url}/eval-results",
                                               f"{url} evaluation results of the pulled models"))
    return [ref.write_source(src) for src in sources]

"""Reading the models to predict (``MODELS.csv``) and what has been observed of them (``OBS.jsonl``).

``MODELS.csv`` has a ``model`` column; every other column is metadata, read under the same names
the leaderboard importers use (see :mod:`lrmf_plugin.metadata`), plus optional lineage: ``parents``
(``;``-separated ids), ``relation`` (default ``finetune``; ``merge`` when several parents are given)
and the v2 leaderboard's root-ancestor column ``metadata_base_model`` (a ``family`` link).
``OBS.jsonl`` lines are ``{"model", "benchmark", "item", "value"}`` (an item result in [0, 1]) or
``{"model", "benchmark", "score"}`` (a known benchmark score on the reference's scale).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError, UnknownBenchmarkError, UnknownItemError, UnknownModelError
from .metadata import normalise_metadata
from .reference import Reference
from .importers.csv_table import read_table
from .resolution import ModelRequest
from .schema import ModelQuery, check_score, check_unit_value, normalise_relation

_LINEAGE_COLUMNS = {"model", "parents", "relation", "metadata_base_model"}


def read_models_csv(path: str | Path) -> list[ModelRequest]:
    """One :class:`ModelRequest` per row, read by the importers' CSV reader, so the same rules hold
    (see ``docs/guide/inputs.md``). Parents are not checked here: an unknown parent is a warning of
    the resolution (:mod:`lrmf_plugin.resolution`), not an error of the file."""
    path = Path(path)
    table = read_table(path, required=("model",))
    requests: list[ModelRequest] = []
    seen: set[str] = set()
    for line, row in zip(table.index, table.to_dict("records")):
        where = f"{path}:{line}"
        model = (row.get("model") or "").strip()
        if not model:
            raise InputError(f"{where}: empty 'model'")
        if model in seen:
            raise InputError(f"{where}: model {model!r} is listed twice")
        seen.add(model)
        meta = normalise_metadata({k: v for k, v in row.items() if k not in _LINEAGE_COLUMNS}, where)
        requests.append(ModelRequest(model, meta, _row_parents(row, model, where), where))
    return requests


def _row_parents(row: dict[str, str], model: str, where: str) -> tuple[tuple[str, str | None], ...]:
    """``parents`` (;-separated) with ``relation`` (inferred when empty), plus the leaderboard's root ancestor."""
    parents = [p.strip() for p in (row.get("parents") or "").split(";") if p.strip()]
    rel_text = (row.get("relation") or "").strip()
    try:
        relation = normalise_relation(rel_text) if rel_text else None
    except InputError as exc:
        raise InputError(f"{where}: column 'relation': {exc}") from None
    links: list[tuple[str, str | None]] = [(p, relation) for p in parents]
    root = (row.get("metadata_base_model") or "").strip()
    if root and root != model and root != "Removed" and not root.endswith("(Merge)") and root not in parents:
        links.append((root, "family"))
    return tuple(links)


def read_observations_jsonl(path: str | Path, queries: list[ModelQuery], reference: Reference) -> None:
    """Attach the observations in ``path`` to ``queries`` (in place), validating every line."""
    path = Path(path)
    by_model = {q.model: q for q in queries}
    benchmarks = reference.benchmarks()
    item_ids: dict[str, set[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{path}:{n}"
        try:
            rec: Any = json.loads(text)
        except ValueError:
            raise InputError(f"{where}: not a JSON object") from None
        if not isinstance(rec, dict):
            raise InputError(f"{where}: not a JSON object")
        for key in ("model", "benchmark"):
            if not isinstance(rec.get(key), str) or not rec[key]:
                raise InputError(f"{where}: missing or empty {key!r}")
        q = by_model.get(rec["model"])
        if q is None:
            raise UnknownModelError(f"{where}: model {rec['model']!r} is not in the models file")
        b = rec["benchmark"]
        if b not in benchmarks:
            raise UnknownBenchmarkError(f"{where}: benchmark {b!r} is not in the reference")
        if "item" in rec:
            if b not in item_ids:
                item_ids[b] = set(reference.item_block(b)[1].items) if benchmarks[b].n_items else set()
            item = str(rec["item"])
            if item not in item_ids[b]:
                raise UnknownItemError(f"{where}: item {item!r} is not an item of benchmark {b!r}")
            if "value" not in rec:
                raise InputError(f"{where}: item line without 'value'")
            q.items.setdefault(b, {})[item] = check_unit_value(rec["value"], where)
        elif "score" in rec:
            q.scores[b] = check_score(rec["score"], where)
        else:
            raise InputError(f"{where}: a line needs 'item' and 'value', or 'score'")

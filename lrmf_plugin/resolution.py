"""From what a person types (a model id, perhaps parents) to a complete :class:`ModelQuery`.

Every face resolves a model the same way, in this order, and records where each fact came from:

1. the reference's stored metadata and lineage for the model;
2. what the user gave (metadata columns, parents and their relation);
3. metadata *inherited through lineage* for whatever is still missing: a fine-tune, adapter or
   quantised copy shares its parent's architecture and size; a merge shares what all its parents
   share; fields that change along an edge take the value the reference's children of such a parent
   most often have, and a chat template that is a toss-up stays open (the query carries both values
   with their odds, and the prediction mixes them); the Hub node list's architecture family stands in
   where nothing else says it;
4. a Hub lookup (``model_info``), only when a lookup function is given (offline: never).

Which fields a relation passes on, and what type a derivative gets, are read off the reference's
own scored edges (see :class:`Inheritance`), so a leaderboard whose flags disagree with intuition
(half of the fine-tunes change the chat-template flag) is not overruled by a hand-written rule.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .lineage import LineageGraph
from .schema import ModelQuery, normalise_relation

#: Fields only the resolver reads (the Hub node list's); predictors never see them.
HUB_FIELDS = ("hub_type", "hub_architecture")
#: Fields a derivative can inherit. Likes describe one upload, not a lineage; the upload date is the
#: parent's plus the reference's typical lag along that relation.
INHERITABLE = ("params_b", "architecture", "model_type", "precision", "chat_template", "moe", "license",
               "weight_type", "generation", "merged", "official", "upload_date")
#: A field is inherited along a relation when child and parent agree on it at least this often in
#: the reference.
AGREEMENT = 0.6
#: Fields a derivative takes from a table of what children of a parent with that value have: a
#: fine-tune's chat template, type or precision changes often, but predictably (fine-tunes of base
#: models mostly gain a chat template), and the most common child value beats copying the parent's.
CONDITIONAL = ("model_type", "chat_template", "precision", "merged", "official", "weight_type", "license")
#: The table keeps a child value when it is the majority among at least this many reference edges.
MAJORITY, MIN_EDGES = 0.5, 10
#: Fields whose inherited value is too uncertain to pick one (IFEval turns on the chat template): the
#: query carries every value with its share among the reference's children, and the prediction mixes them.
MIXED = ("chat_template",)
#: A mixed field's value is picked outright when one value has at least this share.
CERTAIN = 0.9
#: Words in a model's name that shift a mixed field's odds (74% of the leaderboard's models named
#: ``instruct``, ``chat``, ``-it``, ``sft``, ``dpo`` ... have a chat template, 46% of the others).
NAME_HINTS = {"chat_template": re.compile(r"instruct|chat|-it\b|\bit\b|sft|dpo|orpo|rlhf|assistant")}
#: A mixed field's odds are also moved by the owner's other models in the reference (an organisation
#: fine-tunes with one recipe): their counts are added to the lineage's odds, which weigh as this many
#: models. Fields of this kind only.
OWNER_FIELDS, OWNER_PRIOR = ("chat_template",), 2.0
#: The Hub node list's type -> the relation its edge to a parent has.
HUB_TYPE_RELATION = {"finetuned": "finetune", "quantized": "quantized", "merged": "merge", "adapter": "adapter"}
#: How far up the lineage the resolver looks for metadata of data-less ancestors.
MAX_DEPTH = 4

Lookup = Callable[[str], tuple[dict[str, Any], list[tuple[str, str]]]]


@dataclass(frozen=True)
class ModelRequest:
    """What a user asks about: ``parents`` as (id, relation or None to infer), ``where`` for warnings."""

    model: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    parents: Sequence[tuple[str, str | None]] = ()
    where: str = ""


@dataclass
class ResolvedModel:
    """A request made complete: the query to predict, and where each of its facts came from."""

    query: ModelQuery
    in_reference: bool
    measured: dict[str, float]
    sources: dict[str, str]
    parents: list[tuple[str, str]]
    warnings: list[str]

    def describe(self) -> list[str]:
        """One line per input, for tables and notes."""
        lines = [f"{k} = {self.query.metadata[k]!r} ({src})" if k in self.query.metadata else f"{k}: {src}"
                 for k, src in sorted(self.sources.items())]
        relations: dict[str, list[str]] = {}
        for p, rel in self.parents:
            relations.setdefault(p, []).append(rel)
        lines += [f"parent {p} ({', '.join(rels)})" for p, rels in relations.items()]
        return lines


def _combinations(options: dict[str, dict[Any, float]]) -> list[tuple[float, dict[str, Any]]]:
    """Every combination of the uncertain fields' values, with its probability."""
    out: list[tuple[float, dict[str, Any]]] = [(1.0, {})] if options else []
    for f, shares in options.items():
        out = [(w * s, {**fields, f: v}) for w, fields in out for v, s in shares.items()]
    return out


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


class Inheritance:
    """What a derivative shares with its parent, learned from the reference's edges with both ends described."""

    def __init__(self, metadata: pd.DataFrame, graph: LineageGraph, rows: dict[str, dict[str, Any]] | None = None):
        same: dict[tuple[str, str], list[bool]] = defaultdict(list)
        children: dict[tuple[Any, ...], Counter] = defaultdict(Counter)
        lags: dict[str, list[int]] = defaultdict(list)
        rows = described(metadata) if rows is None else rows
        for e in graph.edges:
            child, parent = rows.get(e.child), rows.get(e.parent)
            if child is None or parent is None:
                continue
            lag = _days_between(parent.get("upload_date"), child.get("upload_date"))
            if lag is not None:
                lags[e.relation].append(lag)
            for f in INHERITABLE:
                a, b = child.get(f), parent.get(f)
                if f != "upload_date" and _present(a) and _present(b):
                    same[(e.relation, f)].append(_close(a, b))
                    if f in CONDITIONAL:
                        children[(e.relation, f, b)][a] += 1
                    if f in NAME_HINTS:
                        children[(e.relation, f, b, name_hint(f, e.child))][a] += 1
        self.shared = {k: sum(v) / len(v) >= AGREEMENT for k, v in same.items() if len(v) >= 5}
        self.child_value = {k: c.most_common(1)[0][0] for k, c in children.items()
                            if sum(c.values()) >= MIN_EDGES and c.most_common(1)[0][1] > MAJORITY * sum(c.values())}
        self.child_share = {k: {v: n / sum(c.values()) for v, n in c.items()} for k, c in children.items()
                            if sum(c.values()) >= MIN_EDGES}
        self.arch_of_hub = _hub_architectures(metadata)
        self.owner_counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for model, row in rows.items():
            for f in OWNER_FIELDS:
                if _present(row.get(f)):
                    self.owner_counts[(f, model.split("/")[0])][row[f]] += 1
        overall = {f: Counter(row[f] for row in rows.values() if _present(row.get(f))) for f in OWNER_FIELDS}
        self.overall = {f: {v: n / sum(c.values()) for v, n in c.items()} for f, c in overall.items() if c}
        self.lag_days = {r: int(np.median(v)) for r, v in lags.items() if len(v) >= MIN_EDGES}

    def passes(self, relation: str, field_name: str) -> bool:
        """Whether ``relation`` passes ``field_name`` on (unmeasured relations: identity-like fields only)."""
        default = field_name in ("params_b", "architecture", "moe") or relation == "quantized"
        return self.shared.get((relation, field_name), default)

    def shares(self, relation: str, field_name: str, parent_value: Any, child: str) -> dict[Any, float] | None:
        """How the reference's children of such a parent (and, where enough, of such a name) split on
        ``field_name`` (None: too few edges)."""
        hinted = self.child_share.get((relation, field_name, parent_value, name_hint(field_name, child)))
        return hinted or self.child_share.get((relation, field_name, parent_value))

    def value(self, relation: str, field_name: str, parent_value: Any) -> Any:
        """The child's value of ``field_name`` given the parent's, or None when the reference cannot say."""
        if field_name == "generation":
            return float(parent_value) + (0.0 if relation == "quantized" else 1.0)
        if field_name == "upload_date":
            lag = self.lag_days.get(relation)
            return None if lag is None else (date.fromisoformat(str(parent_value)[:10]) + timedelta(days=lag)).isoformat()
        if field_name in CONDITIONAL and (relation, field_name, parent_value) in self.child_value:
            return self.child_value[(relation, field_name, parent_value)]
        return parent_value if self.passes(relation, field_name) else None

    def with_owner(self, field_name: str, model: str, shares: dict[Any, float]) -> dict[Any, float]:
        """``shares`` (the lineage's odds, or the whole reference's when empty) updated by the counts of
        the owner's other described models, each counting as one observation."""
        counts = self.owner_counts.get((field_name, model.split("/")[0]), Counter())
        n = sum(counts.values())
        if not n:
            return shares
        prior = shares or self.overall.get(field_name, {})
        values = sorted(set(prior) | set(counts), key=str)
        return {v: (counts[v] + OWNER_PRIOR * prior.get(v, 0.0)) / (n + OWNER_PRIOR) for v in values}


def name_hint(field_name: str, model: str) -> bool | None:
    """Whether ``model``'s name carries the words that shift ``field_name``'s odds (None: no such words)."""
    pattern = NAME_HINTS.get(field_name)
    return bool(pattern.search(model.split("/")[-1].lower())) if pattern else None


def _days_between(earlier: Any, later: Any) -> int | None:
    try:
        return (date.fromisoformat(str(later)[:10]) - date.fromisoformat(str(earlier)[:10])).days
    except ValueError:
        return None


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 0.05 * max(abs(float(a)), abs(float(b)), 1e-9)
    return a == b


def described(metadata: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Model -> its present metadata fields (a reference's frame is mostly empty: 29k Hub nodes, few fields)."""
    rows: dict[str, dict[str, Any]] = {}
    for column in metadata.columns:
        for model, value in metadata[column].dropna().items():
            rows.setdefault(model, {})[column] = value
    return rows


def _hub_architectures(metadata: pd.DataFrame) -> dict[str, str]:
    """The Hub config's family (``qwen2``) -> the leaderboard's class (``Qwen2ForCausalLM``), by majority."""
    if "hub_architecture" not in metadata.columns or "architecture" not in metadata.columns:
        return {}
    both = metadata[["hub_architecture", "architecture"]].dropna()
    return {h: g.value_counts().index[0] for h, g in both.groupby("hub_architecture")["architecture"]}


class ModelResolver:
    """Resolves :class:`ModelRequest` s against one reference's metadata, scores and lineage."""

    def __init__(self, metadata: pd.DataFrame, scores: pd.DataFrame, graph: LineageGraph,
                 lookup: Lookup | None = None):
        self.metadata = metadata
        self.scores = scores
        self.graph = graph
        self.lookup = lookup
        self._rows = described(metadata)
        self.inheritance = Inheritance(metadata, graph, self._rows)
        self._vocab = {f: set(metadata[f].dropna().astype(str)) for f in ("model_type", "precision", "architecture")
                       if f in metadata.columns}
        self._warned: set[tuple[str, str]] = set()

    def known(self, model: str) -> bool:
        return model in self._rows or model in self.graph or model in self.scores.index

    def resolve(self, request: ModelRequest) -> ResolvedModel:
        model, warnings = request.model, []
        meta, sources = self._stored(model)
        for k, v in request.metadata.items():
            if k in HUB_FIELDS or not _present(v):
                continue
            meta[k], sources[k] = v, "given"
            self._check_vocabulary(k, v, request.where, warnings)
        parents = self._parents(request, warnings)
        if self.lookup is not None and (not parents or not self._complete(meta)):
            self._look_up(model, meta, sources, parents, warnings)
        options: dict[str, dict[Any, float]] = {}
        self._inherit(model, meta, sources, parents, depth=0, options=options)
        graph_parents = {e.parent for e in self.graph.parents(model)}
        query = ModelQuery(model=model, metadata={k: v for k, v in meta.items() if k not in HUB_FIELDS},
                           parents=[(p, r) for p, r in parents if p not in graph_parents],
                           metadata_options=_combinations(options))
        return ResolvedModel(query=query, in_reference=self.known(model), measured=self.measured(model),
                             sources={k: s for k, s in sources.items() if k not in HUB_FIELDS},
                             parents=parents, warnings=warnings)

    def measured(self, model: str) -> dict[str, float]:
        if model not in self.scores.index:
            return {}
        return {b: float(v) for b, v in self.scores.loc[model].items() if _present(v)}

    # -- steps ---------------------------------------------------------------------------------
    def _stored(self, model: str) -> tuple[dict[str, Any], dict[str, str]]:
        meta = dict(self._rows.get(model, {}))
        return meta, {k: "reference" for k in meta}

    def _parents(self, request: ModelRequest, warnings: list[str]) -> list[tuple[str, str]]:
        """The graph's parents plus the user's; unknown ids and self-references are warned about and left out."""
        out = [(e.parent, e.relation) for e in self.graph.parents(request.model)]
        given = [(p.strip(), r) for p, r in request.parents if p.strip()]
        inferred = self._relation_of(request.model, len(given))
        at = f"{request.where}: " if request.where else ""
        for parent, relation in given:
            if parent == request.model:
                warnings.append(f"{at}{request.model!r} names itself as a parent; ignored")
            elif not self.known(parent):
                warnings.append(f"{at}parent {parent!r} of {request.model!r} is not in the reference; "
                                "predicted without it")
            elif all(p != parent for p, _ in out):
                out.append((parent, normalise_relation(relation) if relation else inferred))
        return out

    def _relation_of(self, model: str, n_parents: int) -> str:
        hub_type = self._rows.get(model, {}).get("hub_type")
        if hub_type in HUB_TYPE_RELATION:
            return HUB_TYPE_RELATION[hub_type]
        return "merge" if n_parents > 1 else "finetune"

    def _inherit(self, model: str, meta: dict[str, Any], sources: dict[str, str],
                 parents: Sequence[tuple[str, str]], depth: int,
                 options: dict[str, dict[Any, float]] | None = None) -> None:
        """Fill missing inheritable fields from the parents (recursively for data-less parents)."""
        described = []
        for parent, relation in parents:
            pmeta, _ = self._stored(parent)
            if depth < MAX_DEPTH and not self._complete(pmeta):
                grand = [(e.parent, e.relation) for e in self.graph.parents(parent)]
                self._inherit(parent, pmeta, {}, grand, depth + 1)
            described.append((parent, relation, pmeta))
        for f in INHERITABLE:
            if f in meta:
                continue
            if f in MIXED and options is not None and self._mixed(f, model, described, meta, sources, options):
                continue
            value, via = self._inherited_value(f, described)
            if value is not None:
                meta[f], sources[f] = value, f"inherited from {via}"
        if "architecture" not in meta and meta.get("hub_architecture") in self.inheritance.arch_of_hub:
            meta["architecture"] = self.inheritance.arch_of_hub[meta["hub_architecture"]]
            sources["architecture"] = "the Hub's model list"

    def _mixed(self, f: str, model: str, described: list[tuple[str, str, dict[str, Any]]], meta: dict[str, Any],
               sources: dict[str, str], options: dict[str, dict[Any, float]]) -> bool:
        """Settle a mixed field from the odds of the parents' children (and the owner's models): one value
        when it is nearly sure, else every value with its odds. False when nothing gives odds."""
        shares, via = self._inherited_shares(f, model, described)
        via = f"children of {via}" if via else ""
        if f in OWNER_FIELDS and model.count("/") == 1:
            owned = self.inheritance.with_owner(f, model, shares)
            if owned is not shares:  # the same object back: the owner has no described models
                shares, via = owned, "; ".join(filter(None, [via, f"models of {model.split('/')[0]}"]))
        if not shares:
            return False
        best = max(shares, key=shares.get)
        if shares[best] >= CERTAIN:
            meta[f], sources[f] = best, f"inferred from {via}"
        else:
            options[f] = shares
            sources[f] = "mixed: " + ", ".join(f"{v} {w:.0%}" for v, w in shares.items()) + f" ({via})"
        return True

    def _inherited_shares(self, f: str, model: str, described: list[tuple[str, str, dict[str, Any]]]
                          ) -> tuple[dict[Any, float], str]:
        """The children's split on ``f`` averaged over the parents that have a table entry."""
        tables, names = [], []
        for parent, relation, pmeta in described:
            shares = self.inheritance.shares(relation, f, pmeta[f], model) if f in pmeta and relation != "family" \
                else None
            if shares:
                tables.append(shares)
                names.append(f"{parent} ({relation})")
        if not tables:
            return {}, ""
        values = sorted({v for t in tables for v in t}, key=str)
        return {v: sum(t.get(v, 0.0) for t in tables) / len(tables) for v in values}, ", ".join(names)

    def _inherited_value(self, f: str, described: list[tuple[str, str, dict[str, Any]]]) -> tuple[Any, str]:
        values, names = [], []
        for parent, relation, pmeta in described:
            if relation == "family" or f not in pmeta:
                continue
            value = self.inheritance.value(relation, f, pmeta[f])
            if value is not None:
                values.append(value)
                names.append(f"{parent} ({relation})")
        if not values or not all(_close(v, values[0]) for v in values):
            return None, ""  # a merge passes on only what its parents share
        if f == "params_b":
            return sum(float(v) for v in values) / len(values), ", ".join(names)
        return values[0], ", ".join(names)

    def _complete(self, meta: Mapping[str, Any]) -> bool:
        return all(f in meta for f in ("params_b", "architecture", "model_type"))

    def _look_up(self, model: str, meta: dict[str, Any], sources: dict[str, str],
                 parents: list[tuple[str, str]], warnings: list[str]) -> None:
        hub_meta, hub_parents = self.lookup(model)  # type: ignore[misc]
        for k, v in hub_meta.items():
            if k not in meta and _present(v):
                meta[k], sources[k] = v, "the Hub"
        for parent, relation in hub_parents:
            if all(p != parent for p, _ in parents) and parent != model:
                if self.known(parent):
                    parents.append((parent, relation))
                else:
                    warnings.append(f"the Hub names parent {parent!r} of {model!r}, which is not in the reference")

    def _check_vocabulary(self, f: str, value: Any, where: str, warnings: list[str]) -> None:
        vocab = self._vocab.get(f)
        if not vocab or str(value) in vocab or (f, str(value)) in self._warned:
            return
        self._warned.add((f, str(value)))
        at = f"{where}: " if where else ""
        warnings.append(f"{at}{f} {value!r} never occurs in the reference (known: {', '.join(sorted(vocab)[:8])}); "
                        "it counts as an unknown value")

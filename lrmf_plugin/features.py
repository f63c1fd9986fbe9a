"""Metadata -> numeric features, shared by the LRMF metadata prior and the metadata-regression baseline.

A new model is usually known only by its id and a few card facts, so the featuriser squeezes what it
can from both: log size, architecture, type, precision, chat template, MoE, merge flag, upload and
submission dates, Hub likes, licence, generation, official provider, weight type, the namespace (an
author's models resemble each other) and the tokens of the model name (``Qwen2.5``, ``72B``,
``Instruct``, ``abliterated`` ... carry much of what lineage would tell). Categories and tokens seen
fewer than ``min_count`` times are dropped, so a rare value maps to "other" rather than to an
over-fitted coefficient.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

_CATEGORICAL = ("architecture", "model_type", "precision", "org", "license", "weight_type")
_BOOLEAN = ("chat_template", "moe", "merged", "official")
_TOKEN_RE = re.compile(r"[a-z]+[0-9.]*[a-z]*|[0-9.]+[a-z]*")
_SIZE_RE = re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s*([bm])(?![a-z])")


def name_tokens(model: str) -> set[str]:
    """Lower-case word tokens of a model id's name part (``org/Llama-3.1-8B-Instruct`` -> llama, 3.1, 8b, instruct)."""
    name = model.split("/", 1)[-1].lower().replace("_", "-")
    return {t.strip(".") for t in _TOKEN_RE.findall(name) if len(t.strip(".")) > 1}


def size_from_name(model: str) -> float | None:
    """Billions of parameters written in a model name (``-7B``, ``1.5b``, ``350M``), if any."""
    m = _SIZE_RE.findall(model.split("/", 1)[-1].lower())
    if not m:
        return None
    value, unit = m[-1]
    return float(value) * (1.0 if unit == "b" else 1e-3)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float:
    if _missing(value) or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fields(metadata: pd.DataFrame | Iterable[dict[str, Any]], models: list[str]) -> dict[str, np.ndarray]:
    """Field -> object array aligned with ``models`` (a frame: by index; rows: by position), plus the
    namespace ``org`` of ``org/name`` (authors' models share a style and quality). Plain arrays, not
    pandas: featurising one model is on the path of every lone prediction."""
    if isinstance(metadata, pd.DataFrame):
        aligned = metadata.reindex(models)
        fields = {str(c): aligned[c].to_numpy(dtype=object) for c in aligned.columns}
    else:
        rows = list(metadata)
        rows += [{}] * (len(models) - len(rows))
        names = dict.fromkeys(k for r in rows for k in r)
        fields = {str(k): np.array([r.get(k) for r in rows[:len(models)]], dtype=object) for k in names}
    fields["org"] = np.array([m.split("/", 1)[0] if "/" in m else None for m in models], dtype=object)
    return fields


def _years(value: Any) -> float:
    try:
        d = date.fromisoformat(str(value)[:10])
    except ValueError:
        return math.nan
    return d.year + (d.timetuple().tm_yday - 1) / 365.25 - 2024.0


class MetadataFeaturizer:
    """Fit on the reference's metadata, then turn any metadata rows into a standardised feature matrix.

    Parameters
    ----------
    min_count: a category or name token must occur this often in the fitted data to get a feature.
    max_tokens: keep at most this many most frequent name tokens.
    use_names: include name-token features.
    """

    def __init__(self, min_count: int = 8, max_tokens: int = 400, use_names: bool = True):
        self.min_count = min_count
        self.max_tokens = max_tokens
        self.use_names = use_names

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, metadata: pd.DataFrame, models: Sequence[str] | None = None) -> "MetadataFeaturizer":
        """Learn vocabularies and scaling from ``metadata`` (index = model id)."""
        models = list(metadata.index if models is None else models)
        fields = _fields(metadata, models)
        self.categories_ = {}
        for col in _CATEGORICAL:
            counts = Counter(str(v) for v in fields.get(col, ()) if not _missing(v))
            self.categories_[col] = sorted(c for c, k in counts.items() if k >= self.min_count)
        self.tokens_ = []
        if self.use_names:
            counts = Counter(t for m in models for t in name_tokens(m))
            common = [t for t, c in counts.most_common() if c >= self.min_count]
            self.tokens_ = sorted(common[: self.max_tokens])
        raw = self._raw(fields, models)
        observed = ~np.isnan(raw)
        self.mean_ = np.where(observed, raw, 0.0).sum(axis=0) / np.maximum(observed.sum(axis=0), 1)
        filled = np.where(np.isnan(raw), self.mean_, raw)
        std = filled.std(axis=0)
        self.scale_ = np.where(std > 1e-9, std, 1.0)
        self.names_ = self._feature_names()
        return self

    def transform(self, metadata: pd.DataFrame | Iterable[dict[str, Any]], models: Sequence[str] | None = None) -> np.ndarray:
        """Standardised features, one row per model (missing values become the fitted mean)."""
        if isinstance(metadata, pd.DataFrame):
            models = list(metadata.index if models is None else models)
        else:  # rows aligned with ``models`` by position (one model id may come twice)
            metadata = list(metadata)
            models = list(models) if models is not None else [str(i) for i in range(len(metadata))]
        raw = self._raw(_fields(metadata, models), models)
        filled = np.where(np.isnan(raw), self.mean_, raw)
        return (filled - self.mean_) / self.scale_

    # -- internals -----------------------------------------------------------------------------
    def _feature_names(self) -> list[str]:
        names = ["log_params", "log_params_sq", "params_missing", "upload_years", "upload_missing",
                 "submission_years", "submission_missing", "log_likes", "likes_missing", "generation",
                 "generation_missing", "no_metadata"]
        names += list(_BOOLEAN) + [f"{b}_missing" for b in _BOOLEAN]
        for col in _CATEGORICAL:
            names += [f"{col}={c}" for c in self.categories_[col]] + [f"{col}=other", f"{col}=missing"]
        names += [f"name:{t}" for t in self.tokens_]
        return names

    def _raw(self, fields: dict[str, np.ndarray], models: Sequence[str]) -> np.ndarray:
        n = len(models)
        cols: list[np.ndarray] = []
        nothing = np.full(n, None, dtype=object)

        def column(name: str) -> np.ndarray:
            return fields.get(name, nothing)

        def numbers(name: str) -> np.ndarray:
            return np.array([_number(v) for v in column(name)], dtype=float)

        params = numbers("params_b")
        from_name = np.array([size_from_name(m) or np.nan for m in models], dtype=float)
        params = np.where(np.isnan(params) | (params <= 0), from_name, params)
        logp = np.log(np.clip(params, 0.01, None))
        cols += [logp, logp ** 2, np.isnan(params).astype(float)]
        for field in ("upload_date", "submission_date"):
            years = np.array([_years(v) for v in column(field)], dtype=float)
            cols += [years, np.isnan(years).astype(float)]
        likes, generation = np.log1p(numbers("likes")), numbers("generation")
        cols += [likes, np.isnan(likes).astype(float), generation, np.isnan(generation).astype(float)]
        present = np.zeros(n, dtype=bool)
        for name, values in fields.items():
            if name != "org" and not name.startswith("hub_"):  # the Hub node list's fields only serve the resolver
                present |= np.array([not _missing(v) for v in values], dtype=bool)
        cols.append((~present).astype(float))
        bools = [np.array([math.nan if _missing(x) else float(bool(x)) for x in column(b)], dtype=float) for b in _BOOLEAN]
        cols += [np.nan_to_num(v, nan=0.0) for v in bools] + [np.isnan(v).astype(float) for v in bools]
        for col in _CATEGORICAL:
            known = {c: j for j, c in enumerate(self.categories_[col])}
            block = np.zeros((n, len(known) + 2))
            for i, v in enumerate(column(col)):
                if _missing(v):
                    block[i, -1] = 1.0
                else:
                    block[i, known.get(str(v), len(known))] = 1.0
            cols += list(block.T)
        if self.tokens_:
            idx = {t: j for j, t in enumerate(self.tokens_)}
            block = np.zeros((n, len(idx)))
            for i, m in enumerate(models):
                for t in name_tokens(m):
                    j = idx.get(t)
                    if j is not None:
                        block[i, j] = 1.0
            cols += list(block.T)
        return np.column_stack(cols) if cols else np.zeros((n, 0))

    # -- persistence (plain JSON-able state, no pickle) -----------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able fitted state."""
        return {"min_count": self.min_count, "max_tokens": self.max_tokens, "use_names": self.use_names,
                "categories": self.categories_, "tokens": self.tokens_,
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "MetadataFeaturizer":
        self = cls(state["min_count"], state["max_tokens"], state["use_names"])
        self.categories_ = {k: list(v) for k, v in state["categories"].items()}
        self.tokens_ = list(state["tokens"])
        self.mean_ = np.asarray(state["mean"], dtype=float)
        self.scale_ = np.asarray(state["scale"], dtype=float)
        self.names_ = self._feature_names()
        return self

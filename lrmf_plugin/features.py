"""Metadata -> numeric features, shared by the LRMF metadata prior and the metadata-regression baseline.

A new model is usually known only by its id and a few card facts, so the featuriser squeezes what it
can from both: log size, architecture, type, precision, chat template, MoE, merge flag, upload and
submission dates, Hub likes, licence, generation, official provider, weight type, the namespace (an
author's models resemble each other) and the tokens of the model name (``Qwen2.5``, ``72B``,
``Instruct``, ``abliterated`` ... carry much of what lineage would tell). Categories and tokens seen fewer than ``min_count`` times are dropped, so a
rare value maps to "other" rather than to an over-fitted coefficient.
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


def _with_org(meta: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Add the namespace (``org`` of ``org/name``): authors' models share a style and quality."""
    meta = meta.copy()
    meta["org"] = [m.split("/", 1)[0] if "/" in m else None for m in models]
    return meta


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
        meta = _with_org(metadata.reindex(models), models)
        self.categories_ = {}
        for col in _CATEGORICAL:
            values = meta[col].dropna().astype(str) if col in meta else pd.Series(dtype=str)
            counts = values.value_counts()
            self.categories_[col] = sorted(counts[counts >= self.min_count].index)
        self.tokens_ = []
        if self.use_names:
            counts = Counter(t for m in models for t in name_tokens(m))
            common = [t for t, c in counts.most_common() if c >= self.min_count]
            self.tokens_ = sorted(common[: self.max_tokens])
        raw = self._raw(meta, models)
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
            aligned = metadata.reindex(models)
        else:  # rows aligned with ``models`` by position (one model id may come twice)
            aligned = pd.DataFrame(list(metadata))
            models = list(models) if models is not None else [str(i) for i in range(len(aligned))]
            aligned = aligned.reindex(range(len(models)))
        raw = self._raw(_with_org(aligned, models), models)
        filled = np.where(np.isnan(raw), self.mean_, raw)
        return (filled - self.mean_) / self.scale_

    def fit_transform(self, metadata: pd.DataFrame, models: Sequence[str] | None = None) -> np.ndarray:
        return self.fit(metadata, models).transform(metadata, models)

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

    def _raw(self, meta: pd.DataFrame, models: Sequence[str]) -> np.ndarray:
        n = len(models)
        cols: list[np.ndarray] = []

        def column(name: str) -> pd.Series:
            return meta[name] if name in meta.columns else pd.Series([None] * n, index=meta.index)

        params = pd.to_numeric(column("params_b"), errors="coerce").to_numpy(dtype=float)
        from_name = np.array([size_from_name(m) or np.nan for m in models], dtype=float)
        params = np.where(np.isnan(params) | (params <= 0), from_name, params)
        logp = np.log(np.clip(params, 0.01, None))
        cols += [logp, logp ** 2, np.isnan(params).astype(float)]
        for field in ("upload_date", "submission_date"):
            years = np.array([_years(v) for v in column(field).to_numpy()], dtype=float)
            cols += [years, np.isnan(years).astype(float)]
        likes = np.log1p(pd.to_numeric(column("likes"), errors="coerce").to_numpy(dtype=float))
        generation = pd.to_numeric(column("generation"), errors="coerce").to_numpy(dtype=float)
        cols += [likes, np.isnan(likes).astype(float), generation, np.isnan(generation).astype(float)]
        facts = meta.drop(columns=["org"], errors="ignore")
        present = facts.notna().any(axis=1).to_numpy() if len(facts.columns) else np.zeros(n, bool)
        cols.append((~present).astype(float))
        bools = []
        for b in _BOOLEAN:
            v = pd.to_numeric(column(b).map(lambda x: None if x is None or (isinstance(x, float) and math.isnan(x)) else float(bool(x))),
                              errors="coerce").to_numpy(dtype=float)
            bools.append(v)
        cols += [np.nan_to_num(v, nan=0.0) for v in bools] + [np.isnan(v).astype(float) for v in bools]
        for col in _CATEGORICAL:
            values = column(col).to_numpy()
            known = {c: j for j, c in enumerate(self.categories_[col])}
            block = np.zeros((n, len(known) + 2))
            for i, v in enumerate(values):
                if v is None or (isinstance(v, float) and math.isnan(v)):
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

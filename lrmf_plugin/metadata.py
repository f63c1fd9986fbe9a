"""Model metadata: one canonical set of fields, read from the many column names sources use.

The leaderboard CSVs, the Hub ``contents`` dataset and a user's ``MODELS.csv`` all name the same facts
differently; :func:`normalise_metadata` is the one place that maps them, so importers and the
``predict``/``plan`` commands agree.
"""
from __future__ import annotations

import math
import re
from typing import Any

from .errors import InputError

#: Canonical metadata fields and their types, as stored in the reference.
METADATA_FIELDS: dict[str, type] = {
    "params_b": float,        # parameters, billions
    "architecture": str,      # e.g. LlamaForCausalLM
    "model_type": str,        # pretrained | finetuned | chat | merge | ... (lower case)
    "precision": str,         # bfloat16 | float16 | 4bit ...
    "chat_template": bool,
    "moe": bool,
    "merged": bool,
    "upload_date": str,       # ISO date
    "submission_date": str,   # ISO date
    "likes": float,           # Hub hearts
    "license": str,           # Hub licence id (lower case)
    "generation": float,      # depth below the root ancestor (0: a base model)
    "official": bool,         # published by the model family's official provider
    "weight_type": str,       # original | adapter | delta
    "hub_type": str,          # the Hub's node type: base | finetuned | quantized | merged | adapter
    "hub_architecture": str,  # the Hub config's architecture family: llama | qwen2 ...
}

#: Source column name -> canonical field (v2 CSV, v1 CSV, Hub contents dataset, MODELS.csv).
COLUMN_ALIASES: dict[str, str] = {
    **{k: k for k in METADATA_FIELDS},
    # leaderboard v2 flat CSV
    "model_architecture": "architecture", "metadata_params_billions": "params_b",
    "model_type": "model_type", "model_precision": "precision",
    "model_has_chat_template": "chat_template", "features_is_moe": "moe",
    "features_is_merged": "merged", "metadata_upload_date": "upload_date",
    "metadata_submission_date": "submission_date", "metadata_hub_hearts": "likes",
    "metadata_hub_license": "license", "metadata_generation": "generation",
    "features_is_official_provider": "official", "model_weight_type": "weight_type",
    # leaderboard v1 CSV
    "arch": "architecture", "size": "params_b", "precision": "precision", "moe": "moe",
    "merged": "merged",
    # Hub contents dataset (open-llm-leaderboard/contents)
    "Architecture": "architecture", "#Params (B)": "params_b", "Type": "model_type",
    "Precision": "precision", "Chat Template": "chat_template", "MoE": "moe",
    "Merged": "merged", "Upload To Hub Date": "upload_date", "Submission Date": "submission_date",
    "Hub ❤️": "likes", "Hub License": "license", "Generation": "generation",
    "Official Providers": "official", "Weight type": "weight_type",
}

#: Short or spelled-out model types -> the leaderboard's own (its types with the spaces squeezed out, as
#: its CSV writes them), so ``fine-tuned`` from a user means what the reference calls a fine-tune.
MODEL_TYPE_ALIASES: dict[str, str] = {
    **dict.fromkeys(("fine-tuned", "finetuned", "fine-tune", "finetune", "ft", "sft"),
                    "fine-tunedondomain-specificdatasets"),
    **dict.fromkeys(("chat", "chatmodel", "instruct", "instruction-tuned", "rlhf", "dpo"), "chatmodels"),
    **dict.fromkeys(("merge", "merged", "merges", "moerge", "basemerges"), "basemergesandmoerges"),
    **dict.fromkeys(("base", "pre-trained", "pretrain"), "pretrained"),
    **dict.fromkeys(("continuedpretraining", "continuedpretrain", "continuouslypre-trained"),
                    "continuouslypretrained"),
}

#: Common spellings of an evaluation precision -> the leaderboard's.
PRECISION_ALIASES: dict[str, str] = {"bf16": "bfloat16", "fp16": "float16", "f16": "float16", "half": "float16",
                                     "fp32": "float32", "f32": "float32", "int8": "8bit", "8-bit": "8bit",
                                     "int4": "4bit", "4-bit": "4bit"}

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in {"", "nan", "none", "null", "unknown", "?"}


def _parse_params(value: Any) -> float:
    """Billions of parameters from 7.24, "7.24", "7.24B", "350M"."""
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        m = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+)\s*([kKmMbBtT]?)\s*", str(value))
        if not m:
            raise ValueError(value)
        v = float(m.group(1)) * {"": 1.0, "k": 1e-6, "m": 1e-3, "b": 1.0, "t": 1e3}[m.group(2).lower()]
    if math.isnan(v):
        raise ValueError(value)
    return v


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(value)


def _parse_str(value: Any) -> str:
    s = str(value).strip()
    # the v2 leaderboard decorates types with emoji ("🟢 pretrained"): keep the words
    s = re.sub(r"^[^\w]+", "", s)
    return s


_PARSERS = {float: _parse_params, bool: _parse_bool, str: _parse_str}


def normalise_metadata(raw: dict[str, Any], where: str = "metadata") -> dict[str, Any]:
    """Map a row of source columns to canonical fields, dropping missing values and unknown columns.

    Raises :class:`InputError` naming the column when a present value cannot be parsed.
    """
    out: dict[str, Any] = {}
    for column, value in raw.items():
        name = COLUMN_ALIASES.get(str(column))
        if name is None or _is_missing(value):
            continue
        try:
            parsed = _PARSERS[METADATA_FIELDS[name]](value)
        except (ValueError, KeyError):
            raise InputError(f"{where}: column {column!r} has an unreadable value {value!r}") from None
        if name == "params_b" and parsed <= 0:
            continue  # the leaderboard writes -1 / 0 for "unknown"
        if name in ("likes", "generation") and parsed < 0:
            raise InputError(f"{where}: column {column!r} cannot be negative ({value!r})")
        if name in ("model_type", "precision", "license", "weight_type"):
            parsed = parsed.lower()
        if name == "model_type":
            parsed = re.sub(r"\s+", "", parsed)
            parsed = MODEL_TYPE_ALIASES.get(parsed, parsed)
        if name == "precision":
            parsed = PRECISION_ALIASES.get(parsed, parsed)
        if name in ("upload_date", "submission_date"):
            parsed = parsed[:10]
        out[name] = parsed
    return out

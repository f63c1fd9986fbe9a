"""Hub model node lists: ``id,type,owner,architecture``, as the Hub lineage graph exports them.

Such a list says, for models that may have no scores at all, what kind of derivative each is
(``base``, ``finetuned``, ``quantized``, ``merged``, ``adapter``) and its architecture family in the
Hub config's spelling (``llama``, ``qwen2``). Both are stored as their own metadata fields
(``hub_type``, ``hub_architecture``) and never overwrite a leaderboard's fields: the predictor reads
them only to resolve a model that a user names with little else (see :mod:`lrmf_plugin.resolution`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from . import reject_options, source_key
from .csv_table import read_table

_REQUIRED = ("id", "type", "architecture")


def read(path: Path, **options: Any):
    """One metadata row per listed model (a model listed twice is an error)."""
    from ..sources import SourceData

    reject_options("hub-models", options)
    df = read_table(path, required=_REQUIRED)
    empty = df.index[df["id"] == ""]
    if len(empty):
        raise InputError(f"{path}:{empty[0]}: column 'id': empty model id")
    repeated = df.index[df["id"].duplicated()]
    if len(repeated):
        i = repeated[0]
        raise InputError(f"{path}:{i}: model {df.at[i, 'id']!r} is listed twice")
    meta = pd.DataFrame({"model": df["id"], "hub_type": df["type"].str.lower(),
                         "hub_architecture": df["architecture"].str.lower()})
    meta = meta.replace("", None)
    return SourceData(key=source_key("hub-models", path), kind="hub-models", location=str(Path(path).resolve()),
                      metadata=meta, nodes=list(df["id"]))

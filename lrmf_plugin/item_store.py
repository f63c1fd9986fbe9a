"""Compact on-disk encoding of item observation blocks (one ``.npz`` artifact per source).

A leaderboard-scale block is 5k models x 22k items; as float32 that is 440 MB, so blocks are stored
as what they are: 0/1 blocks bit-packed (a bit-packed "observed" mask only when something is
missing), fractional blocks as uint8 steps of 1/254 with 255 = missing. Files go through
:mod:`lrmf_plugin.artifact`, so they are checksummed, versioned and never unpickled.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .artifact import load_artifact, save_artifact
from .dataset import ItemBlock

KIND = "lrmf-items"
VERSION = 1
_MISSING_U8 = 255
_STEPS = 254


def encode_block(values: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays that store ``values`` (float, NaN = missing) compactly; see :func:`decode_block`."""
    values = np.asarray(values, dtype=np.float32)
    observed = ~np.isnan(values)
    binary = bool(np.all((values[observed] == 0.0) | (values[observed] == 1.0)))
    shape = np.asarray(values.shape, dtype=np.int64)
    if binary:
        arrays = {"shape": shape, "bits": np.packbits(values == 1.0, axis=None)}
        if not observed.all():
            arrays["mask"] = np.packbits(observed, axis=None)
        return arrays
    q = np.full(values.shape, _MISSING_U8, dtype=np.uint8)
    q[observed] = np.rint(values[observed] * _STEPS).astype(np.uint8)
    return {"shape": shape, "u8": q}


def decode_block(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The float32 block (NaN = missing) stored by :func:`encode_block`."""
    shape = tuple(int(s) for s in arrays["shape"])
    n = int(np.prod(shape, dtype=object))
    # a file with matching checksums can still be crafted: sizes must agree before anything is unpacked
    if len(shape) != 2 or min(shape) < 0:
        raise ValueError(f"block shape {shape} is not (models, items)")
    stored = {key: arr.size for key, arr in arrays.items() if key != "shape"}
    expected = {"u8": n} if "u8" in arrays else {"bits": -(-n // 8), **({"mask": -(-n // 8)} if "mask" in arrays else {})}
    if stored != expected:
        raise ValueError(f"block arrays of sizes {stored} do not fit shape {shape}")
    if "u8" in arrays:
        q = arrays["u8"].reshape(shape)
        out = q.astype(np.float32) / np.float32(_STEPS)
        out[q == _MISSING_U8] = np.nan
        return out
    out = np.unpackbits(arrays["bits"], count=n).astype(np.float32)
    if "mask" in arrays:
        # indices of the (few) missing cells are much cheaper than a 100M-cell boolean mask
        out[np.flatnonzero(np.unpackbits(arrays["mask"], count=n) == 0)] = np.nan
    return out.reshape(shape)


def _pack_ids(ids: Sequence[str]) -> np.ndarray:
    """Ids as one UTF-8 byte array joined by newlines: a fixed-width unicode array would spend
    4 bytes x the longest id on every model and dwarf the bit-packed values."""
    return np.frombuffer("\n".join(ids).encode("utf-8"), dtype=np.uint8)


def _unpack_ids(arr: np.ndarray, n: int) -> list[str]:
    return arr.tobytes().decode("utf-8").split("\n") if n else []


def save_blocks(stem: Path, blocks: Sequence[tuple[str, list[str], list[str], np.ndarray]]) -> Path:
    """Write ``(benchmark, models, items, values)`` blocks to ``stem.npz`` + ``stem.json``.

    Ids must not contain newlines (the reference validates this before writing).
    """
    arrays: dict[str, np.ndarray] = {}
    names = []
    for k, (benchmark, models, items, values) in enumerate(blocks):
        names.append(benchmark)
        arrays[f"b{k}_models"] = _pack_ids(models)
        arrays[f"b{k}_items"] = _pack_ids(items)
        for key, arr in encode_block(values).items():
            arrays[f"b{k}_{key}"] = arr
    return save_artifact(stem, arrays, {"benchmarks": names}, kind=KIND, version=VERSION)


def load_blocks(stem: Path) -> dict[str, tuple[list[str], list[str], np.ndarray]]:
    """Benchmark -> ``(models, items, values)`` as saved by :func:`save_blocks`."""
    arrays, header = load_artifact(stem, kind=KIND, version=VERSION)
    out = {}
    for k, benchmark in enumerate(header["benchmarks"]):
        prefix = f"b{k}_"
        block = {key[len(prefix):]: arr for key, arr in arrays.items() if key.startswith(prefix)}
        values = decode_block({key: arr for key, arr in block.items() if key not in ("models", "items")})
        models, items = _unpack_ids(block["models"], values.shape[0]), _unpack_ids(block["items"], values.shape[1])
        if (len(models), len(items)) != values.shape:
            raise ValueError(f"{len(models)} model and {len(items)} item ids for a block of shape {values.shape}")
        out[benchmark] = (models, items, values)
    return out


def block_files(stem: Path) -> list[Path]:
    """The files :func:`save_blocks` writes for ``stem`` (to delete them)."""
    return [stem.with_suffix(".npz"), stem.with_suffix(".json")]


def merge_blocks(blocks: list[tuple[list[str], list[str], np.ndarray]]) -> tuple[list[str], ItemBlock]:
    """Union of models (sorted) and items (first-seen order); later blocks overwrite observed cells."""
    if len(blocks) == 1:
        models, items, values = blocks[0]
        order = np.argsort(np.asarray(models, dtype=object), kind="stable")
        return [models[i] for i in order], ItemBlock(list(items), values[order])
    models = sorted({m for b in blocks for m in b[0]})
    items: list[str] = list(dict.fromkeys(it for b in blocks for it in b[1]))
    mi = {m: i for i, m in enumerate(models)}
    ii = {it: j for j, it in enumerate(items)}
    out = np.full((len(models), len(items)), np.nan, dtype=np.float32)
    for b_models, b_items, values in blocks:
        rows = np.array([mi[m] for m in b_models])
        cols = np.array([ii[it] for it in b_items])
        sub = out[np.ix_(rows, cols)]
        observed = ~np.isnan(values)
        sub[observed] = values[observed]
        out[np.ix_(rows, cols)] = sub
    return models, ItemBlock(items, out)

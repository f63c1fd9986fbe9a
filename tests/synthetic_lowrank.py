"""A small synthetic reference with a known low-rank structure, lineage families and metadata.

Each family has a data-less root; its members are fine-tunes, quantised copies and merges whose
latent vectors stay close to their parents'. Size (metadata ``params_b``) drives the first latent
dimension, so metadata carries signal too. Benchmark ``b`` has full score
``100 * mean_i sigmoid(slope_i * <u, v_b> + d_i)`` over a large virtual item pool, and the stored
items are a sampled subset of that pool (0/1), like the real v1 data. Benchmark ``c`` is known only
by its complete items (no score column).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lrmf_plugin.dataset import ItemBlock, ReferenceData
from lrmf_plugin.models.scores import full_scores
from lrmf_plugin.schema import BenchmarkInfo, Edge

SCORE_BENCHMARKS = ("alpha", "beta", "gamma", "delta")
#: a quick LRMF fit (ridge metadata prior, few sweeps) for tests that need a fitted predictor, not its best
FAST = {"metadata_model": "ridge", "n_sweeps": 8, "n_settle": 2}
ITEM_BENCHMARKS = ("alpha", "beta")


def make_reference(n_families: int = 30, family_size: int = 8, n_items: int = 40, n_complete: int = 30,
                   rank: int = 3, seed: int = 0) -> tuple[ReferenceData, dict[str, np.ndarray]]:
    """The data, plus the ground truth (``latent`` per model row) for tests that need it."""
    rng = np.random.default_rng(seed)
    models, edges, latent, params, mtype = [], [], [], [], []
    for f in range(n_families):
        root = f"fam{f}/base"
        size = float(rng.choice([0.5, 1.5, 3.0, 7.0, 14.0, 70.0]))
        u_root = rng.normal(size=rank)
        u_root[0] = np.log(size) / 1.5 + 0.3 * rng.normal()
        members = [(root, u_root)]
        models.append(root)
        latent.append(u_root)
        params.append(size)
        mtype.append("pretrained")
        for j in range(family_size):
            parent, u_parent = members[rng.integers(len(members))]
            relation = ["finetune", "quantized", "finetune", "merge"][j % 4]
            name = f"fam{f}/m{j}-{relation}"
            u = u_parent + rng.normal(scale=0.05 if relation == "quantized" else 0.35, size=rank)
            edges.append(Edge(parent, name, relation))
            if relation == "merge" and len(members) > 1:
                other, u_other = members[(members.index((parent, u_parent)) + 1) % len(members)]
                edges.append(Edge(other, name, "merge"))
                u = (u_parent + u_other) / 2 + rng.normal(scale=0.1, size=rank)
            members.append((name, u))
            models.append(name)
            latent.append(u)
            params.append(size)
            mtype.append("finetuned")
    latent = np.array(latent)
    n = len(models)
    loadings = {b: rng.normal(size=rank) / np.sqrt(rank) + np.r_[0.8, np.zeros(rank - 1)] for b in (*SCORE_BENCHMARKS, "c")}
    scores = {}
    items = {}
    for b in SCORE_BENCHMARKS:
        ability = latent @ loadings[b]
        slope, d = rng.uniform(0.5, 2.0, 400), rng.normal(scale=1.5, size=400)
        p = 1.0 / (1.0 + np.exp(-(ability[:, None] * slope + d)))
        scores[b] = 100.0 * p.mean(axis=1) + rng.normal(scale=0.3, size=n)
        if b in ITEM_BENCHMARKS:
            pick = rng.choice(400, size=n_items, replace=False)
            items[b] = ItemBlock([f"{b}-q{k}" for k in pick], (rng.random((n, n_items)) < p[:, pick]).astype(np.float32))
    ability = latent @ loadings["c"]
    p = 1.0 / (1.0 + np.exp(-(ability[:, None] * rng.uniform(0.5, 2.0, n_complete) + rng.normal(size=n_complete))))
    items["c"] = ItemBlock([f"c-{k}" for k in range(n_complete)], (rng.random((n, n_complete)) < p).astype(np.float32))
    score_frame = pd.DataFrame(scores, index=models)
    # roots are lineage-only ancestors: no scores, no items
    roots = np.array([m.endswith("/base") for m in models])
    score_frame.loc[roots, :] = np.nan
    for block in items.values():
        block.values[roots] = np.nan
    metadata = pd.DataFrame({"params_b": params, "model_type": mtype, "architecture": "LlamaForCausalLM"}, index=models)
    benchmarks = {b: BenchmarkInfo(b, suite="syn", has_scores=True, n_items=len(items[b].items) if b in items else 0)
                  for b in SCORE_BENCHMARKS}
    benchmarks["c"] = BenchmarkInfo("c", suite="syn", has_scores=False, n_items=n_complete, items_complete=True)
    data = ReferenceData(models, score_frame, items, metadata, edges, benchmarks)
    return data, {"latent": latent}


def prediction_errors(predictor, data: ReferenceData, queries) -> tuple[np.ndarray, np.ndarray]:
    """Absolute error and whether the 90% interval holds the full score, per prediction of ``queries``."""
    frame = predictor.predict_frame(queries)
    full = full_scores(data)
    truth = np.array([full.loc[m, b] for m, b in zip(frame.model, frame.benchmark)])
    err = np.abs(frame.predicted.to_numpy() - truth)
    inside = (truth >= frame.lower.to_numpy()) & (truth <= frame.upper.to_numpy())
    return err, inside

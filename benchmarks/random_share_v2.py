"""The random share on real v2 items under shift: planned items with and without uniformly random ones (AIPW).

The v2 per-instance IFEval and MuSR results (``../shared/data/leaderboard_v2/responses``: whole test
sets of 371 models) as item-only benchmarks whose full score is the item mean x100, with the
leaderboard's metadata and the Hub lineage of those models. Holds out the strongest tenth (by mean
item score) and the newest tenth (by submission date), fits on the rest, and predicts each held-out
model from ``--budget`` items per benchmark planned with each ``--shares`` random share (AIPW for
shares above 0), beside plain random sampling of the same budget (the subset mean with its binomial
interval). Prints MAE, mean signed error, 90% coverage and width per share, held-out kind and flag.

Usage: ``python benchmarks/random_share_v2.py [--budget 25] [--shares 0 0.2 0.4] [--out preds.csv]``
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from import_shared import DEFAULT_DATA

from lrmf_plugin.dataset import ItemBlock, ReferenceData
from lrmf_plugin.metadata import normalise_metadata
from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.defaults import Z90
from lrmf_plugin.models.lrmf.shift import shift_holdout
from lrmf_plugin.models.scores import full_scores
from lrmf_plugin.planning import plan_items, random_reserve, reserve_count
from lrmf_plugin.schema import BenchmarkInfo, Edge, normalise_relation

BENCHMARKS = ("ifeval", "musr")


def load(data: Path) -> ReferenceData:
    """The two response files as complete item-only benchmarks, with leaderboard metadata and Hub lineage."""
    frames = {b: pd.read_csv(data / "leaderboard_v2" / "responses" / f"{b}.csv").set_index("model") for b in BENCHMARKS}
    models = sorted(set.intersection(*(set(f.index) for f in frames.values())))
    board = pd.read_csv(data / "leaderboard_v2" / "leaderboard_v2.csv", low_memory=False)
    board = board.sort_values("metadata_submission_date").drop_duplicates("model_name", keep="last")
    rows = {r["model_name"]: normalise_metadata({k: v for k, v in r.items() if k != "model_name" and v == v}, "v2")
            for r in board[board["model_name"].isin(models)].to_dict("records")}
    metadata = pd.DataFrame([rows.get(m, {}) for m in models], index=models)
    edges_csv = pd.read_csv(data / "lineage" / "hub_edges.csv")
    edges = [Edge(p, c, normalise_relation(r))
             for p, c, r in edges_csv[["source", "target", "edge"]].itertuples(index=False)
             if c in set(models) or p in set(models)]
    nodes = sorted(set(models) | {e.parent for e in edges} | {e.child for e in edges})
    items = {}
    for b, f in frames.items():
        values = np.full((len(nodes), f.shape[1]), np.nan, dtype=np.float32)
        index = {m: i for i, m in enumerate(nodes)}
        values[[index[m] for m in models]] = f.loc[models].to_numpy(dtype=np.float32)
        items[b] = ItemBlock([str(c) for c in f.columns], values)
    benchmarks = {b: BenchmarkInfo(b, suite="v2-items", n_items=items[b].values.shape[1], items_complete=True)
                  for b in BENCHMARKS}
    return ReferenceData(nodes, pd.DataFrame(index=nodes), items, metadata.reindex(nodes), edges, benchmarks)


def random_sampling(data: ReferenceData, model: str, b: str, k: int, seed: int) -> tuple[float, float, float]:
    """The plain random-sampling estimate: the mean of ``k`` uniformly random items x100, with a normal
    interval from the binomial standard error (finite-population corrected)."""
    block = data.items[b]
    drawn = random_reserve(b, block.items, k, seed)
    v = block.values[data.index[model], [block.position[i] for i in drawn]].astype(float)
    mean, n, N = v.mean(), len(v), len(block.items)
    se = np.sqrt(max(mean * (1 - mean), 1.0 / n) / n * (1 - n / N))
    return 100 * mean, 100 * max(mean - Z90 * se, 0.0), 100 * min(mean + Z90 * se, 1.0)


def predict_held(fitted: LRMFPredictor, data: ReferenceData, models: list[str], kind: dict[str, str],
                 budget: int, shares: list[float], seed: int) -> pd.DataFrame:
    truth = full_scores(data)
    rows = []
    for m in models:
        for share in shares:
            q = data.query(m)
            plan = plan_items(fitted, q, budget, seed=seed, random_share=share)
            q = data.query(m, items=plan)
            if share:
                q.random_items = {b: random_reserve(b, list(fitted.posterior_.item_col[b]),
                                                    reserve_count(budget, share), seed) for b in plan}
            for p in fitted.predict([q]):
                rows.append({"model": m, "held": kind[m], "method": f"lrmf planned, random share {share:g}",
                             "benchmark": p.benchmark, "predicted": p.predicted, "lower": p.lower, "upper": p.upper,
                             "truth": truth.at[m, p.benchmark], "flagged": bool(p.flags)})
        for b in BENCHMARKS:
            mean, lo, hi = random_sampling(data, m, b, budget, seed)
            rows.append({"model": m, "held": kind[m], "method": "random sampling", "benchmark": b, "predicted": mean,
                         "lower": lo, "upper": hi, "truth": truth.at[m, b], "flagged": False})
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    f = frame.assign(err=(frame.predicted - frame.truth).abs(), bias=frame.predicted - frame.truth,
                     cover=(frame.lower <= frame.truth) & (frame.truth <= frame.upper), width=frame.upper - frame.lower)
    agg = {"n": ("err", "size"), "mae": ("err", "mean"), "bias": ("bias", "mean"), "coverage": ("cover", "mean"),
           "width": ("width", "mean"), "flagged": ("flagged", "mean")}
    return pd.concat([f.groupby(["method", "held"]).agg(**agg),
                      f.groupby("method").agg(**agg).assign(held="all").set_index("held", append=True)]).round(3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--budget", type=int, default=25)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.2, 0.4])
    parser.add_argument("--share", type=float, default=0.2, help="held-out share (half strongest, half newest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-models", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    data = load(args.data)
    strong, newest = shift_holdout(data, args.share)
    held = np.union1d(strong, newest)
    kind = {data.models[i]: "strong+new" if i in strong and i in newest else "strong" if i in strong else "new"
            for i in held}
    keep = data.has_data()
    keep[held] = False
    fitted = LRMFPredictor(seed=args.seed).fit(data.subset(keep))
    models = sorted(kind)[:args.max_models]
    frame = predict_held(fitted, data, models, kind, args.budget, args.shares, args.seed)
    if args.out:
        frame.to_csv(args.out, index=False)
    print(f"{len(models)} held-out models, {int(keep.sum())} in the fit; widening {fitted.support_.widen}")
    print(summarise(frame).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

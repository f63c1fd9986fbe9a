"""Interval coverage of flagged and unflagged predictions under shift, on a real reference.

Holds out the strongest and the newest models (``--share``/2 each of the models with scores, by mean
score percentile and by submission date: the frontier and temporal settings of issue 27), fits the
predictor on the rest (its own shift pass learning the flagged widening from the rest's strongest
and newest), and predicts the held-out models with metadata and lineage only (``zero``) and with the
``--known`` scores revealed (``known``). Writes every prediction, flagged or not, widened or not, to
``--out`` and prints coverage and MAE per setting, held-out kind and flag.

Usage: ``python benchmarks/flag_coverage.py --ref REF --out preds.csv [--known ifeval musr] [--save STEM]``
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.models.lrmf.shift import shift_holdout
from lrmf_plugin.models.scores import full_scores
from lrmf_plugin.reference import Reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--known", nargs="+", default=["ifeval", "musr"])
    parser.add_argument("--save", type=Path, default=None, help="store the fitted predictor at this stem")
    args = parser.parse_args(argv)
    data = Reference(args.ref).load_data()
    strong, newest = shift_holdout(data, args.share)
    held = np.union1d(strong, newest)
    kind = {data.models[i]: ("strong+new" if i in strong and i in newest else "strong" if i in strong else "new")
            for i in held}
    keep = data.has_data()
    keep[held] = False
    fitted = LRMFPredictor(progress=True, reveal_sets=[args.known]).fit(data.subset(keep))
    if args.save:
        fitted.save(args.save, "flag-coverage")
    plain = fitted.with_shift({}, fitted.support_.headroom)
    truth = full_scores(data)
    models = [data.models[i] for i in held]
    rows = []
    for setting, reveal in (("zero", ()), ("known", tuple(args.known))):
        queries = [data.query(m, benchmarks_known=reveal) for m in models]
        for p, q in zip(fitted.predict(queries), plain.predict(queries)):
            y = truth.at[p.model, p.benchmark]
            if p.observed or y != y:
                continue
            rows.append({"setting": setting, "model": p.model, "held": kind[p.model], "benchmark": p.benchmark, "truth": y,
                         "predicted": p.predicted, "lower": p.lower, "upper": p.upper, "lower_plain": q.lower,
                         "upper_plain": q.upper, "flagged": bool(p.flags), "flags": " | ".join(p.flags)})
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out, index=False)
    print(summarise(frame).to_string())
    print("widening per benchmark:", fitted.support_.widen)
    return 0


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """MAE, bias, 90% coverage (widened and plain) and mean width per setting, held-out kind and flag."""
    f = frame.assign(err=(frame.predicted - frame.truth).abs(), bias=frame.predicted - frame.truth,
                     cover=(frame.lower <= frame.truth) & (frame.truth <= frame.upper),
                     cover_plain=(frame.lower_plain <= frame.truth) & (frame.truth <= frame.upper_plain),
                     width=frame.upper - frame.lower, width_plain=frame.upper_plain - frame.lower_plain)
    keys = ["setting", "held", "flagged"]
    out = f.groupby(keys).agg(n=("err", "size"), mae=("err", "mean"), bias=("bias", "mean"), coverage=("cover", "mean"),
                              coverage_plain=("cover_plain", "mean"), width=("width", "mean"),
                              width_plain=("width_plain", "mean"))
    total = f.groupby(["setting", "flagged"]).agg(n=("err", "size"), mae=("err", "mean"), bias=("bias", "mean"),
                                     coverage=("cover", "mean"), coverage_plain=("cover_plain", "mean"),
                                     width=("width", "mean"), width_plain=("width_plain", "mean"))
    total.index = pd.MultiIndex.from_tuples([(s, "all", fl) for s, fl in total.index], names=keys)
    return pd.concat([out, total]).round(3)


if __name__ == "__main__":
    raise SystemExit(main())

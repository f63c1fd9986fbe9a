"""``lm-eval-predict predict``: full scores with 90% intervals, for one model or a CSV of them."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_ref_argument, reference_dir


HELP = "predict every reference benchmark for a model (or the models in a CSV)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help=HELP,
        description="Predicts every benchmark of the reference with a 90% interval. A model the reference has "
                    "measured shows its measured scores (source 'measured'); --as-if-new predicts it as if it "
                    "had never been evaluated. One model: a table on stdout (--json for JSON). A CSV of models: "
                    "PRED.csv with columns model,benchmark,predicted,lower,upper,measured,source (plus extrapolation, "
                    "why, when a model lies outside what the reference has seen; its intervals are then widened).")
    add_ref_argument(p)
    p.add_argument("model", nargs="?", default=None, metavar="ORG/MODEL", help="the model to predict")
    p.add_argument("--parent", action="append", default=[], metavar="ID",
                   help="a parent of the model (repeat for a merge); added to what the reference knows")
    p.add_argument("--relation", default=None, metavar="R",
                   help="finetune, merge, adapter or quantized (default: the Hub model list's type, else "
                        "finetune for one parent and merge for several)")
    p.add_argument("--models", type=Path, default=None, metavar="MODELS.csv",
                   help="a `model` column, metadata columns, optional `parents` (;-separated) and `relation`")
    p.add_argument("--observations", type=Path, default=None, metavar="OBS.jsonl",
                   help="item results {model,benchmark,item,value} and known scores {model,benchmark,score}")
    p.add_argument("--hub-endpoint", default=None, metavar="URL",
                   help="also read a model's card facts and parents from this Hub when the reference lacks them "
                        "(default: $LRMF_HUB_ENDPOINT; never with HF_HUB_OFFLINE=1)")
    p.add_argument("--as-if-new", action="store_true",
                   help="predict models the reference has measured as if they were new (measured shown beside)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the CSV (or JSON) here; '-' is stdout (default for one model: a table on stdout)")
    p.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from ..api import Lrmf
    from ..errors import InputError
    from ..files import check_output, write_output
    from ..hub_lookup import hub_endpoint, hub_lookup
    from ..prediction import report_frame
    from ..queries import read_models_csv, read_observations_jsonl
    from ..resolution import ModelRequest

    if (args.model is None) == (args.models is None):
        raise InputError("name one model (ORG/MODEL) or give --models MODELS.csv")
    if args.model is not None and not args.model.strip():  # as MODELS.csv refuses an empty 'model'
        raise InputError("empty model id: name one model (ORG/MODEL)")
    if args.models is not None and (args.parent or args.relation):
        raise InputError("--parent and --relation go with one ORG/MODEL; MODELS.csv has `parents` and `relation`")
    if args.models is not None and args.out is None and not args.json:
        raise InputError("--models needs --out PRED.csv (or --out - for stdout)")
    if args.out is not None:
        check_output(args.out)  # a refused --out fails before the work, not after it
    endpoint = hub_endpoint(args.hub_endpoint)
    api = Lrmf(reference_dir(args.ref), lookup=hub_lookup(endpoint) if endpoint else None)
    if args.model is not None:
        requests = [ModelRequest(args.model.strip(), {}, tuple((p, args.relation) for p in args.parent))]
    else:
        requests = read_models_csv(args.models)
    resolved = [api.resolver.resolve(r) for r in requests]
    for r in resolved:
        for w in r.warnings:
            print(f"warning: {w}", file=sys.stderr)
    if args.observations is not None:
        read_observations_jsonl(args.observations, [r.query for r in resolved], api.reference)
    reports = api.path.report_resolved(resolved, as_if_new=args.as_if_new)
    if args.json:
        write_output(args.out or "-", json.dumps([_as_json(r, api.path) for r in reports], indent=1) + "\n")
    elif args.out is not None:
        frame = report_frame(reports)
        where = write_output(args.out, frame.to_csv(index=False, float_format="%.4f"))
        print(f"wrote {len(frame)} predictions for {len(reports)} models to {where}", file=sys.stderr)
    else:
        print("\n\n".join(_table(r, api.path) for r in reports))
    return 0


def _as_json(report, path) -> dict:
    r = report.resolved
    return {"model": r.query.model, "in_reference": r.in_reference,
            "inputs": {k: {"value": r.query.metadata.get(k), "source": s} for k, s in sorted(r.sources.items())},
            "parents": [{"model": p, "relation": rel} for p, rel in r.parents],
            "warnings": r.warnings, "benchmarks": report.rows(), "no_interval": path.why_no_interval(report.predictions),
            **({"extrapolation": report.flags} if report.flags else {})}


def _table(report, path) -> str:
    r = report.resolved
    status = "in the reference" if r.in_reference else "not in the reference"
    if r.measured:
        status += ", measured" if report.measured_shown else ", predicted as if new"
    rows = report.rows()
    width = max([12, *(len(row["benchmark"]) for row in rows)])  # eval-results benchmarks have long names
    lines = [f"{r.query.model} ({status})",
             f"{'benchmark':<{width}} {'predicted':>9}  {'90% interval':<15} {'measured':>8}  source"]
    for row in rows:
        measured = "" if row["measured"] is None else f"{row['measured']:.1f}"
        interval = "none (below)" if row["lower"] != row["lower"] else f"{row['lower']:.1f} - {row['upper']:.1f}"
        flagged = " (extrapolated)" if row.get("extrapolation") else ""
        lines.append(f"{row['benchmark']:<{width}} {row['predicted']:>9.1f}  {interval:<15} {measured:>8}  "
                     f"{row['source']}{flagged}")
    lines += [f"{b}: {why}" for b, why in path.why_no_interval(report.predictions).items()]
    if report.flags:
        lines.append("EXTRAPOLATION: the model lies outside the reference's support, so its intervals are widened "
                     "and may still miss more often:" + "".join(f"\n  {f}" for f in report.flags))
    described = r.describe()
    lines.append("inputs:" + ("".join(f"\n  {d}" for d in described) if described else " none (the model id only)"))
    return "\n".join(lines)

"""``lm-eval-predict predict``: predicted full scores with 90% intervals for the models in a CSV."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_ref_argument, reference_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="predict every reference benchmark for the models in a CSV",
                              description="Writes PRED.csv: model,benchmark,predicted,lower,upper (90% interval) "
                                          "for every model x benchmark, on the reference's scale.")
    add_ref_argument(p)
    p.add_argument("--models", type=Path, required=True, metavar="MODELS.csv",
                   help="a `model` column, metadata columns, optional `parents` (;-separated) and `relation`")
    p.add_argument("--observations", type=Path, default=None, metavar="OBS.jsonl",
                   help="item results {model,benchmark,item,value} and known scores {model,benchmark,score}")
    p.add_argument("--out", type=Path, required=True, metavar="PRED.csv")
    p.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from ..api import Lrmf
    from ..files import write_text_atomic
    from ..queries import read_models_csv, read_observations_jsonl

    api = Lrmf(reference_dir(args.ref))
    queries = read_models_csv(args.models, api.reference)
    if args.observations is not None:
        read_observations_jsonl(args.observations, queries, api.reference)
    frame = api.predictor.predict_frame(queries)
    write_text_atomic(args.out, frame.to_csv(index=False, float_format="%.4f"))
    print(f"wrote {len(frame)} predictions for {len(queries)} models to {args.out}", file=sys.stderr)
    return 0
